"""Limits that one client cannot reset by opening new sessions, and the deployment's daily model
budget: CLIENT_SESSION_RATE_LIMIT_PER_MINUTE, CLIENT_CHAT_RATE_LIMIT_PER_MINUTE (both per client
address, the one Azure's front end appended to X-Forwarded-For) and LLM_DAILY_TOKEN_BUDGET
(counted from the usage the provider reports, with the real langchain-openai client)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime

import azure.functions as func
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.video_rag.bootstrap import Dependencies
from services.video_rag.db.models import ClientRateWindow, LlmUsage, Transcript
from services.video_rag.service.maintenance import cleanup_expired_sessions
from tests import helpers
from tests.conftest import CLIENT_LIMITS_OFF, FakeClock
from tests.helpers import (
    BATTERY_TRANSCRIPT,
    QUESTION,
    app_with_model,
    body_of,
    invoke,
)
from tests.support.fake_openai import FakeOpenAI

pytestmark = [pytest.mark.db]


def from_address(address: str, session: str | None = None) -> dict[str, str]:
    """Headers of a request that Azure's front end received from `address` (a caller's own
    X-Forwarded-For entries come first, the front end's last)."""
    headers = {"X-Forwarded-For": f"10.9.9.9, {address}:51234"}
    if session is not None:
        headers["X-Session-Id"] = session
    return headers


def new_session(address: str) -> str:
    return helpers.new_session(from_address(address))


def session_with_video(address: str) -> str:
    session = new_session(address)
    (added,) = helpers.add_videos(session, transcripts=[BATTERY_TRANSCRIPT])
    assert added["status"] == "added"
    return session


def ask(address: str, session: str) -> func.HttpResponse:
    return invoke(
        "POST", "chat", headers=from_address(address, session), json_body={"message": QUESTION}
    )


