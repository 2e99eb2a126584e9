"""Privacy by construction: session ids never reach the logs, and ending a session or letting it
expire removes every row that belongs to it (counted per table), while another session that
shares a video keeps everything it has."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.video_rag.bootstrap import Dependencies
from services.video_rag.db.models import ChatMessage, SessionVideo, Transcript
from services.video_rag.service.maintenance import cleanup_expired_sessions
from tests.conftest import FakeClock
from tests.factories import row_counts, session_uuid
from tests.fakes import FakeTranscriptSource
from tests.helpers import body_of, invoke

pytestmark = [pytest.mark.db]

VTT = "WEBVTT\n\n00:00:01.000 --> 00:00:05.000\nThe battery lasts nine hours.\n"


def busy_session(deps: Dependencies) -> str:
    sid = str(body_of(invoke("POST", "sessions"))["session_id"])
    headers = {"X-Session-Id": sid}
    invoke(
        "POST",
        "videos",
        headers=headers,
        json_body={
            "urls": ["GJLlxj_dtq8"],
            "transcripts": [{"video_id": "uploaded001", "format": "vtt", "content": VTT}],
        },
    )
    assert (
        invoke("POST", "chat", headers=headers, json_body={"message": "battery?"}).status_code
        == 200
    )
    return sid


def owned_rows(db: Session, sid: str) -> dict[str, int]:
    key = session_uuid(db, sid)
    return {
        "session_video": db.scalar(select(func.count()).where(SessionVideo.session_id == key)) or 0,
        "chat_message": db.scalar(select(func.count()).where(ChatMessage.session_id == key)) or 0,
        "uploads": db.scalar(select(func.count()).where(Transcript.owner_session_id == key)) or 0,
    }


@pytest.fixture
def source(deps: Dependencies) -> FakeTranscriptSource:
    fake = FakeTranscriptSource()
    fake.add("GJLlxj_dtq8", "battery life")
    deps.transcript_source = fake
    return fake


@pytest.mark.usefixtures("source")
def test_session_ids_never_reach_the_logs(
    deps: Dependencies, caplog: pytest.LogCaptureFixture
) -> None:
    # Even with every SQL statement and its parameters logged, only a hash of the id is sent.
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.INFO, "sqlalchemy.engine"):
        sid = busy_session(deps)
        invoke("GET", "chat/messages", headers={"X-Session-Id": sid})
        invoke("DELETE", "sessions/current", headers={"X-Session-Id": sid})
        invoke("GET", "sessions/current", headers={"X-Session-Id": sid})
    assert any("chat_session" in r.getMessage() for r in caplog.records)
    assert sid not in caplog.text
    assert sid[:12] not in caplog.text


@pytest.mark.usefixtures("source")
def test_ending_a_session_removes_all_it_owns_and_nothing_of_others(
    deps: Dependencies, db: Session
) -> None:
    mine, theirs = busy_session(deps), busy_session(deps)
    assert owned_rows(db, mine) == {"session_video": 2, "chat_message": 2, "uploads": 1}
    before = row_counts(db)
    assert invoke("DELETE", "sessions/current", headers={"X-Session-Id": mine}).status_code == 204
    after = row_counts(db)
    assert after["chat_session"] == before["chat_session"] - 1
    assert after["session_video"] == before["session_video"] - 2
    assert after["chat_message"] == before["chat_message"] - 2
    assert after["transcript"] == before["transcript"] - 1  # the upload; the shared one stays
    assert owned_rows(db, theirs) == {"session_video": 2, "chat_message": 2, "uploads": 1}


@pytest.mark.usefixtures("source")
def test_expiry_removes_all_it_owns(deps: Dependencies, db: Session, clock: FakeClock) -> None:
    busy_session(deps)
    clock.advance(minutes=16)
    survivor = busy_session(deps)
    clock.advance(minutes=10)
    cleanup_expired_sessions(deps.uow, clock(), 100)
    counts = row_counts(db)
    assert counts["chat_session"] == 1
    assert counts["session_video"] == 2
    assert counts["chat_message"] == 2
    assert owned_rows(db, survivor) == {"session_video": 2, "chat_message": 2, "uploads": 1}
