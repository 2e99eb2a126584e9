"""Retrieval benchmark: `hybrid_search` and `vector_search` (k=6) over many sessions' chunks.

Loads N sessions x M chunks (1536-dim vectors, a few dozen words of text each, spread over a few
videos per session) into a fresh database with one binary COPY, then times both searches for
random queries against random sessions and checks the vector side's recall against brute force
in Python on a sample. The vectors are uniformly random: an exact scan costs the same whatever
the distribution, and the recall check needs no particular one.

    python -m benchmarks.retrieval [--sessions 100 --chunks 1000 --queries 200]
"""

from __future__ import annotations

import argparse
import math
import random
import struct
import sys
import time
import uuid
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import mul
from statistics import median

import psycopg
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from benchmarks.common import describe, machine, migrated_database, percentile
from services.video_rag.bootstrap import Dependencies
from services.video_rag.db.models import (
    ChatSession,
    SessionVideo,
    Transcript,
    TranscriptChunk,
    Video,
)
from services.video_rag.db.retrieval import RetrievalRepository
from services.video_rag.settings import STORED_EMBEDDING_DIMENSIONS, load_settings

DIM = STORED_EMBEDDING_DIMENSIONS
K = 6
WORDS = (
    "battery keyboard screen review performance price design camera speaker port windows "
    "surface tablet laptop hours test video light weight pen kickstand display brightness "
    "storage memory processor graphics thermal fan noise hinge trackpad webcam microphone"
).split()
# Distances closer than this count as a tie: pgvector sums in float32, brute force in float64.
TIE = 1e-6
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)


@dataclass(frozen=True)
class Layout:
    sessions: int
    chunks: int
    videos: int
    seed: int

    def chunks_per_video(self) -> int:
        return math.ceil(self.chunks / self.videos)


def random_vector(rng: random.Random) -> array[float]:
    """1536 float32s with integer values in [-32768, 32767]: exact in float32, cheap to draw."""
    return array("f", array("h", rng.randbytes(2 * DIM)))


def session_chunks(layout: Layout, session: int) -> Iterator[tuple[int, int, str, array[float]]]:
    """(video, ordinal, text, vector) of one session's chunks, the same on every call."""
    rng = random.Random(f"{layout.seed}/{session}")
    per_video = layout.chunks_per_video()
    for index in range(layout.chunks):
        text_ = " ".join(rng.choices(WORDS, k=40))
        yield index // per_video, index % per_video, text_, random_vector(rng)


def _binary_field(value: bytes) -> bytes:
    return struct.pack(">i", len(value)) + value


def _vector_bytes(vector: array[float]) -> bytes:
    value = array("f", vector)
    if sys.byteorder == "little":
        value.byteswap()
    return struct.pack(">HH", len(value), 0) + value.tobytes()


