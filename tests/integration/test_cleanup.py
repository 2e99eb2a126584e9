"""The nightly cleanup against the real database: expiry, cascades, sharing, batches, races."""

import threading
import uuid
from datetime import timedelta

import pytest
from azure.functions.timer import TimerRequest
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.video_rag.bootstrap import Dependencies
from services.video_rag.db.models import ChatSession, Transcript, Video
from services.video_rag.service.maintenance import (
    UNUSED_TRANSCRIPT_GRACE,
    CleanupReport,
    cleanup_expired_sessions,
)
from tests.conftest import FakeClock
from tests.factories import add_exchange, add_transcript, link, row_counts
from tests.helpers import registered_functions

pytestmark = [pytest.mark.db]


def new_session(db: Session, clock: FakeClock, lifetime_minutes: int = 15) -> uuid.UUID:
    session = ChatSession(
        id=uuid.uuid4(),
        token_hash=uuid.uuid4().bytes * 2,
        created_at=clock(),
        expires_at=clock() + timedelta(minutes=lifetime_minutes),
    )
    db.add(session)
    db.flush()
    return session.id


def run_cleanup(deps: Dependencies, batch_size: int = 100) -> CleanupReport:
    return cleanup_expired_sessions(deps.uow, deps.clock(), batch_size)


def test_expired_session_goes_while_a_live_one_keeps_the_shared_video(
    deps: Dependencies, db: Session, clock: FakeClock
) -> None:
    expiring = new_session(db, clock, lifetime_minutes=15)
    live = new_session(db, clock, lifetime_minutes=60)
    shared = add_transcript(db, "GJLlxj_dtq8", chunks=4, last_used_at=clock())
    only_expiring = add_transcript(db, "onlyExpirng", chunks=2, last_used_at=clock())
    upload = add_transcript(
        db, "uploadedVid", chunks=5, owner_session_id=expiring, last_used_at=clock()
    )
    for transcript in (shared, only_expiring, upload):
        link(db, expiring, transcript, clock())
    link(db, live, shared, clock())
    add_exchange(db, expiring, clock())
    add_exchange(db, live, clock())
    db.commit()

    clock.advance(minutes=16)
    report = run_cleanup(deps)
    # The expired session, its links, messages and upload are gone; so is the transcript only it
    # used (last linked 16 minutes ago) and both videos nobody else has.
    assert report == CleanupReport(sessions=1, transcripts=1, videos=2)
    assert db.scalars(select(ChatSession.id)).all() == [live]
    assert db.scalars(select(Transcript.id)).all() == [shared.id]
    assert db.scalars(select(Video.id)).all() == ["GJLlxj_dtq8"]
    assert row_counts(db) == {
        "chat_session": 1,
        "video": 1,
        "transcript": 1,
        "session_video": 1,
        "transcript_chunk": 4,
        "chat_message": 2,
    }
    assert run_cleanup(deps) == CleanupReport(0, 0, 0)  # idempotent


def test_a_recently_linked_transcript_survives_even_without_links(
    deps: Dependencies, db: Session, clock: FakeClock
) -> None:
    orphan = add_transcript(db, "recentVideo", last_used_at=clock())
    db.commit()
    assert run_cleanup(deps).transcripts == 0
    clock.advance(minutes=UNUSED_TRANSCRIPT_GRACE.total_seconds() / 60 + 1)
    assert run_cleanup(deps).transcripts == 1
    assert db.scalars(select(Transcript.id).where(Transcript.id == orphan.id)).all() == []


def test_batches_cover_every_expired_session(
    deps: Dependencies, db: Session, clock: FakeClock
) -> None:
    for _ in range(25):
        add_exchange(db, new_session(db, clock), clock())
    new_session(db, clock, lifetime_minutes=120)
    db.commit()
    clock.advance(minutes=30)
    assert run_cleanup(deps, batch_size=7).sessions == 25
    assert row_counts(db)["chat_session"] == 1
    assert row_counts(db)["chat_message"] == 0


def test_two_cleanups_at_once_share_the_work_without_errors(
    deps: Dependencies, db: Session, clock: FakeClock
) -> None:
    for index in range(400):
        session = new_session(db, clock)
        add_exchange(db, session, clock())
        if index % 4 == 0:
            link(
                db,
                session,
                add_transcript(db, f"vid{index:08d}", chunks=1, last_used_at=clock()),
                clock(),
            )
    live = new_session(db, clock, lifetime_minutes=600)
    db.commit()
    clock.advance(hours=2)

    reports: list[CleanupReport] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        try:
            barrier.wait()
            reports.append(run_cleanup(deps, batch_size=20))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(r.sessions for r in reports) == 400
    assert sum(r.transcripts for r in reports) == 100
    assert sum(r.videos for r in reports) == 100
    assert db.scalars(select(ChatSession.id)).all() == [live]
    assert row_counts(db) == {
        "chat_session": 1,
        "video": 0,
        "transcript": 0,
        "session_video": 0,
        "transcript_chunk": 0,
        "chat_message": 0,
    }


def test_the_timer_function_runs_the_cleanup(
    deps: Dependencies, db: Session, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    new_session(db, clock)
    db.commit()
    clock.advance(minutes=20)
    timer = registered_functions()["session_expire_timer"].get_user_function()
    with caplog.at_level("INFO"):
        timer(TimerRequest(past_due=True))
    assert row_counts(db)["chat_session"] == 0
    assert "deleted 1 expired sessions" in caplog.text