def test_new_sessions_per_client_address_are_limited(deps: Dependencies, clock: FakeClock) -> None:
    deps.settings = replace(deps.settings, client_session_rate_limit_per_minute=2)
    first = new_session("203.0.113.7")
    new_session("203.0.113.7")
    refused = invoke("POST", "sessions", headers=from_address("203.0.113.7"))
    assert refused.status_code == 429
    assert body_of(refused)["error"]["code"] == "rate_limited"
    assert "new sessions from your address" in body_of(refused)["error"]["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # The caller's own X-Forwarded-For entries change nothing; the front end's entry decides.
    spoofed = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7:4000"}
    assert invoke("POST", "sessions", headers=spoofed).status_code == 429
    # Renewing a session one has is not creating one; another address has its own window.
    again = invoke(
        "POST", "sessions", headers={**from_address("203.0.113.7"), "X-Session-Id": first}
    )
    assert again.status_code == 200
    assert invoke("POST", "sessions", headers=from_address("203.0.113.8")).status_code == 201
    clock.advance(seconds=61)
    assert invoke("POST", "sessions", headers=from_address("203.0.113.7")).status_code == 201


def test_questions_per_client_address_survive_new_sessions(
    deps: Dependencies, clock: FakeClock
) -> None:
    deps.settings = replace(deps.settings, client_chat_rate_limit_per_minute=3)
    sessions = [session_with_video("192.0.2.44") for _ in range(3)]
    for session in sessions:  # one question each: three in all from the address
        assert ask("192.0.2.44", session).status_code == 200
    refused = ask("192.0.2.44", session_with_video("192.0.2.44"))
    assert refused.status_code == 429
    assert body_of(refused)["error"]["code"] == "rate_limited"
    assert "questions from your address" in body_of(refused)["error"]["message"]
    # Another address (here an IPv6 client, counted by its /64) is not affected.
    assert ask("[2001:db8:1:2::10]", sessions[0]).status_code == 200
    clock.advance(seconds=61)
    assert ask("192.0.2.44", sessions[0]).status_code == 200


def test_only_the_hash_of_an_address_is_stored_and_the_cleanup_forgets_it(
    deps: Dependencies, clock: FakeClock, db: Session
) -> None:
    deps.settings = replace(deps.settings, client_session_rate_limit_per_minute=5)
    new_session("203.0.113.99")
    stored = list(db.scalars(select(ClientRateWindow.client_hash)))
    assert stored == [hashlib.sha256(b"203.0.113.99").digest()]
    clock.advance(hours=3)  # windows are kept two hours
    report = cleanup_expired_sessions(deps.uow, clock(), batch_size=100)
    assert report.limit_rows == 1
    db.rollback()  # a new snapshot
    assert list(db.scalars(select(ClientRateWindow.client_hash))) == []


@pytest.fixture
def budgeted(deps: Dependencies, clock: FakeClock) -> Iterator[tuple[Dependencies, FakeOpenAI]]:
    """An app answering with the real langchain-openai client and a 40-token daily budget."""
    with app_with_model(
        deps,
        clock,
        FakeOpenAI(chat_replies=["It lasts nine hours [1]."]),
        LLM_DAILY_TOKEN_BUDGET="40",
        SESSION_EXPIRE_MINUTES="240",
        CHAT_RATE_LIMIT_PER_MINUTE="0",
        **CLIENT_LIMITS_OFF,
    ) as pair:
        yield pair


def spent(deps: Dependencies) -> dict[date, int]:
    with Session(deps.engine) as db:
        return {day: tokens for day, tokens in db.execute(select(LlmUsage.day, LlmUsage.tokens))}


def test_the_daily_token_budget_counts_what_the_provider_reports(
    budgeted: tuple[Dependencies, FakeOpenAI], clock: FakeClock
) -> None:
    app, server = budgeted
    clock.now = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
    session = session_with_video("192.0.2.1")
    assert ask("192.0.2.1", session).status_code == 200
    assert spent(app) == {clock().date(): 15}  # the fake reports 15 tokens per completion
    # A streamed answer counts too: 10 prompt tokens and one per word of "It lasts nine hours [1]."
    streamed = invoke(
        "POST",
        "chat",
        headers={**from_address("192.0.2.1", session), "Accept": "text/event-stream"},
        json_body={"message": QUESTION},
    )
    assert b"event: done" in streamed.get_body()
    assert spent(app) == {clock().date(): 15 + 15}
    assert ask("192.0.2.1", session).status_code == 200
    calls = len(server.chat_requests)
    refused = ask("192.0.2.1", session)
    assert refused.status_code == 503
    assert body_of(refused)["error"]["code"] == "llm_budget_exhausted"
    assert refused.headers["Retry-After"] == "3600"  # until midnight UTC
    assert len(server.chat_requests) == calls  # refused before any model call
    streamed_refusal = invoke(
        "POST",
        "chat",
        headers={**from_address("192.0.2.1", session), "Accept": "text/event-stream"},
        json_body={"message": QUESTION},
    )
    assert streamed_refusal.status_code == 503  # JSON, before the stream starts
    clock.advance(hours=1, seconds=1)  # a new UTC day: a new budget
    assert ask("192.0.2.1", session).status_code == 200


def passages(video_id: str, count: int) -> dict[str, object]:
    """An upload that makes `count` passages (one caption each, 61 s apart)."""
    content = [{"text": f"part {i} of the talk", "start": i * 61.0} for i in range(count)]
    return {"video_id": video_id, "format": "segments", "content": content}


def test_passages_stored_per_client_address_per_hour_are_limited(
    deps: Dependencies, clock: FakeClock
) -> None:
    deps.settings = replace(deps.settings, client_passages_per_hour=15)
    session = new_session("198.51.100.20")

    def upload(address: str, video_id: str) -> dict[str, object]:
        response = invoke(
            "POST",
            "videos",
            headers=from_address(address, session),
            json_body={"transcripts": [passages(video_id, 10)]},
        )
        (result,) = body_of(response)["videos"]
        return dict(result)

    assert upload("198.51.100.20", "first")["status"] == "added"
    refused = upload("198.51.100.20", "second")
    assert refused["status"] == "failed"
    assert refused["error"]["code"] == "rate_limited"  # type: ignore[index]
    assert "passages stored from your address this hour" in refused["error"]["message"]  # type: ignore[index]
    assert upload("198.51.100.21", "second")["status"] == "added"  # another address
    clock.advance(minutes=61)
    # The session went idle meanwhile: a new one, same address, a new hour.
    session = new_session("198.51.100.20")
    assert upload("198.51.100.20", "third")["status"] == "added"


def test_passages_per_transcript_and_per_session_are_limited(
    deps: Dependencies, db: Session
) -> None:
    deps.settings = replace(deps.settings, max_chunks_per_transcript=5, max_chunks_per_session=12)
    session = new_session("192.0.2.77")

    def upload(video_id: str, count: int) -> dict[str, object]:
        response = invoke(
            "POST",
            "videos",
            headers={"X-Session-Id": session},
            json_body={"transcripts": [passages(video_id, count)]},
        )
        (result,) = body_of(response)["videos"]
        return dict(result)

    too_long = upload("long", 6)
    assert too_long["status"] == "failed"
    assert too_long["error"]["code"] == "transcript_too_long"  # type: ignore[index]
    assert "MAX_CHUNKS_PER_TRANSCRIPT" in too_long["error"]["message"]  # type: ignore[index]
    assert upload("a", 5)["status"] == "added"
    assert upload("b", 5)["status"] == "added"
    full = upload("c", 5)  # 15 > 12
    assert full["status"] == "failed"
    assert full["error"]["code"] == "session_chunk_limit"  # type: ignore[index]
    assert upload("d", 2)["status"] == "added"  # exactly 12
    stored = db.scalars(select(Transcript.video_id).order_by(Transcript.video_id)).all()
    assert stored == ["a", "b", "d"]  # nothing of the refused ones


def test_behind_front_door_the_entry_front_door_appended_names_the_client(
    deps: Dependencies,
) -> None:
    """TRUSTED_PROXY_HOPS=2: Front Door appends the caller's address, then Azure's front end
    appends Front Door's; every caller shares that last entry, so the one before it counts."""
    deps.settings = replace(
        deps.settings, trusted_proxy_hops=2, client_session_rate_limit_per_minute=1
    )

    def create(caller: str, own: str = "192.0.2.200") -> int:
        forwarded = f"{own}, {caller}:50000, 203.0.113.250:443"
        return invoke("POST", "sessions", headers={"X-Forwarded-For": forwarded}).status_code

    assert create("198.51.100.31") == 201
    assert create("198.51.100.32") == 201  # another caller behind the same Front Door edge
    assert create("198.51.100.31", own="10.1.2.3") == 429  # its own first entry changes nothing


@pytest.mark.parametrize("content_format", ["segments", "vtt", "text"])
def test_an_upload_with_more_captions_than_the_setting_fails_as_an_item(
    deps: Dependencies, content_format: str
) -> None:
    deps.settings = replace(deps.settings, max_captions_per_upload=3)
    lines = [f"Caption {i} talks about the battery." for i in range(4)]
    content: object = {
        "segments": [{"text": t, "start": i * 5.0, "duration": 5.0} for i, t in enumerate(lines)],
        "vtt": "WEBVTT\n\n"
        + "\n".join(f"00:00:0{i}.000 --> 00:00:0{i}.900\n{t}\n" for i, t in enumerate(lines)),
        "text": "\n\n".join(lines),
    }[content_format]
    session = new_session("192.0.2.5")
    item = {"video_id": "captions01", "format": content_format, "content": content}
    (result,) = helpers.add_videos(session, transcripts=[item])
    assert result["status"] == "failed"
    assert result["error"]["code"] == "invalid_transcript"
    assert "MAX_CAPTIONS_PER_UPLOAD" in result["error"]["message"]
    deps.settings = replace(deps.settings, max_captions_per_upload=4)
    (result,) = helpers.add_videos(session, transcripts=[item])
    assert result["status"] == "added"
