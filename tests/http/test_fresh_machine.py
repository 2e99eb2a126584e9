"""What `make run` does on a fresh clone: no settings at all, an embedded PostgreSQL started by
the host, migrations applied, sessions served; and the cleanup timer running on startup."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, insert, select

from services.video_rag.db.migrations import head_revision
from services.video_rag.db.models import ChatSession
from tests.http.conftest import clean_environment, running_host

pytestmark = [pytest.mark.db]


def test_no_configuration_starts_an_embedded_database(tmp_path: Path, server_tmp: Path) -> None:
    env = clean_environment()
    data_dir = server_tmp / "pgdata"
    with running_host(env, "--data-dir", str(data_dir), log=tmp_path / "host.log") as base:
        created = httpx.post(f"{base}/sessions", timeout=30)
        assert created.status_code == 201
        health = httpx.get(f"{base}/health", timeout=30)
        assert health.status_code == 200, health.text
        assert health.json()["checks"]["migrations"]["current"] == head_revision()
    assert (data_dir / "PG_VERSION").exists()
    log = (tmp_path / "host.log").read_text()
    assert "session_expire_timer" in log


def test_cleanup_runs_on_startup_when_asked(host_database_url: str, tmp_path: Path) -> None:
    database_url = host_database_url
    engine = create_engine(database_url)
    expired = uuid.uuid4()
    past = datetime.now(UTC) - timedelta(hours=2)
    with engine.begin() as connection:
        connection.execute(
            insert(ChatSession).values(
                id=expired,
                token_hash=uuid.uuid4().bytes * 2,
                created_at=past,
                expires_at=past + timedelta(minutes=15),
            )
        )
    env = clean_environment(
        PG_VECTOR_CONNECTION_STRING=database_url, SESSION_CLEANUP_RUN_ON_STARTUP="true"
    )
    with running_host(env, "--no-migrate", log=tmp_path / "host.log"):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                if (
                    connection.scalar(select(ChatSession.id).where(ChatSession.id == expired))
                    is None
                ):
                    break
            time.sleep(0.2)
        else:
            pytest.fail("the expired session survived a cleanup that should run on startup")
    engine.dispose()
    assert "deleted 1 expired sessions" in (tmp_path / "host.log").read_text()
