"""Sessions through the registered functions, against the real database."""

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.video_rag.bootstrap import Dependencies
from services.video_rag.db.models import ChatSession
from services.video_rag.domain.sessions import hash_token
from tests.conftest import FakeClock
from tests.factories import add_exchange, add_transcript, link, row_counts, session_uuid
from tests.helpers import body_of, invoke

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("deps")]


def create() -> dict:
    response = invoke("POST", "sessions")
    assert response.status_code == 201
    return body_of(response)


def test_create_returns_a_new_session_with_utc_times(clock: FakeClock) -> None:
    response = invoke("POST", "sessions")
    assert response.status_code == 201
    body = body_of(response)
    assert response.headers["X-Session-Id"] == body["session_id"]
    assert body["created_at"] == "2026-11-21T10:00:00Z"
    assert body["expires_at"] == "2026-11-21T10:15:00Z"
    assert body["videos"] == 0
    assert body["messages"] == 0
    assert len(body["session_id"]) == 43


def test_get_or_create_returns_a_live_session_by_header_or_body() -> None:
    session_id = create()["session_id"]
    by_header = invoke("POST", "sessions", headers={"X-Session-Id": session_id})
    assert by_header.status_code == 200
    assert body_of(by_header)["session_id"] == session_id
    by_body = invoke("POST", "sessions", json_body={"session_id": session_id})
    assert by_body.status_code == 200
    assert body_of(by_body)["session_id"] == session_id


@pytest.mark.parametrize("unknown", ["A" * 43, "not-even-a-token", ""])
def test_get_or_create_with_an_unknown_id_creates_a_new_one(unknown: str) -> None:
    response = invoke("POST", "sessions", json_body={"session_id": unknown})
    assert response.status_code == 201
    assert body_of(response)["session_id"] != unknown


def test_an_idle_session_expires_and_get_or_create_replaces_it(clock: FakeClock) -> None:
    session_id = create()["session_id"]
    clock.advance(minutes=15)  # 15 minutes without a request
    response = invoke("GET", "sessions/current", headers={"X-Session-Id": session_id})
    assert response.status_code == 401
    assert body_of(response)["error"]["code"] == "session_expired"
    replaced = invoke("POST", "sessions", headers={"X-Session-Id": session_id})
    assert replaced.status_code == 201
    assert body_of(replaced)["session_id"] != session_id


def current(session_id: str) -> dict:
    response = invoke("GET", "sessions/current", headers={"X-Session-Id": session_id})
    assert response.status_code == 200, response.get_body()
    return body_of(response)


def test_every_authenticated_request_renews_the_session(clock: FakeClock) -> None:
    session_id = create()["session_id"]
    headers = {"X-Session-Id": session_id}
    for _ in range(6):  # an hour of use, a request every 10 minutes
        clock.advance(minutes=10)
        assert invoke("GET", "videos", headers=headers).status_code == 200
    assert current(session_id)["expires_at"] == "2026-11-21T11:15:00Z"  # 15 min after 11:00
    clock.advance(minutes=14)
    chat = invoke("GET", "chat/messages", headers=headers)
    assert chat.status_code == 200
    clock.advance(minutes=14)
    assert current(session_id)["expires_at"] == "2026-11-21T11:43:00Z"
    # POST /sessions with a live id renews it too.
    clock.advance(minutes=14)
    again = invoke("POST", "sessions", headers=headers)
    assert (again.status_code, body_of(again)["expires_at"]) == (200, "2026-11-21T11:57:00Z")


def test_no_session_outlives_its_maximum_age(deps: Dependencies, clock: FakeClock) -> None:
    from dataclasses import replace

    deps.settings = replace(deps.settings, session_max_hours=1)
    session_id = create()["session_id"]
    for _ in range(5):
        clock.advance(minutes=10)
        current(session_id)
    # At 10:50 the renewal is capped at 11:00, one hour after creation.
    assert current(session_id)["expires_at"] == "2026-11-21T11:00:00Z"
    clock.advance(minutes=10)
    response = invoke("GET", "sessions/current", headers={"X-Session-Id": session_id})
    assert body_of(response)["error"]["code"] == "session_expired"


def test_a_failed_request_does_not_renew_and_an_expired_session_stays_expired(
    clock: FakeClock,
) -> None:
    session_id = create()["session_id"]
    headers = {"X-Session-Id": session_id}
    clock.advance(minutes=16)
    assert invoke("GET", "videos", headers=headers).status_code == 401
    assert invoke("POST", "sessions", headers=headers).status_code == 201  # a new one
    assert invoke("GET", "chat/messages", headers=headers).status_code == 401


