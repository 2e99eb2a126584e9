"""Repositories: the only place that talks SQL. Every value is a bound parameter."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from services.video_rag.db.models import ChatMessage, ChatSession, SessionVideo, Transcript, Video


class SessionRepository:
    """Sessions and the per-session counts shown to clients."""

    def __init__(self, db: Session) -> None:
        self._db = db

    def create(self, token_hash: bytes, created_at: datetime, expires_at: datetime) -> ChatSession:
        """Insert a new session (made permanent by the unit of work's commit)."""
        session = ChatSession(
            id=uuid.uuid4(), token_hash=token_hash, created_at=created_at, expires_at=expires_at
        )
        self._db.add(session)
        self._db.flush()
        return session

    def get_by_token_hash(self, token_hash: bytes) -> ChatSession | None:
        """The session whose token hashes to `token_hash`, expired or not."""
        return self._db.scalars(
            select(ChatSession).where(ChatSession.token_hash == token_hash)
        ).one_or_none()

    def count_videos(self, session_id: uuid.UUID) -> int:
        """How many videos the session has added."""
        query = select(func.count()).where(SessionVideo.session_id == session_id)
        return int(self._db.scalar(query) or 0)

    def count_messages(self, session_id: uuid.UUID) -> int:
        """How many chat messages the session has stored."""
        query = select(func.count()).where(ChatMessage.session_id == session_id)
        return int(self._db.scalar(query) or 0)

    def delete(self, session_id: uuid.UUID) -> bool:
        """Delete a session; the database cascades to everything it owns."""
        result = self._db.execute(delete(ChatSession).where(ChatSession.id == session_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]


class MaintenanceRepository:
    """Batch deletes for the cleanup timer. Each batch locks its rows with SKIP LOCKED, so two
    concurrent cleanups share the work instead of blocking or failing."""

    def __init__(self, db: Session) -> None:
        self._db = db

    def delete_expired_sessions(self, now: datetime, limit: int) -> int:
        """Delete up to `limit` sessions that expired at or before `now`. Returns how many."""
        batch = (
            select(ChatSession.id)
            .where(ChatSession.expires_at <= now)
            .order_by(ChatSession.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        result = self._db.execute(
            delete(ChatSession).where(ChatSession.id.in_(batch.scalar_subquery()))
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def delete_unused_transcripts(self, used_before: datetime, limit: int) -> int:
        """Delete up to `limit` shared transcripts (and, by cascade, their chunks) that no session
        links to and that nobody linked since `used_before`. Returns how many."""
        linked = exists().where(SessionVideo.transcript_id == Transcript.id)
        batch = (
            select(Transcript.id)
            .where(
                Transcript.owner_session_id.is_(None),
                Transcript.last_used_at < used_before,
                ~linked,
            )
            .limit(limit)
            .with_for_update(of=Transcript, skip_locked=True)
        )
        result = self._db.execute(
            delete(Transcript).where(Transcript.id.in_(batch.scalar_subquery()))
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def delete_videos_without_transcripts(self, limit: int) -> int:
        """Delete up to `limit` videos that no transcript belongs to any more. Returns how many."""
        has_transcript = exists().where(Transcript.video_id == Video.id)
        batch = (
            select(Video.id)
            .where(~has_transcript)
            .limit(limit)
            .with_for_update(of=Video, skip_locked=True)
        )
        result = self._db.execute(delete(Video).where(Video.id.in_(batch.scalar_subquery())))
        return int(result.rowcount)  # type: ignore[attr-defined]
