"""The error contract of API.md, on the registered functions, without a database."""

import json
from collections.abc import Iterator

import pytest

from services.video_rag.bootstrap import Dependencies, set_dependencies
from services.video_rag.db.migrations import head_revision
from services.video_rag.settings import load_settings
from tests.helpers import body_of, invoke


@pytest.fixture
def unreachable_database() -> Iterator[None]:
    """A configured database whose socket does not exist: every connection fails at once."""
    url = "postgresql+psycopg://postgres@/postgres?host=/nonexistent-socket-dir"
    set_dependencies(Dependencies(settings=load_settings({"PG_VECTOR_CONNECTION_STRING": url})))
    yield
    set_dependencies(None)


@pytest.fixture
def no_database() -> Iterator[None]:
    set_dependencies(Dependencies(settings=load_settings({})))
    yield
    set_dependencies(None)


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status
    body = body_of(response)
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["error"]["request_id"] == response.headers["X-Request-Id"]
    return body


@pytest.mark.usefixtures("no_database")
def test_wrong_method_is_a_json_405_with_allow() -> None:
    response = invoke("PUT", "sessions")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "POST"
    response = invoke("POST", "sessions/current")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "DELETE, GET"


@pytest.mark.usefixtures("no_database")
@pytest.mark.parametrize("route", ["sessions/current"])
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_missing_session_header_is_401_before_any_work(route: str, method: str) -> None:
    # No database is configured: a 401 proves the header is checked first.
    response = invoke(method, route)
    assert_error(response, 401, "session_required")


@pytest.mark.usefixtures("no_database")
@pytest.mark.parametrize(
    "bad_id", ["x" * 5000, "' OR '1'='1", "%00%00", "ÿ" * 43, "../../etc/passwd"]
)
def test_malformed_session_ids_are_not_found_without_a_query(bad_id: str) -> None:
    response = invoke("GET", "sessions/current", headers={"X-Session-Id": bad_id})
    assert_error(response, 401, "session_not_found")


@pytest.mark.usefixtures("no_database")
@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid_json"),
    ],
)
def test_bad_json_is_a_400(body: bytes, code: str) -> None:
    assert_error(invoke("POST", "sessions", body=body), 400, code)


@pytest.mark.usefixtures("no_database")
def test_validation_errors_name_each_bad_field() -> None:
    response = invoke("POST", "sessions", json_body={"session_id": 42, "colour": "blue"})
    body = assert_error(response, 400, "validation_error")
    fields = {detail["field"] for detail in body["error"]["details"]}
    assert fields == {"session_id", "colour"}


@pytest.mark.usefixtures("no_database")
def test_bodies_over_the_limit_are_413() -> None:
    big = json.dumps({"session_id": "x" * (3 * 1024 * 1024)}).encode()
    assert_error(invoke("POST", "sessions", body=big), 413, "payload_too_large")


@pytest.mark.usefixtures("no_database")
def test_request_id_is_echoed_or_generated() -> None:
    response = invoke("PUT", "health", headers={"X-Request-Id": "front-end.42"})
    assert response.headers["X-Request-Id"] == "front-end.42"
    generated = invoke("PUT", "health", headers={"X-Request-Id": "bad id\nwith newline"})
    assert generated.headers["X-Request-Id"] not in ("", "bad id\nwith newline")
    assert len(generated.headers["X-Request-Id"]) == 32


@pytest.mark.usefixtures("no_database")
def test_a_missing_database_is_503_naming_the_setting() -> None:
    body = assert_error(invoke("POST", "sessions"), 503, "database_unavailable")
    assert "PG_VECTOR_CONNECTION_STRING" in body["error"]["message"]


@pytest.mark.usefixtures("unreachable_database")
def test_an_unreachable_database_is_503_without_internals() -> None:
    response = invoke("POST", "sessions")
    body = assert_error(response, 503, "database_unavailable")
    text = json.dumps(body)
    assert "nonexistent-socket-dir" not in text
    assert "Traceback" not in text


@pytest.mark.usefixtures("unreachable_database")
def test_health_reports_an_unreachable_database_as_503() -> None:
    response = invoke("GET", "health")
    body = assert_error(response, 503, "database_unavailable")
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == {"ok": False, "message": "unreachable"}
    assert body["checks"]["migrations"]["head"] == head_revision()
    assert body["provider"]["llm"] == "offline"


def test_unexpected_errors_are_500_without_a_stack_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.video_rag.service import sessions as service

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals: password=hunter2")

    set_dependencies(Dependencies(settings=load_settings({})))
    monkeypatch.setattr(service, "get_or_create_session", explode)
    try:
        response = invoke("POST", "sessions")
    finally:
        set_dependencies(None)
    body = assert_error(response, 500, "internal_error")
    assert "hunter2" not in json.dumps(body)
    assert "RuntimeError" not in json.dumps(body)


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        ("AdminShutdown", True),  # 57P01: the server is going down
        ("CannotConnectNow", True),  # 57P03
        ("TooManyConnections", True),  # 53300
        ("DeadlockDetected", False),  # 40P01: a failed transaction, not an outage
        ("DivisionByZero", False),
        ("UniqueViolation", False),
    ],
)
def test_only_connection_level_failures_count_as_an_outage(error: str, outage: bool) -> None:
    import psycopg
    from sqlalchemy.exc import DBAPIError

    from services.video_rag.api.http import _is_database_outage

    orig = getattr(psycopg.errors, error)("boom")
    wrapped = DBAPIError.instance("SELECT 1", {}, orig, psycopg.Error)
    assert _is_database_outage(wrapped) is outage
    bare = psycopg.OperationalError("connection refused")  # no SQLSTATE: the server is unreachable
    assert _is_database_outage(DBAPIError.instance("SELECT 1", {}, bare, psycopg.Error))