def test_expiry_follows_the_setting(deps: Dependencies, clock: FakeClock) -> None:
    from dataclasses import replace

    deps.settings = replace(deps.settings, session_expire_minutes=60)
    assert create()["expires_at"] == "2026-11-21T11:00:00Z"


def test_unknown_session_is_401_not_found() -> None:
    response = invoke("GET", "sessions/current", headers={"X-Session-Id": "B" * 43})
    assert response.status_code == 401
    assert body_of(response)["error"]["code"] == "session_not_found"


@pytest.mark.parametrize(("route", "body"), [("chat", b"{not json"), ("videos", b"{not json")])
def test_an_unknown_session_is_401_before_a_bad_body_is_400(route: str, body: bytes) -> None:
    unknown = {"X-Session-Id": "B" * 43}
    response = invoke("POST", route, headers=unknown, body=body)
    assert response.status_code == 401
    assert body_of(response)["error"]["code"] == "session_not_found"
    known = {"X-Session-Id": create()["session_id"]}
    response = invoke("POST", route, headers=known, body=body)
    assert response.status_code == 400
    assert body_of(response)["error"]["code"] == "invalid_json"
    bad_field = invoke("POST", route, headers=unknown, json_body={"message": 5, "urls": 5})
    assert bad_field.status_code == 401
    assert invoke("POST", route, body=body).status_code == 401  # no session id at all


def test_an_unknown_session_is_401_before_a_bad_query_is_400() -> None:
    bad = {"limit": "0"}
    unknown = invoke("GET", "chat/messages", headers={"X-Session-Id": "B" * 43}, params=bad)
    assert unknown.status_code == 401
    assert body_of(unknown)["error"]["code"] == "session_not_found"
    assert invoke("GET", "chat/messages", params=bad).status_code == 401
    known = {"X-Session-Id": create()["session_id"]}
    assert invoke("GET", "chat/messages", headers=known, params=bad).status_code == 400


def test_current_session_counts_its_videos_and_messages(db: Session, clock: FakeClock) -> None:
    session_id = create()["session_id"]
    key = session_uuid(db, session_id)
    link(db, key, add_transcript(db, "GJLlxj_dtq8", last_used_at=clock()), clock())
    add_exchange(db, key, clock())
    db.commit()
    body = body_of(invoke("GET", "sessions/current", headers={"X-Session-Id": session_id}))
    assert (body["videos"], body["messages"]) == (1, 2)


def test_end_session_deletes_it_and_what_it_owns(db: Session, clock: FakeClock) -> None:
    session_id = create()["session_id"]
    other_id = create()["session_id"]
    mine, other = session_uuid(db, session_id), session_uuid(db, other_id)
    shared = add_transcript(db, "GJLlxj_dtq8", last_used_at=clock())
    link(db, mine, shared, clock())
    link(db, other, shared, clock())
    upload = add_transcript(db, "abcdefghijk", owner_session_id=mine, last_used_at=clock())
    link(db, mine, upload, clock())
    add_exchange(db, mine, clock())
    add_exchange(db, other, clock())
    db.commit()

    response = invoke("DELETE", "sessions/current", headers={"X-Session-Id": session_id})
    assert response.status_code == 204
    assert response.get_body() == b""
    gone = invoke("GET", "sessions/current", headers={"X-Session-Id": session_id})
    assert body_of(gone)["error"]["code"] == "session_not_found"
    assert (
        invoke("DELETE", "sessions/current", headers={"X-Session-Id": session_id}).status_code
        == 401
    )

    other_view = body_of(invoke("GET", "sessions/current", headers={"X-Session-Id": other_id}))
    assert (other_view["videos"], other_view["messages"]) == (1, 2)
    counts = row_counts(db)
    # The uploaded transcript went with its owner; the shared one stays for the other session.
    assert counts == {
        "chat_session": 1,
        "session_video": 1,
        "chat_message": 2,
        "transcript": 1,
        "transcript_chunk": 3,
        "video": 2,
    }


def test_session_ids_are_stored_only_as_hashes(db: Session) -> None:
    session_id = create()["session_id"]
    rows = db.scalars(select(ChatSession)).all()
    assert [row.token_hash for row in rows] == [hash_token(session_id)]
    assert all(session_id not in repr(vars(row)) for row in rows)
