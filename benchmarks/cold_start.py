"""Cold-start benchmark.

1. Median wall time of `python -c "import function_app"` in fresh processes, against the baseline
   of importing the whole dependency stack eagerly in the same run.
2. Time from starting the local host process (against an already-running, migrated database) to
   the first `POST /api/sessions` answered.

    python -m benchmarks.cold_start [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from benchmarks.common import describe, free_port, machine, migrated_database

ROOT = Path(__file__).resolve().parents[1]
EAGER_STACK = (
    "azure.functions",
    "sqlalchemy",
    "sqlalchemy.orm",
    "psycopg",
    "pgvector.sqlalchemy",
    "alembic",
    "pydantic",
    "youtube_transcript_api",
    "langchain_core",
    "langchain_openai",
    "openai",
)


def _time_import(statement: str) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], cwd=ROOT, check=True, env=_env())
    return (time.perf_counter() - began) * 1000


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG_", "SESSION_"))}
    env.update(extra)
    return env


def _first_session_ms(database_url: str) -> float:
    port = free_port()
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "local_host", "--no-migrate", "--port", str(port)],
        cwd=ROOT,
        env=_env(PG_VECTOR_CONNECTION_STRING=database_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                response = httpx.post(f"http://127.0.0.1:{port}/api/sessions", timeout=5)
                if response.status_code == 201:
                    return (time.perf_counter() - began) * 1000
            except httpx.TransportError:
                time.sleep(0.01)
            if process.poll() is not None or time.perf_counter() - began > 60:
                raise RuntimeError("the local host did not answer")
    finally:
        process.terminate()
        process.wait(timeout=30)


def run(runs: int) -> dict[str, float]:
    """Measure; prints the figures and returns the medians in milliseconds."""
    app = [_time_import("import function_app") for _ in range(runs)]
    eager = [_time_import("import " + ", ".join(EAGER_STACK)) for _ in range(runs)]
    with migrated_database() as url:
        first = [_first_session_ms(url) for _ in range(max(1, runs // 2))]
    ratio = statistics.median(app) / statistics.median(eager)
    print(f"cold-start benchmark on {machine()}")
    print(f"  import function_app:                 {describe(app)}")
    print(f"  baseline, whole stack imported:      {describe(eager)}")
    print(f"  ratio (app / baseline):              {ratio:.2f}   (target <= 0.30)")
    print(f"  local host start -> first session:   {describe(first)}   (target <= 1500 ms)")
    return {
        "import_ms": statistics.median(app),
        "baseline_ms": statistics.median(eager),
        "first_session_ms": statistics.median(first),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    run(parser.parse_args().runs)


if __name__ == "__main__":
    main()
