"""One answerer per process (so one model client, one pool of kept-alive connections to the
provider), even when the first questions arrive at the same moment."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from services.video_rag.bootstrap import Dependencies
from services.video_rag.providers import chat as providers
from services.video_rag.providers.chat import Answerer, OfflineExtractiveAnswerer
from services.video_rag.settings import load_settings

THREADS = 8


def test_threads_asking_at_once_share_one_answerer(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Answerer] = []

    def slow_build(settings: Any, *, timeout_seconds: float) -> Answerer:
        time.sleep(0.05)  # long enough for every thread to arrive while the first one builds
        answerer = OfflineExtractiveAnswerer()
        built.append(answerer)
        return answerer

    monkeypatch.setattr(providers, "build_answerer", slow_build)
    deps = Dependencies(settings=load_settings({}))
    start = threading.Barrier(THREADS)
    got: list[Answerer] = []

    def ask() -> None:
        start.wait()
        got.append(deps.get_answerer())

    threads = [threading.Thread(target=ask) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(built) == 1
    assert len(got) == THREADS
    assert all(answerer is built[0] for answerer in got)
