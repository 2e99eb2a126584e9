"""Rows for tests, written through the ORM models (ingestion has its own tested path)."""

from __future__ import annotations

import random
import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from services.video_rag.db.models import (
    ChatMessage,
    SessionVideo,
    Transcript,
    TranscriptChunk,
    Video,
)

# The embedding model of factory transcripts: a label of their own, 1536-dim random vectors.
TEST_MODEL = "test-model"
TEST_DIMENSIONS = 1536


def add_transcript(
    db: Session,
    video_id: str,
    *,
    chunks: int = 3,
    owner_session_id: uuid.UUID | None = None,
    last_used_at: datetime,
    embedding_model: str = TEST_MODEL,
    dimensions: int = TEST_DIMENSIONS,
) -> Transcript:
    """A video (if new) and one transcript of it with `chunks` chunks embedded by
    `embedding_model`: random vectors of `dimensions` dimensions."""
    if db.get(Video, video_id) is None:
        db.add(
            Video(
                id=video_id,
                title=f"Video {video_id}",
                channel="Test channel",
                last_used_at=last_used_at,
            )
        )
        db.flush()
    transcript = Transcript(
        id=uuid.uuid4(),
        video_id=video_id,
        owner_session_id=owner_session_id,
        language="en",
        is_generated=False,
        source="upload" if owner_session_id else "youtube",
        embedding_model=embedding_model,
        embedding_dimensions=dimensions,
        duration_seconds=chunks * 30.0,
        chunk_count=chunks,
        last_used_at=last_used_at,
    )
    db.add(transcript)
    db.flush()
    rng = random.Random(video_id)
    for ordinal in range(chunks):
        db.add(
            TranscriptChunk(
                transcript_id=transcript.id,
                ordinal=ordinal,
                start_seconds=ordinal * 30.0,
                end_seconds=ordinal * 30.0 + 30.0,
                text=f"chunk {ordinal} of {video_id}",
                embedding=[rng.random() for _ in range(dimensions)],
            )
        )
    db.flush()
    return transcript


def link(db: Session, session_id: uuid.UUID, transcript: Transcript, at: datetime) -> None:
    """Add a transcript's video to a session."""
    db.add(
        SessionVideo(
            session_id=session_id,
            video_id=transcript.video_id,
            transcript_id=transcript.id,
            added_at=at,
        )
    )
    db.flush()


def add_exchange(db: Session, session_id: uuid.UUID, at: datetime) -> None:
    """A question and its answer."""
    for role, content in (("user", "What is said?"), ("assistant", "This [1].")):
        db.add(
            ChatMessage(
                id=uuid.uuid4(), session_id=session_id, role=role, content=content, created_at=at
            )
        )
    db.flush()


# Deployment-wide counters (rate windows per client address, tokens per day): no session's data.
COUNTER_TABLES = frozenset({"client_rate_window", "llm_usage"})


def row_counts(db: Session) -> dict[str, int]:
    """Rows per table of the service that holds sessions' data (sessions, videos, transcripts,
    chunks, links, messages)."""
    from sqlalchemy import func, select

    from services.video_rag.db.models import metadata

    return {
        table.name: int(db.scalar(select(func.count()).select_from(table)) or 0)
        for table in metadata.sorted_tables
        if table.name not in COUNTER_TABLES
    }


def session_uuid(db: Session, session_id: str) -> uuid.UUID:
    """The internal key of the session a client knows by `session_id`."""
    from sqlalchemy import select

    from services.video_rag.db.models import ChatSession
    from services.video_rag.domain.sessions import hash_token

    found = db.scalar(
        select(ChatSession.id).where(ChatSession.token_hash == hash_token(session_id))
    )
    assert found is not None
    return found