def load(deps: Dependencies, layout: Layout) -> dict[int, list[uuid.UUID]]:
    """Sessions, videos, transcripts and links through the ORM, chunks by binary COPY. Returns
    each session's transcript ids by video index."""
    now = datetime.now(UTC)
    transcripts: dict[int, list[uuid.UUID]] = {}
    with Session(deps.engine) as db:
        for session in range(layout.sessions):
            session_id = uuid.UUID(int=session + 1)
            db.add(
                ChatSession(
                    id=session_id,
                    token_hash=session_id.bytes * 2,
                    created_at=now,
                    expires_at=now + timedelta(days=1),
                )
            )
            transcripts[session] = [uuid.uuid4() for _ in range(layout.videos)]
        db.flush()
        video_rows, transcript_rows, link_rows = [], [], []
        for session, ids in transcripts.items():
            for video, transcript_id in enumerate(ids):
                video_id = f"s{session:05d}v{video:03d}"
                video_rows.append({"id": video_id, "title": f"Video {video_id}"})
                transcript_rows.append(
                    {
                        "id": transcript_id,
                        "video_id": video_id,
                        "language": "en",
                        "is_generated": False,
                        "source": "youtube",
                        "embedding_model": "bench",
                        "duration_seconds": 30.0 * layout.chunks_per_video(),
                        "chunk_count": layout.chunks_per_video(),
                    }
                )
                link_rows.append(
                    {
                        "session_id": uuid.UUID(int=session + 1),
                        "video_id": video_id,
                        "transcript_id": transcript_id,
                        "added_at": now,
                    }
                )
        db.execute(insert(Video), video_rows)
        db.execute(insert(Transcript), transcript_rows)
        db.execute(insert(SessionVideo), link_rows)
        db.commit()

    raw = deps.engine.raw_connection()
    try:
        connection = raw.driver_connection
        assert isinstance(connection, psycopg.Connection)
        with connection.cursor() as cursor:
            with cursor.copy(
                "COPY transcript_chunk (transcript_id, ordinal, start_seconds, end_seconds, text,"
                " embedding) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.write(_COPY_HEADER)
                for session in range(layout.sessions):
                    batch = bytearray()
                    for video, ordinal, text_, vector in session_chunks(layout, session):
                        batch += struct.pack(">h", 6)
                        batch += _binary_field(transcripts[session][video].bytes)
                        batch += _binary_field(struct.pack(">i", ordinal))
                        batch += _binary_field(struct.pack(">d", ordinal * 30.0))
                        batch += _binary_field(struct.pack(">d", ordinal * 30.0 + 30.0))
                        batch += _binary_field(text_.encode())
                        batch += _binary_field(_vector_bytes(vector))
                    copy.write(batch)
                copy.write(struct.pack(">h", -1))
            cursor.execute("ANALYZE")
        connection.commit()
    finally:
        raw.close()
    return transcripts


def _norm(vector: array[float]) -> float:
    return math.sqrt(sum(map(mul, vector, vector)))


def recall_of(
    db: Session, repository: RetrievalRepository, layout: Layout, session: int, query: array[float]
) -> float:
    """Share of the true `K` nearest (brute force over the session's chunks) that
    `vector_search` returned; a chunk tied with the K-th within `TIE` counts as a true one."""
    session_id = uuid.UUID(int=session + 1)
    rows = db.execute(
        select(SessionVideo.video_id, TranscriptChunk.ordinal, TranscriptChunk.id)
        .join(SessionVideo, SessionVideo.transcript_id == TranscriptChunk.transcript_id)
        .where(SessionVideo.session_id == session_id)
    )
    chunk_ids = {(video_id, ordinal): chunk_id for video_id, ordinal, chunk_id in rows}
    query_norm = _norm(query)
    distance = {}
    for video, ordinal, _, vector in session_chunks(layout, session):
        chunk_id = chunk_ids[(f"s{session:05d}v{video:03d}", ordinal)]
        dot = sum(map(mul, query, vector))
        distance[chunk_id] = 1.0 - dot / (query_norm * _norm(vector))
    expected = sorted(distance, key=lambda chunk_id: (distance[chunk_id], chunk_id))[:K]
    boundary = distance[expected[-1]]
    found = repository.vector_search(session_id, query.tolist(), K)
    hits = sum(1 for c in found if c.chunk_id in expected or distance[c.chunk_id] <= boundary + TIE)
    return hits / len(expected)


def run(
    sessions: int, chunks: int, queries: int, videos: int = 5, recall_sample: int = 20
) -> dict[str, float]:
    """Load, measure and print; returns medians in milliseconds, the p95s and the recall."""
    layout = Layout(sessions, chunks, min(videos, chunks), seed=7)
    rng = random.Random(11)
    with migrated_database() as url:
        deps = Dependencies(settings=load_settings({"PG_VECTOR_CONNECTION_STRING": url}))
        began = time.perf_counter()
        load(deps, layout)
        load_seconds = time.perf_counter() - began
        hybrid_ms: list[float] = []
        vector_ms: list[float] = []
        recalls: list[float] = []
        with Session(deps.engine) as db:
            size = db.scalar(text("SELECT pg_total_relation_size('transcript_chunk')")) or 0
            repository = RetrievalRepository(db)
            plan = [
                (
                    uuid.UUID(int=rng.randrange(sessions) + 1),
                    random_vector(rng).tolist(),
                    " ".join(rng.choices(WORDS, k=3)),
                )
                for _ in range(queries)
            ]
            for session_id, vector, words in plan[:5]:  # warm-up
                repository.hybrid_search(session_id, vector, words, k=K)
                repository.vector_search(session_id, vector, K)
            for session_id, vector, words in plan:
                start = time.perf_counter()
                found = repository.hybrid_search(session_id, vector, words, k=K)
                hybrid_ms.append((time.perf_counter() - start) * 1000)
                assert len(found) == K, found
                start = time.perf_counter()
                found = repository.vector_search(session_id, vector, K)
                vector_ms.append((time.perf_counter() - start) * 1000)
                assert len(found) == K, found
            for _ in range(min(recall_sample, queries)):
                session = rng.randrange(sessions)
                recalls.append(recall_of(db, repository, layout, session, random_vector(rng)))
            db.rollback()
        deps.close()
    recall = sum(recalls) / len(recalls) if recalls else math.nan
    total = sessions * chunks
    print(f"retrieval benchmark on {machine()}")
    print(
        f"{sessions} sessions x {chunks} chunks ({layout.videos} videos each) = {total:,} chunks, "
        f"transcript_chunk {size / 2**20:,.0f} MiB, loaded in {load_seconds:.1f} s "
        f"({total / load_seconds:,.0f} chunks/s)"
    )
    print(f"  hybrid_search k={K}:  {describe(hybrid_ms)}")
    print(f"  vector_search k={K}:  {describe(vector_ms)}")
    print(f"  vector recall@{K} against brute force: {recall:.3f} over {len(recalls)} queries")
    return {
        "hybrid_ms": median(hybrid_ms),
        "hybrid_p95_ms": percentile(hybrid_ms, 0.95),
        "vector_ms": median(vector_ms),
        "vector_p95_ms": percentile(vector_ms, 0.95),
        "recall": recall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--chunks", type=int, default=1000, help="chunks per session")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--videos", type=int, default=5, help="videos per session")
    parser.add_argument("--recall-sample", type=int, default=20)
    args = parser.parse_args()
    run(args.sessions, args.chunks, args.queries, args.videos, args.recall_sample)


if __name__ == "__main__":
    main()
