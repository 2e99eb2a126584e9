"""``python -m local_host``: run the local Functions host."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

from .server import main

LINGERING_THREAD_GRACE_SECONDS = 1.0


def _run() -> None:
    code = main()
    deadline = time.monotonic() + LINGERING_THREAD_GRACE_SECONDS
    for thread in threading.enumerate():
        if thread is threading.current_thread() or thread.daemon:
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
    lingering = [t.name for t in threading.enumerate() if t.is_alive() and not t.daemon]
    lingering = [name for name in lingering if name != threading.current_thread().name]
    if lingering:
        # A function is still running in a worker thread: do not hang on exit.
        logging.getLogger("local_host").warning(
            "Exiting with %d function thread(s) still running.", len(lingering)
        )
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    _run()
