"""SQLAlchemy 2 models of the video RAG service. Alembic migrations own the schema built from them.

Ownership: a `chat_session` owns its `session_video` links, its `chat_message` rows and the
transcripts it uploaded (`transcript.owner_session_id`), all with ON DELETE CASCADE. Transcripts
fetched from YouTube are shared by every session that adds the same video in the same language
with the same embedding model; the cleanup deletes them once no session links to them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import psycopg
from pgvector import Vector
from pgvector.sqlalchemy import HALFVEC, VECTOR
from psycopg.adapt import Dumper
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR, UUID
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.video_rag.settings import MAX_EMBEDDING_DIMENSIONS

# Video ids: YouTube's 11 characters, or an upload's own id of 1 to 64 of [A-Za-z0-9_-].
MAX_VIDEO_ID_LENGTH = 64

# Deterministic constraint names, so that migrations and autogenerate agree.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The full-text configuration of the generated tsvector column. 'simple' does not stem, so it
# treats every transcript language alike.
TEXT_SEARCH_CONFIG = "simple"


class _VectorTextDumper(Dumper):
    """Fallback for connections that have not registered pgvector's binary dumper (see
    `db.engine`): the text form, with the type left for the server to infer from the column."""

    def dump(self, obj: Vector) -> bytes:
        return obj.to_text().encode()


psycopg.adapters.register_dumper(Vector, _VectorTextDumper)


class EmbeddingVector(VECTOR):
    """pgvector's VECTOR column, bound as a `pgvector.Vector` so that the connection's binary
    dumper sends it (registered per connection by `db.engine`): about 25 times cheaper than the
    text form for 1536 dimensions (one `str()` per float). pgvector stores float32s, which the
    binary form carries exactly. Without a fixed width (`dim=None`, the stored column) any width
    from 1 to 16000 binds; the transcript records which one its chunks have."""

    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[Sequence[float] | None], Vector | None]:
        def process(value: Sequence[float] | None) -> Vector | None:
            if value is None:
                return None
            if self.dim is not None and len(value) != self.dim:
                raise ValueError(f"expected {self.dim} dimensions, got {len(value)}")
            if not 1 <= len(value) <= MAX_EMBEDDING_DIMENSIONS:
                raise ValueError(
                    f"expected 1 to {MAX_EMBEDDING_DIMENSIONS} dimensions, got {len(value)}"
                )
            # A list as it is, anything else (a float32 array row, a tuple) as an array.
            return Vector(value if isinstance(value, list) else np.asarray(value, np.float32))

        return process


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _tz_now() -> Any:
    return text("now()")


class ChatSession(Base):
    """An anonymous session. The client holds a bearer token; only its SHA-256 is stored."""

    __tablename__ = "chat_session"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # The chat rate limit: a fixed window and the questions asked in it.
    chat_window_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    chat_window_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class Video(Base):
    """A video by its 11-character YouTube id, with YouTube's own (oEmbed) title and channel."""

    __tablename__ = "video"

    id: Mapped[str] = mapped_column(String(MAX_VIDEO_ID_LENGTH), primary_key=True)
    title: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_tz_now())
    # Touched whenever a transcript of it is stored; the cleanup spares recently used videos (the
    # same guard as Transcript.last_used_at).
    last_used_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_tz_now()
    )


