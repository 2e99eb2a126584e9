"""The per-client limits on a real socket: the local host appends the caller's socket address to
X-Forwarded-For as Azure's front ends do, so a caller cannot dodge a limit by sending its own."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.http.conftest import clean_environment, running_host

pytestmark = [pytest.mark.db]


@pytest.fixture(scope="module")
def limited_host(host_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = clean_environment(
        PG_VECTOR_CONNECTION_STRING=host_database_url, CLIENT_SESSION_RATE_LIMIT_PER_MINUTE="2"
    )
    log = tmp_path_factory.mktemp("limited-host") / "host.log"
    with running_host(env, "--no-migrate", log=log) as base:
        yield base


def test_a_forged_forwarded_for_does_not_reset_the_session_limit(limited_host: str) -> None:
    with httpx.Client(base_url=limited_host, timeout=30) as http:
        statuses = [
            http.post("/sessions", headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
            for i in range(3)
        ]
        assert statuses == [201, 201, 429]
        refused = http.post("/sessions")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["Cache-Control"] == "no-store"
