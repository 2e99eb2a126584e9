"""The nightly cleanup: expired sessions, then whatever no session uses any more."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.video_rag.db.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

# A shared transcript that lost its last link, or a video that lost its last transcript, is kept
# this long, so that a session linking or storing it while the cleanup runs never loses it
# (linking and storing touch `last_used_at`).
UNUSED_TRANSCRIPT_GRACE = timedelta(minutes=10)
# Per-client rate windows last a minute or an hour; kept two hours. Daily token tallies are kept
# a month.
RATE_WINDOW_RETENTION = timedelta(hours=2)
LLM_USAGE_RETENTION = timedelta(days=31)


@dataclass(frozen=True)
class CleanupReport:
    """What one cleanup run deleted."""

    sessions: int
    transcripts: int
    videos: int
    limit_rows: int = 0


def cleanup_expired_sessions(
    uow_factory: Callable[[], UnitOfWork],
    now: datetime,
    batch_size: int,
    grace: timedelta = UNUSED_TRANSCRIPT_GRACE,
) -> CleanupReport:
    """Delete expired sessions (cascading to their links, messages and uploads), then shared
    transcripts and videos that nothing uses. Each batch is its own short transaction, so live
    traffic is never blocked for long; running it twice at once is safe (rows are claimed with
    SKIP LOCKED) and running it again finds nothing more to do."""
    sessions = _in_batches(
        uow_factory,
        lambda uow: uow.maintenance.delete_expired_sessions(now, batch_size),
        batch_size,
    )
    transcripts = _in_batches(
        uow_factory,
        lambda uow: uow.maintenance.delete_unused_transcripts(now - grace, batch_size),
        batch_size,
    )
    videos = _in_batches(
        uow_factory,
        lambda uow: uow.maintenance.delete_videos_without_transcripts(now - grace, batch_size),
        batch_size,
    )
    with uow_factory() as uow:
        limit_rows = uow.limits.forget_before(
            now - RATE_WINDOW_RETENTION, (now - LLM_USAGE_RETENTION).date()
        )
        uow.commit()
    report = CleanupReport(sessions, transcripts, videos, limit_rows)
    logger.info(
        "session cleanup deleted %d expired sessions, %d unused transcripts, %d unused videos, "
        "%d old rate windows and token tallies",
        report.sessions,
        report.transcripts,
        report.videos,
        report.limit_rows,
    )
    return report


def _in_batches(
    uow_factory: Callable[[], UnitOfWork],
    delete_batch: Callable[[UnitOfWork], int],
    batch_size: int,
) -> int:
    total = 0
    while True:
        with uow_factory() as uow:
            deleted = delete_batch(uow)
            uow.commit()
        total += deleted
        if deleted < batch_size:
            return total