class Transcript(Base):
    """One transcript of a video in one language, embedded with one model.

    An uploaded transcript belongs to the session that uploaded it (its title, too, is private to
    that session); a YouTube transcript is shared. `embedding_model` is the settings' label of the
    model (its width included where the model can make several), `embedding_dimensions` the
    width of every one of its chunks' vectors: retrieval only compares a question with chunks of
    the label and width it was embedded with.
    """

    __tablename__ = "transcript"
    __table_args__ = (
        CheckConstraint("source IN ('youtube', 'upload')", name="source"),
        CheckConstraint(
            "(source = 'upload') = (owner_session_id IS NOT NULL)", name="upload_has_owner"
        ),
        CheckConstraint(
            f"embedding_dimensions BETWEEN 1 AND {MAX_EMBEDDING_DIMENSIONS}",
            name="embedding_dimensions",
        ),
        # The pair is referenced by session_video, so a link always names the right video.
        UniqueConstraint("id", "video_id"),
        Index(
            "uq_transcript_shared",
            "video_id",
            "language",
            "is_generated",
            "embedding_model",
            unique=True,
            postgresql_where=text("owner_session_id IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("video.id", ondelete="CASCADE"))
    owner_session_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("chat_session.id", ondelete="CASCADE"), index=True
    )
    language: Mapped[str] = mapped_column(String(35))
    is_generated: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(16))
    embedding_model: Mapped[str] = mapped_column(Text)
    embedding_dimensions: Mapped[int] = mapped_column(Integer)
    # Uploads: where citations link (a media fragment `#t=` is added), and whether the transcript
    # has timings at all (plain text has none: its citations carry no moment).
    link_url: Mapped[str | None] = mapped_column(Text)
    timed: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    title: Mapped[str | None] = mapped_column(Text)
    duration_seconds: Mapped[float] = mapped_column(Float)
    chunk_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_tz_now())
    # Touched whenever a session links to it; the cleanup spares recently used transcripts, which
    # closes the race between linking a shared transcript and deleting it as unused.
    last_used_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_tz_now(), index=True
    )


class TranscriptChunk(Base):
    """A run of consecutive captions with its time span, embedding and full-text vector."""

    __tablename__ = "transcript_chunk"
    __table_args__ = (UniqueConstraint("transcript_id", "ordinal"),)
    # Generated columns are read when used, not returned by every insert (embedding_half is 2
    # bytes per dimension).
    __mapper_args__ = {"eager_defaults": False}  # noqa: RUF012 (SQLAlchemy's own attribute)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    transcript_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("transcript.id", ondelete="CASCADE")
    )
    ordinal: Mapped[int] = mapped_column(Integer)
    start_seconds: Mapped[float] = mapped_column(Float)
    end_seconds: Mapped[float] = mapped_column(Float)
    # [character offset, start seconds] of each caption in `text`, in order (see Chunk.moments);
    # declared before `text`, whose name would hide sqlalchemy's `text()` below it.
    moments: Mapped[list[list[float]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    text: Mapped[str] = mapped_column(Text)
    # No fixed width: each transcript's model decides (Transcript.embedding_dimensions). Retrieval
    # is an exact scan of one session's chunks, so no index needs a width.
    embedding: Mapped[list[float]] = mapped_column(EmbeddingVector())
    # The same vector in half precision, generated (never written by the app), stored inline in
    # the row (STORAGE MAIN, migration 0007): retrieval's shortlist reads it without touching
    # TOAST, then re-ranks the shortlist by `embedding` (see db.retrieval).
    embedding_half: Mapped[Any] = mapped_column(
        HALFVEC(), Computed("embedding::halfvec", persisted=True)
    )
    text_search: Mapped[Any] = mapped_column(
        TSVECTOR, Computed(f"to_tsvector('{TEXT_SEARCH_CONFIG}'::regconfig, text)", persisted=True)
    )


class SessionVideo(Base):
    """A session's use of a transcript: which video it added, in which transcript, and when."""

    __tablename__ = "session_video"
    __table_args__ = (
        ForeignKeyConstraint(
            ["transcript_id", "video_id"],
            ["transcript.id", "transcript.video_id"],
            ondelete="CASCADE",
        ),
    )

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("chat_session.id", ondelete="CASCADE"), primary_key=True
    )
    video_id: Mapped[str] = mapped_column(String(MAX_VIDEO_ID_LENGTH), primary_key=True)
    transcript_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ChatMessage(Base):
    """One message of a session's chat history; `seq` orders messages of the same instant."""

    __tablename__ = "chat_message"
    __table_args__ = (
        CheckConstraint("role IN ('user', 'assistant')", name="role"),
        Index("ix_chat_message_session_id_seq", "session_id", "seq"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, Identity())
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("chat_session.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


metadata = Base.metadata


class ClientRateWindow(Base):
    """A client's fixed window of one kind of request, shared by every instance: a minute for
    `chat` and `session`, an hour for `passages` (service.limits). The client is the SHA-256 of
    its address: the address is never stored."""

    __tablename__ = "client_rate_window"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    client_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    count: Mapped[int] = mapped_column(Integer)


class LlmUsage(Base):
    """The model tokens the deployment spent on one UTC day, as the provider reported them."""

    __tablename__ = "llm_usage"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    tokens: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
