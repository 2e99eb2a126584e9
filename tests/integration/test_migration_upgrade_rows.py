"""Migration 0007 on a database that already holds rows: a session with a shared YouTube transcript
of 1536-wide vectors and its own upload of 256-wide ones, a second session sharing the YouTube one,
a chat history and the client limits, all stored as 0006 stored them (plain SQL, bound values).
The upgrade to head keeps every value, computes the half-precision copy of every old chunk, and
retrieval works on the old rows; the downgrade to 0006 and a second upgrade keep them too."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from alembic import command
from sqlalchemy import Connection, Engine, create_engine, func, select, text
from sqlalchemy import table as sql_table
from sqlalchemy.orm import Session

from services.video_rag.db.migrations import alembic_config, current_revision, head_revision
from services.video_rag.db.models import TranscriptChunk
from services.video_rag.db.retrieval import RetrievalRepository
from services.video_rag.settings import load_settings

pytestmark = pytest.mark.db

BEFORE = "0006"
# Every table of the schema at 0006, in an order in which foreign keys are satisfied.
TABLES = (
    "chat_session",
    "video",
    "transcript",
    "session_video",
    "transcript_chunk",
    "chat_message",
    "client_rate_window",
    "llm_usage",
)
# Per transcript: more than the half-precision shortlist of a 6-chunk search (24) keeps.
CHUNKS = 30
NOW = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
YOUTUBE_ID = "aBcDeFgHiJk"
UPLOAD_ID = "upload-" + "0f" * 16
CAPTIONS = (
    "the battery lasts about eleven hours of video playback",
    "the keyboard has a shallow travel but a firm bottom",
    "the screen reaches five hundred nits outdoors",
    "fans stay quiet until the processor is fully loaded",
    "the speakers sound thin at full volume",
    "charging to eighty percent takes forty minutes",
)

Rows = dict[str, list[dict[str, Any]]]


def _label(environ: dict[str, str]) -> str:
    return load_settings(environ).embedding_model_label


def _clustered(rng: random.Random, width: int, count: int) -> list[list[float]]:
    """`count` unit vectors of `width` dimensions close to one another (one video's chunks are),
    rounded to float32 as pgvector stores them."""
    centre = np.array([rng.gauss(0.0, 1.0) for _ in range(width)])
    vectors = []
    for _ in range(count):
        vector = centre + 0.6 * np.array([rng.gauss(0.0, 1.0) for _ in range(width)])
        vectors.append((vector / np.linalg.norm(vector)).astype(np.float32).tolist())
    return vectors


def _snapshot(connection: Connection) -> Rows:
    """Every row of every table of 0006 as JSON (vectors and tsvectors as their text), sorted."""
    rows: Rows = {}
    for table in TABLES:
        whole_row = sql_table(table).table_valued()
        found = connection.scalars(select(func.to_jsonb(whole_row))).all()
        rows[table] = sorted(found, key=lambda row: json.dumps(row, sort_keys=True))
    return rows


def _only_columns_of(rows: Rows, like: Rows) -> Rows:
    """`rows` restricted to the columns the rows of `like` have (later migrations add some)."""
    return {
        table: [
            {column: row[column] for column in like[table][0]} if like[table] else row
            for row in table_rows
        ]
        for table, table_rows in rows.items()
    }


def _insert_rows_of_0006(
    connection: Connection,
    sessions: Sequence[uuid.UUID],
    transcripts: dict[str, tuple[uuid.UUID, str, list[list[float]]]],
) -> None:
    first, second = sessions
    for index, session_id in enumerate(sessions):
        connection.execute(
            text(
                "INSERT INTO chat_session (id, token_hash, created_at, expires_at, "
                "chat_window_started_at, chat_window_count) VALUES (:id, :token_hash, "
                ":created_at, :expires_at, :window_started_at, :window_count)"
            ),
            {
                "id": session_id,
                "token_hash": bytes([index + 1]) * 32,
                "created_at": NOW,
                "expires_at": NOW + timedelta(days=1),
                "window_started_at": NOW + timedelta(minutes=5) if index == 0 else None,
                "window_count": 2 if index == 0 else 0,
            },
        )
    connection.execute(
        text(
            "INSERT INTO video (id, title, channel, created_at, last_used_at) "
            "VALUES (:id, :title, :channel, :at, :at)"
        ),
        [
            {"id": YOUTUBE_ID, "title": "Laptop review", "channel": "Tech bench", "at": NOW},
            {"id": UPLOAD_ID, "title": None, "channel": None, "at": NOW},
        ],
    )
    youtube_id, youtube_model, youtube_vectors = transcripts["youtube"]
    upload_id, upload_model, upload_vectors = transcripts["upload"]
    transcript_insert = text(
        "INSERT INTO transcript (id, video_id, owner_session_id, language, is_generated, source, "
        "embedding_model, embedding_dimensions, title, duration_seconds, chunk_count, created_at, "
        "last_used_at, link_url, timed) VALUES (:id, :video_id, :owner, :language, :generated, "
        ":source, :model, :dimensions, :title, :duration, :chunks, :at, :at, :link_url, :timed)"
    )
    connection.execute(
        transcript_insert,
        [
            {
                "id": youtube_id,
                "video_id": YOUTUBE_ID,
                "owner": None,
                "language": "en",
                "generated": True,
                "source": "youtube",
                "model": youtube_model,
                "dimensions": len(youtube_vectors[0]),
                "title": None,
                "duration": CHUNKS * 30.0,
                "chunks": CHUNKS,
                "at": NOW,
                "link_url": None,
                "timed": True,
            },
            {
                "id": upload_id,
                "video_id": UPLOAD_ID,
                "owner": first,
                "language": "en-GB",
                "generated": False,
                "source": "upload",
                "model": upload_model,
                "dimensions": len(upload_vectors[0]),
                "title": "My own notes",
                "duration": 0.0,
                "chunks": CHUNKS,
                "at": NOW,
                "link_url": "https://example.com/notes",
                "timed": False,
            },
        ],
    )
    connection.execute(
        text(
            "INSERT INTO session_video (session_id, video_id, transcript_id, added_at) "
            "VALUES (:session, :video, :transcript, :at)"
        ),
        [
            {"session": first, "video": YOUTUBE_ID, "transcript": youtube_id, "at": NOW},
            {"session": first, "video": UPLOAD_ID, "transcript": upload_id, "at": NOW},
            {"session": second, "video": YOUTUBE_ID, "transcript": youtube_id, "at": NOW},
        ],
    )
    chunk_rows = []
    for transcript_id, vectors, timed in (
        (youtube_id, youtube_vectors, True),
        (upload_id, upload_vectors, False),
    ):
        for ordinal, vector in enumerate(vectors):
            caption = CAPTIONS[ordinal % len(CAPTIONS)]
            chunk_text = f"{caption}, part {ordinal}. {CAPTIONS[(ordinal + 1) % len(CAPTIONS)]}"
            start = ordinal * 30.0 if timed else 0.0
            moments = [[0, start], [len(caption) + 2, start + 12.5]] if timed else []
            chunk_rows.append(
                {
                    "transcript_id": transcript_id,
                    "ordinal": ordinal,
                    "start": start,
                    "end": start + 30.0 if timed else 0.0,
                    "text": chunk_text,
                    "embedding": str(vector),
                    "moments": json.dumps(moments),
                }
            )
    connection.execute(
        text(
            "INSERT INTO transcript_chunk (transcript_id, ordinal, start_seconds, end_seconds, "
            "text, embedding, moments) VALUES (:transcript_id, :ordinal, :start, :end, :text, "
            "CAST(:embedding AS vector), CAST(:moments AS jsonb))"
        ),
        chunk_rows,
    )
    sources = [{"video_id": YOUTUBE_ID, "start_seconds": 42.5, "chunk_id": 1, "quote": "eleven"}]
    connection.execute(
        text(
            "INSERT INTO chat_message (id, session_id, role, content, sources, created_at) "
            "VALUES (:id, :session, :role, :content, CAST(:sources AS jsonb), :at)"
        ),
        [
            {
                "id": uuid.uuid4(),
                "session": first,
                "role": "user",
                "content": "How long does the battery last?",
                "sources": "[]",
                "at": NOW + timedelta(minutes=5),
            },
            {
                "id": uuid.uuid4(),
                "session": first,
                "role": "assistant",
                "content": "About eleven hours of video playback [1].",
                "sources": json.dumps(sources),
                "at": NOW + timedelta(minutes=5),
            },
        ],
    )
    connection.execute(
        text(
            "INSERT INTO client_rate_window (kind, client_hash, started_at, count) "
            "VALUES (:kind, :hash, :at, :count)"
        ),
        {"kind": "chat", "hash": b"\xab" * 32, "at": NOW, "count": 3},
    )
    connection.execute(
        text("INSERT INTO llm_usage (day, tokens) VALUES (:day, :tokens)"),
        {"day": date(2026, 11, 30), "tokens": 12_345},
    )


def _assert_half_copies(engine: Engine, vectors: dict[uuid.UUID, list[list[float]]]) -> None:
    """Every chunk has its half-precision copy: the float32 vector rounded to float16."""
    with Session(engine) as db:
        rows = db.execute(
            select(
                TranscriptChunk.transcript_id,
                TranscriptChunk.ordinal,
                TranscriptChunk.embedding,
                TranscriptChunk.embedding_half,
            )
        ).all()
    assert len(rows) == sum(len(stored) for stored in vectors.values())
    for transcript_id, ordinal, embedding, half in rows:
        assert half is not None, (transcript_id, ordinal)
        expected = np.array(vectors[transcript_id][ordinal], dtype=np.float32)
        full = np.asarray(embedding, dtype=np.float32)
        # Read as text, each value is printed as the float32 it widens to (exactly).
        copy = np.asarray(half, dtype=np.float32)
        assert np.array_equal(copy.astype(np.float16).astype(np.float32), copy)
        assert np.array_equal(full, expected)
        assert np.array_equal(copy, expected.astype(np.float16)), (transcript_id, ordinal)
        # Within float16 rounding: half a unit in the last place (11 significant bits).
        error = np.abs(copy - expected)
        assert np.all(error <= np.abs(expected) * 2.0**-11 + 2.0**-25)


def _nearest(vectors: list[list[float]], query: list[float], k: int) -> list[int]:
    """Ordinals of the `k` vectors nearest to `query` by cosine distance (float64 brute force)."""
    matrix = np.array(vectors, dtype=np.float64)
    target = np.array(query, dtype=np.float64)
    similarity = matrix @ target / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(target))
    return [int(i) for i in np.argsort(-similarity, kind="stable")[:k]]


def _assert_retrieval(
    engine: Engine,
    sessions: Sequence[uuid.UUID],
    transcripts: dict[str, tuple[uuid.UUID, str, list[list[float]]]],
) -> None:
    first, second = sessions
    with Session(engine) as db:
        ids = {
            (transcript_id, ordinal): chunk_id
            for chunk_id, transcript_id, ordinal in db.execute(
                text("SELECT id, transcript_id, ordinal FROM transcript_chunk")
            )
        }
        repository = RetrievalRepository(db)
        for kind, target, video_id in (("youtube", 7, YOUTUBE_ID), ("upload", 19, UPLOAD_ID)):
            transcript_id, model, vectors = transcripts[kind]
            query = vectors[target]
            expected = ids[(transcript_id, target)]
            # A question whose words match no chunk: the vector side alone ranks.
            found = repository.hybrid_search(
                first, query, "what about the webcam", embedding_model=model
            )
            assert len(found) == 6, kind
            assert (found[0].chunk_id, found[0].vector_rank, found[0].text_rank) == (
                expected,
                1,
                None,
            ), kind
            assert {chunk.video_id for chunk in found} == {video_id}, kind
            # A question in the chunk's own words: first on both sides.
            words = f"{CAPTIONS[target % len(CAPTIONS)]} part {target}"
            (top, *_) = repository.hybrid_search(first, query, words, embedding_model=model)
            assert (top.chunk_id, top.vector_rank, top.text_rank) == (expected, 1, 1), kind
            # The vector side on its own, by the half-precision shortlist and by the exact
            # float32 scan: the order a brute force in float64 gives.
            nearest = [ids[(transcript_id, ordinal)] for ordinal in _nearest(vectors, query, 6)]
            shortlisted = repository.vector_search(first, query, 6, embedding_model=model)
            exact = repository.vector_search(first, query, 6, embedding_model=model, exact=True)
            assert [chunk.chunk_id for chunk in shortlisted] == nearest, kind
            assert [chunk.chunk_id for chunk in exact] == nearest, kind
        # The second session shares the YouTube transcript but not the first session's upload.
        _, upload_model, upload_vectors = transcripts["upload"]
        assert not repository.hybrid_search(
            second, upload_vectors[19], "speakers", embedding_model=upload_model
        )
        youtube_id, youtube_model, youtube_vectors = transcripts["youtube"]
        (top, *_) = repository.hybrid_search(
            second, youtube_vectors[3], "webcam", embedding_model=youtube_model
        )
        assert top.chunk_id == ids[(youtube_id, 3)]
        assert top.moments == [[0, 90.0], [len(CAPTIONS[3]) + 2, 102.5]]


def _assert_inline_layout(connection: Connection, youtube_id: uuid.UUID) -> None:
    """The rewrite laid the old rows out as 0007 intends: the half-precision copy inline, the
    1536-wide float32 vector out in TOAST."""
    assert (
        connection.scalar(
            text(
                "SELECT attstorage FROM pg_attribute WHERE attrelid = 'transcript_chunk'::regclass "
                "AND attname = 'embedding_half'"
            )
        )
        == "m"
    )
    options = connection.scalar(
        text("SELECT reloptions FROM pg_class WHERE oid = 'transcript_chunk'::regclass")
    )
    assert "toast_tuple_target=8160" in (options or [])
    if int(connection.scalar(text("SHOW server_version_num")) or 0) < 170000:
        return  # pg_column_toast_chunk_id is new in PostgreSQL 17
    half_out, full_out = connection.execute(
        text(
            "SELECT count(pg_column_toast_chunk_id(embedding_half)), "
            "count(pg_column_toast_chunk_id(embedding)) FROM transcript_chunk "
            "WHERE transcript_id = :id"
        ),
        {"id": youtube_id},
    ).one()
    assert (half_out, full_out) == (0, CHUNKS)


def test_0007_keeps_the_rows_of_0006_computes_their_half_copies_and_retrieves_them(
    create_database: Callable[[], str],
) -> None:
    url = create_database()
    config = alembic_config(url)
    command.upgrade(config, BEFORE)
    engine = create_engine(url)
    rng = random.Random(7)
    sessions = (uuid.uuid4(), uuid.uuid4())
    youtube_model = _label({"OPENAI_API_KEY": "k"})
    upload_model = _label({})
    transcripts = {
        "youtube": (uuid.uuid4(), youtube_model, _clustered(rng, 1536, CHUNKS)),
        "upload": (uuid.uuid4(), upload_model, _clustered(rng, 256, CHUNKS)),
    }
    assert (youtube_model, upload_model) == ("text-embedding-3-small", "wordllama-l2-supercat@256")
    vectors = {transcript_id: stored for transcript_id, _, stored in transcripts.values()}
    with engine.begin() as connection:
        assert current_revision(connection) == BEFORE
        _insert_rows_of_0006(connection, sessions, transcripts)
    with engine.connect() as connection:
        before = _snapshot(connection)
    assert [len(before[table]) for table in TABLES] == [2, 2, 2, 3, 2 * CHUNKS, 2, 1, 1]

    command.upgrade(config, "head")
    with engine.connect() as connection:
        assert current_revision(connection) == head_revision()
        after = _snapshot(connection)
        assert _only_columns_of(after, before) == before
        assert "embedding_half" in after["transcript_chunk"][0]
        _assert_inline_layout(connection, transcripts["youtube"][0])
    _assert_half_copies(engine, vectors)
    _assert_retrieval(engine, sessions, transcripts)

    command.downgrade(config, BEFORE)
    with engine.connect() as connection:
        assert current_revision(connection) == BEFORE
        assert _snapshot(connection) == before
        assert not connection.scalar(
            text("SELECT reloptions FROM pg_class WHERE oid = 'transcript_chunk'::regclass")
        )

    command.upgrade(config, "head")
    with engine.connect() as connection:
        assert _only_columns_of(_snapshot(connection), before) == before
        _assert_inline_layout(connection, transcripts["youtube"][0])
    _assert_half_copies(engine, vectors)
    _assert_retrieval(engine, sessions, transcripts)
    engine.dispose()
