"""Repositories: the SQL of sessions, videos, transcripts, chunks, chat messages and usage.
Every value is a bound parameter. The other SQL of the app is retrieval's search statements
(db/retrieval.py) and the health check's `SELECT 1` and revision read (service/health.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Select,
    Text,
    bindparam,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, REGCONFIG
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from services.video_rag.db.models import (
    TEXT_SEARCH_CONFIG,
    ChatMessage,
    ChatSession,
    ClientRateWindow,
    LlmUsage,
    SessionVideo,
    Transcript,
    TranscriptChunk,
    Video,
)
from services.video_rag.domain.chunking import Chunk

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


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

    def lock(self, session_id: uuid.UUID) -> bool:
        """Lock the session row until commit, so that changes to one session that must not
        interleave (adding videos under its limit, storing a question with its answer) run one
        at a time. Take it first in a transaction, before any insert takes a key-share lock on
        the row. False when the session is gone."""
        locked = self._db.execute(
            select(ChatSession.id).where(ChatSession.id == session_id).with_for_update()
        ).first()
        return locked is not None

    def keep(self, session_id: uuid.UUID) -> bool:
        """Keep the session from being deleted until commit (a key-share lock, the one an
        insert referencing it takes; other adds and questions do not wait for it). False when
        the session is gone."""
        kept = self._db.execute(
            select(ChatSession.id)
            .where(ChatSession.id == session_id)
            .with_for_update(read=True, key_share=True)
        ).first()
        return kept is not None

    def lock_for_adding(self, session_id: uuid.UUID) -> bool:
        """Like `lock`, for adding videos after their rows were inserted under `keep`: a
        no-key-update lock, so adds to one session (and questions) run their checks one at a
        time, while other transactions holding `keep` on the same session go on inserting.
        False when the session is gone."""
        locked = self._db.execute(
            select(ChatSession.id)
            .where(ChatSession.id == session_id)
            .with_for_update(key_share=True)
        ).first()
        return locked is not None

    def get_by_token_hash(self, token_hash: bytes) -> ChatSession | None:
        """The session whose token hashes to `token_hash`, expired or not."""
        return self._db.scalars(
            select(ChatSession).where(ChatSession.token_hash == token_hash)
        ).one_or_none()

    def renew(
        self, token_hash: bytes, now: datetime, idle: timedelta, longest: timedelta
    ) -> ChatSession | None:
        """Extend the live session whose token hashes to `token_hash` to `idle` from `now`, but
        not past `longest` after its creation (and never shorten it); the session, or None when
        there is no such live session. The row stays locked until the transaction ends."""
        renewed = func.greatest(
            ChatSession.expires_at, func.least(now + idle, ChatSession.created_at + longest)
        )
        statement = (
            update(ChatSession)
            .where(ChatSession.token_hash == token_hash, ChatSession.expires_at > now)
            .values(expires_at=renewed)
            .returning(ChatSession)
            .execution_options(synchronize_session=False)
        )
        return self._db.scalars(statement).one_or_none()

    def count_videos(self, session_id: uuid.UUID) -> int:
        """How many videos the session has added."""
        query = select(func.count()).where(SessionVideo.session_id == session_id)
        return int(self._db.scalar(query) or 0)

    def count_chunks(self, session_id: uuid.UUID) -> int:
        """How many passages the session's videos hold in all."""
        query = (
            select(func.coalesce(func.sum(Transcript.chunk_count), 0))
            .join(SessionVideo, SessionVideo.transcript_id == Transcript.id)
            .where(SessionVideo.session_id == session_id)
        )
        return int(self._db.scalar(query) or 0)

    def count_messages(self, session_id: uuid.UUID) -> int:
        """How many chat messages the session has stored."""
        query = select(func.count()).where(ChatMessage.session_id == session_id)
        return int(self._db.scalar(query) or 0)

    def delete(self, session_id: uuid.UUID) -> bool:
        """Delete a session; the database cascades to everything it owns."""
        result = self._db.execute(delete(ChatSession).where(ChatSession.id == session_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]


# Chunks inserted per statement (each row carries a vector: 6 KB at 1536 dimensions).
INSERT_BATCH_ROWS = 250


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

    def delete_videos_without_transcripts(self, used_before: datetime, limit: int) -> int:
        """Delete up to `limit` videos that no transcript belongs to any more and that nobody
        stored a transcript for since `used_before`. Returns how many."""
        has_transcript = exists().where(Transcript.video_id == Video.id)
        batch = (
            select(Video.id)
            .where(Video.last_used_at < used_before, ~has_transcript)
            .limit(limit)
            .with_for_update(of=Video, skip_locked=True)
        )
        result = self._db.execute(delete(Video).where(Video.id.in_(batch.scalar_subquery())))
        return int(result.rowcount)  # type: ignore[attr-defined]


class LimitsRepository:
    """Limits shared by every instance of the deployment: per-client rate windows and the
    model tokens spent per day."""

    def __init__(self, db: Session) -> None:
        self._db = db

    def take_client_slot(
        self, kind: str, client_hash: bytes, now: datetime, window_seconds: int, amount: int = 1
    ) -> tuple[datetime, int]:
        """Count `amount` of `kind` in the client's current fixed window (a new window starts
        when the last one is `window_seconds` old). Returns the window's start and its count so
        far, this amount included. Atomic: concurrent requests each get their own count."""
        table = ClientRateWindow.__table__
        expired = table.c.started_at <= now - timedelta(seconds=window_seconds)
        statement = (
            pg_insert(ClientRateWindow)
            .values(kind=kind, client_hash=client_hash, started_at=now, count=amount)
            .on_conflict_do_update(
                index_elements=[table.c.kind, table.c.client_hash],
                set_={
                    "started_at": case((expired, now), else_=table.c.started_at),
                    "count": case((expired, amount), else_=table.c.count + amount),
                },
            )
            .returning(table.c.started_at, table.c.count)
        )
        started, count = self._db.execute(statement).one()
        return started, int(count)

    def tokens_spent(self, day: date) -> int:
        """The model tokens spent on `day` (UTC) so far."""
        spent = self._db.scalar(select(LlmUsage.tokens).where(LlmUsage.day == day))
        return int(spent or 0)

    def add_tokens(self, day: date, tokens: int) -> None:
        """Add `tokens` to `day`'s tally (atomic under concurrency)."""
        statement = pg_insert(LlmUsage).values(day=day, tokens=tokens)
        statement = statement.on_conflict_do_update(
            index_elements=[LlmUsage.day], set_={"tokens": LlmUsage.tokens + tokens}
        )
        self._db.execute(statement)

    def forget_before(self, windows_before: datetime, usage_before: date) -> int:
        """Delete rate windows started before `windows_before` and daily tallies older than
        `usage_before`. Returns how many rows went."""
        windows = self._db.execute(
            delete(ClientRateWindow).where(ClientRateWindow.started_at < windows_before)
        )
        usage = self._db.execute(delete(LlmUsage).where(LlmUsage.day < usage_before))
        return int(windows.rowcount) + int(usage.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SessionVideoRow:
    """A video as one session sees it: YouTube's metadata, its transcript, when it was added."""

    video_id: str
    title: str | None
    channel: str | None
    language: str
    is_generated: bool
    duration_seconds: float
    chunks: int
    added_at: datetime
    transcript_id: uuid.UUID
    owned: bool
    link_url: str | None
    timed: bool


@dataclass(frozen=True)
class SharedTranscriptRow:
    id: uuid.UUID
    language: str
    is_generated: bool
    chunk_count: int


@dataclass(frozen=True)
class NewTranscript:
    """What ingestion stores for one transcript (its chunks go in separately)."""

    video_id: str
    language: str
    is_generated: bool
    embedding_model: str
    title: str | None
    duration_seconds: float
    chunk_count: int
    embedding_dimensions: int  # the width of its chunks' vectors
    link_url: str | None = None  # an upload's own link
    timed: bool = True  # False for plain text: its citations carry no moment


class VideoRepository:
    """Videos, transcripts, chunks and the session links between them."""

    def __init__(self, db: Session) -> None:
        self._db = db

    def _rows(self, session_id: uuid.UUID) -> Select[Any]:
        return (
            select(
                SessionVideo.video_id,
                func.coalesce(Transcript.title, Video.title),
                Video.channel,
                Transcript.language,
                Transcript.is_generated,
                Transcript.duration_seconds,
                Transcript.chunk_count,
                SessionVideo.added_at,
                Transcript.id,
                Transcript.owner_session_id.is_not(None),
                Transcript.link_url,
                Transcript.timed,
            )
            .join(Transcript, Transcript.id == SessionVideo.transcript_id)
            .join(Video, Video.id == SessionVideo.video_id)
            .where(SessionVideo.session_id == session_id)
        )

    def list_for_session(self, session_id: uuid.UUID) -> list[SessionVideoRow]:
        """The session's videos, in the order they were added."""
        query = self._rows(session_id).order_by(SessionVideo.added_at, SessionVideo.video_id)
        return [SessionVideoRow(*row) for row in self._db.execute(query)]

    def get_for_session(self, session_id: uuid.UUID, video_id: str) -> SessionVideoRow | None:
        """One of the session's videos, or None when the session does not have it."""
        row = self._db.execute(self._rows(session_id).where(SessionVideo.video_id == video_id))
        found = row.first()
        return SessionVideoRow(*found) if found is not None else None

    def find_shared_transcripts(
        self, video_id: str, languages: Sequence[str], embedding_model: str
    ) -> list[SharedTranscriptRow]:
        """Shared (YouTube) transcripts of a video in any of `languages`, for one model."""
        query = select(
            Transcript.id, Transcript.language, Transcript.is_generated, Transcript.chunk_count
        ).where(
            Transcript.video_id == video_id,
            Transcript.owner_session_id.is_(None),
            Transcript.embedding_model == embedding_model,
            Transcript.language.in_(list(languages)),
        )
        return [SharedTranscriptRow(*row) for row in self._db.execute(query)]

    def touch_transcript(self, transcript_id: uuid.UUID, now: datetime) -> bool:
        """Mark a shared transcript as used now (the cleanup spares it). False if it is gone."""
        result = self._db.execute(
            update(Transcript)
            .where(Transcript.id == transcript_id)
            .values(last_used_at=now)
            .returning(Transcript.id)
        )
        return result.first() is not None

    def ensure_video(
        self, video_id: str, title: str | None, channel: str | None, now: datetime
    ) -> None:
        """Insert the video, or fill in metadata it lacks; either way mark it used now, which
        keeps the cleanup from deleting it while its new transcript is being stored."""
        statement = pg_insert(Video).values(
            id=video_id, title=title, channel=channel, last_used_at=now
        )
        statement = statement.on_conflict_do_update(
            index_elements=[Video.id],
            set_={
                "title": func.coalesce(Video.title, statement.excluded.title),
                "channel": func.coalesce(Video.channel, statement.excluded.channel),
                "last_used_at": statement.excluded.last_used_at,
            },
        )
        self._db.execute(statement)

    def insert_shared_transcript(self, new: NewTranscript, now: datetime) -> uuid.UUID | None:
        """Insert a YouTube transcript; None when an identical one already exists (a concurrent
        ingestion won the race; use `find_shared_transcripts`)."""
        statement = (
            pg_insert(Transcript)
            .values(_transcript_values(new, None, "youtube", now))
            .on_conflict_do_nothing(
                index_elements=["video_id", "language", "is_generated", "embedding_model"],
                index_where=Transcript.owner_session_id.is_(None),
            )
            .returning(Transcript.id)
        )
        return self._db.scalar(statement)

    def insert_uploaded_transcript(
        self, new: NewTranscript, owner: uuid.UUID, now: datetime
    ) -> uuid.UUID:
        """Insert a transcript a session uploaded; it belongs to that session alone."""
        values = _transcript_values(new, owner, "upload", now)
        self._db.execute(insert(Transcript).values(values))
        return uuid.UUID(str(values["id"]))

    def insert_chunks(
        self,
        transcript_id: uuid.UUID,
        chunks: Sequence[Chunk],
        embeddings: Sequence[Sequence[float]] | NDArray[np.float32],
    ) -> None:
        """Insert a transcript's chunks with their embeddings (one row each, e.g. a float32
        array), in order, `INSERT_BATCH_ROWS` rows per statement: what is bound for the driver
        at once stays small whatever the transcript's length."""
        if len(chunks) != len(embeddings):
            raise ValueError(f"{len(chunks)} chunks but {len(embeddings)} embeddings")
        for first in range(0, len(chunks), INSERT_BATCH_ROWS):
            rows = [
                {
                    "transcript_id": transcript_id,
                    "ordinal": ordinal,
                    "start_seconds": chunks[ordinal].start_seconds,
                    "end_seconds": chunks[ordinal].end_seconds,
                    "text": chunks[ordinal].text,
                    "moments": [list(moment) for moment in chunks[ordinal].moments],
                    "embedding": embeddings[ordinal],
                }
                for ordinal in range(first, min(first + INSERT_BATCH_ROWS, len(chunks)))
            ]
            self._db.execute(insert(TranscriptChunk), rows)

    def link(
        self, session_id: uuid.UUID, video_id: str, transcript_id: uuid.UUID, now: datetime
    ) -> bool:
        """Add a video to a session. False when the session already had it."""
        statement = (
            pg_insert(SessionVideo)
            .values(
                session_id=session_id, video_id=video_id, transcript_id=transcript_id, added_at=now
            )
            .on_conflict_do_nothing(index_elements=["session_id", "video_id"])
            .returning(SessionVideo.video_id)
        )
        return self._db.scalar(statement) is not None

    def unlink(self, session_id: uuid.UUID, video_id: str) -> uuid.UUID | None:
        """Remove a video from a session; returns the transcript it used, None if it had none.
        A transcript the session uploaded goes with it."""
        transcript_id = self._db.scalar(
            delete(SessionVideo)
            .where(SessionVideo.session_id == session_id, SessionVideo.video_id == video_id)
            .returning(SessionVideo.transcript_id)
        )
        if transcript_id is not None:
            self._db.execute(
                delete(Transcript).where(
                    Transcript.id == transcript_id, Transcript.owner_session_id == session_id
                )
            )
        return transcript_id


def _transcript_values(
    new: NewTranscript, owner: uuid.UUID | None, source: str, now: datetime
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "video_id": new.video_id,
        "owner_session_id": owner,
        "language": new.language,
        "is_generated": new.is_generated,
        "source": source,
        "embedding_model": new.embedding_model,
        "embedding_dimensions": new.embedding_dimensions,
        "link_url": new.link_url,
        "timed": new.timed,
        "title": new.title,
        "duration_seconds": new.duration_seconds,
        "chunk_count": new.chunk_count,
        "created_at": now,
        "last_used_at": now,
    }


@dataclass(frozen=True)
class MessageRow:
    id: uuid.UUID
    role: str
    content: str
    sources: list[dict[str, Any]]
    created_at: datetime


@dataclass(frozen=True)
class TranscriptPassage:
    """One chunk of a whole transcript, as a question about whole videos reads it."""

    video_id: str
    title: str | None
    start_seconds: float
    end_seconds: float
    text: str
    moments: list[list[float]]
    link_url: str | None
    timed: bool


class ChatRepository:
    """A session's chat history and its rate-limit window."""

    def __init__(self, db: Session) -> None:
        self._db = db

    def take_question_slot(
        self, session_id: uuid.UUID, now: datetime, window_seconds: int
    ) -> tuple[datetime, int]:
        """Count one question in the session's current fixed window (a new window starts when
        the last one is `window_seconds` old). Returns the window's start and its count so far,
        this question included. Atomic: concurrent questions each get their own count."""
        expired = or_(
            ChatSession.chat_window_started_at.is_(None),
            ChatSession.chat_window_started_at <= now - timedelta(seconds=window_seconds),
        )
        statement = (
            update(ChatSession)
            .where(ChatSession.id == session_id)
            .values(
                chat_window_started_at=case(
                    (expired, now), else_=ChatSession.chat_window_started_at
                ),
                chat_window_count=case((expired, 1), else_=ChatSession.chat_window_count + 1),
            )
            .returning(ChatSession.chat_window_started_at, ChatSession.chat_window_count)
        )
        started, count = self._db.execute(statement).one()
        return started, int(count)

    def session_video_titles(self, session_id: uuid.UUID) -> dict[str, str | None]:
        """The session's videos (id -> the title it sees), in the order they were added."""
        query = (
            select(SessionVideo.video_id, func.coalesce(Transcript.title, Video.title))
            .join(Transcript, Transcript.id == SessionVideo.transcript_id)
            .join(Video, Video.id == SessionVideo.video_id)
            .where(SessionVideo.session_id == session_id)
            .order_by(SessionVideo.added_at, SessionVideo.video_id)
        )
        return {video_id: title for video_id, title in self._db.execute(query)}

    def videos_saying(self, session_id: uuid.UUID, words: Sequence[str]) -> dict[str, set[str]]:
        """For each of `words` (letters and digits), the session's videos whose transcript
        holds a word beginning with it ("test" finds "tested")."""
        if not words:
            return {}
        word = (
            func.unnest(bindparam("words", list(words), type_=ARRAY(Text)))
            .table_valued("word")
            .render_derived()
        )
        query = (
            select(word.c.word, SessionVideo.video_id)
            .distinct()
            .join(SessionVideo, SessionVideo.session_id == session_id)
            .join(TranscriptChunk, TranscriptChunk.transcript_id == SessionVideo.transcript_id)
            .where(
                TranscriptChunk.text_search.bool_op("@@")(
                    func.to_tsquery(
                        cast(bindparam("config", TEXT_SEARCH_CONFIG, type_=Text), REGCONFIG),
                        word.c.word + ":*",
                    )
                )
            )
        )
        found: dict[str, set[str]] = {}
        for said, video_id in self._db.execute(query):
            found.setdefault(said, set()).add(video_id)
        return found

    def whole_transcripts(
        self, session_id: uuid.UUID, video_ids: Sequence[str]
    ) -> list[TranscriptPassage]:
        """Every chunk of the session's transcripts of `video_ids`, video by video (in the order
        of `video_ids`), each in time order."""
        query = (
            select(
                SessionVideo.video_id,
                func.coalesce(Transcript.title, Video.title),
                TranscriptChunk.start_seconds,
                TranscriptChunk.end_seconds,
                TranscriptChunk.text,
                TranscriptChunk.moments,
                Transcript.link_url,
                Transcript.timed,
            )
            .join(Transcript, Transcript.id == SessionVideo.transcript_id)
            .join(Video, Video.id == SessionVideo.video_id)
            .join(TranscriptChunk, TranscriptChunk.transcript_id == SessionVideo.transcript_id)
            .where(SessionVideo.session_id == session_id, SessionVideo.video_id.in_(video_ids))
            .order_by(SessionVideo.video_id, TranscriptChunk.ordinal)
        )
        rows = [TranscriptPassage(*row) for row in self._db.execute(query)]
        order = {video_id: index for index, video_id in enumerate(video_ids)}
        rows.sort(key=lambda row: order[row.video_id])  # stable: time order within a video
        return rows

    def messages(self, session_id: uuid.UUID, newest: int) -> list[MessageRow]:
        """The session's newest `newest` messages, oldest first."""
        query = (
            select(
                ChatMessage.id,
                ChatMessage.role,
                ChatMessage.content,
                ChatMessage.sources,
                ChatMessage.created_at,
            )
            .where(ChatMessage.session_id == session_id)
            .order_by(ChatMessage.seq.desc())
            .limit(newest)
        )
        rows = [MessageRow(*row) for row in self._db.execute(query)]
        rows.reverse()
        return rows

    def add_exchange(
        self,
        session_id: uuid.UUID,
        question: str,
        answer: str,
        sources: list[dict[str, Any]],
        now: datetime,
    ) -> uuid.UUID:
        """Store a question and its answer together. Returns the answer's message id."""
        answer_id = uuid.uuid4()
        self._db.execute(
            insert(ChatMessage),
            [
                {
                    "id": uuid.uuid4(),
                    "session_id": session_id,
                    "role": "user",
                    "content": question,
                    "sources": [],
                    "created_at": now,
                },
                {
                    "id": answer_id,
                    "session_id": session_id,
                    "role": "assistant",
                    "content": answer,
                    "sources": sources,
                    "created_at": now,
                },
            ],
        )
        return answer_id

    def clear(self, session_id: uuid.UUID) -> int:
        """Delete the session's chat history. Returns how many messages went."""
        result = self._db.execute(delete(ChatMessage).where(ChatMessage.session_id == session_id))
        return int(result.rowcount)  # type: ignore[attr-defined]
