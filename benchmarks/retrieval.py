"""Retrieval benchmark: `hybrid_search` and `vector_search` (k=6) over many sessions' chunks.

Loads N sessions x M chunks (1536-dim vectors, the width of OpenAI's text-embedding-3-small and
the widest common case; a few dozen words of text each, spread over a few
videos per session) into a fresh database with one binary COPY, then times both searches for
random queries against random sessions and checks the vector side's recall against brute force
in Python on a sample. The vectors are uniformly random: an exact scan costs the same whatever
the distribution, and the recall check needs no particular one.

Baseline, in the same run on the same data: langchain-postgres's `PGVector` (v1) with one
collection per session, the way the original project stored embeddings, timing
`similarity_search_by_vector(k=6)` for the same queries with the store built per request (as the
original did) and built once. langchain-postgres 0.0.19 pins pgvector<0.4 and the app pins 0.5.1,
so the baseline runs in a virtualenv of its own (requirements-baseline.txt; created on first use
in .local/bench-baseline-venv, or $BENCH_BASELINE_VENV) as a subprocess running
benchmarks/pgvector_baseline.py; `--no-baseline` skips it.

`--scale N` then repeats everything with N times the sessions (N x the data) in a fresh database;
mind the disk: about 9 KiB per chunk for the app's table and as much again for the baseline's.

    python -m benchmarks.retrieval [--sessions 100 --chunks 1000 --queries 200] [--scale 10]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import mul
from pathlib import Path
from statistics import median
from typing import Any

import psycopg
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from benchmarks.common import ROOT, describe, machine, migrated_database, percentile
from services.video_rag.bootstrap import Dependencies
from services.video_rag.db.models import (
    ChatSession,
    SessionVideo,
    Transcript,
    TranscriptChunk,
    Video,
)
from services.video_rag.db.retrieval import RetrievalRepository
from services.video_rag.settings import DEFAULT_OPENAI_EMBEDDING_DIMENSIONS, load_settings

DIM = DEFAULT_OPENAI_EMBEDDING_DIMENSIONS
# The embedding model label of every benchmark transcript (retrieval searches one model's chunks).
MODEL = "bench"
K = 6
WORDS = (
    "battery keyboard screen review performance price design camera speaker port windows "
    "surface tablet laptop hours test video light weight pen kickstand display brightness "
    "storage memory processor graphics thermal fan noise hinge trackpad webcam microphone"
).split()
BASELINE_REQUIREMENTS = Path(__file__).with_name("requirements-baseline.txt")
BASELINE_SCRIPT = Path(__file__).with_name("pgvector_baseline.py")
BASELINE_SECONDS = 3600
# Distances closer than this count as a tie: pgvector sums in float32, brute force in float64.
TIE = 1e-6


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


# `COPY transcript_chunk (CHUNK_COPY_COLUMNS) FROM STDIN (FORMAT BINARY)`: COPY_HEADER, then one
# `chunk_copy_row` per chunk, then COPY_TRAILER.
CHUNK_COPY_COLUMNS = "transcript_id, ordinal, start_seconds, end_seconds, text, embedding"
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)


def chunk_copy_row(
    transcript_id: uuid.UUID, ordinal: int, start: float, end: float, text_: str, vector: bytes
) -> bytes:
    """One `transcript_chunk` row in COPY's binary format; `vector` from `vector_field`."""
    return b"".join(
        (
            struct.pack(">h", 6),
            _binary_field(transcript_id.bytes),
            _binary_field(struct.pack(">i", ordinal)),
            _binary_field(struct.pack(">d", start)),
            _binary_field(struct.pack(">d", end)),
            _binary_field(text_.encode()),
            vector,
        )
    )


def vector_field(vector: array[float]) -> bytes:
    """A vector as one binary COPY field (computed once, it can be reused for many rows)."""
    return _binary_field(_vector_bytes(vector))


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
                        "embedding_model": MODEL,
                        "embedding_dimensions": DIM,
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
                f"COPY transcript_chunk ({CHUNK_COPY_COLUMNS}) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.write(COPY_HEADER)
                for session in range(layout.sessions):
                    batch = bytearray()
                    for video, ordinal, text_, vector in session_chunks(layout, session):
                        batch += chunk_copy_row(
                            transcripts[session][video],
                            ordinal,
                            ordinal * 30.0,
                            ordinal * 30.0 + 30.0,
                            text_,
                            vector_field(vector),
                        )
                    copy.write(batch)
                copy.write(COPY_TRAILER)
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
    found = repository.vector_search(session_id, query.tolist(), K, embedding_model=MODEL)
    hits = sum(1 for c in found if c.chunk_id in expected or distance[c.chunk_id] <= boundary + TIE)
    return hits / len(expected)


def baseline_python() -> Path:
    """The baseline virtualenv's python, created and installed from requirements-baseline.txt
    when missing or out of date (under a file lock: concurrent runs install once)."""
    venv = Path(os.environ.get("BENCH_BASELINE_VENV") or ROOT / ".local" / "bench-baseline-venv")
    python = venv / "bin" / "python"
    stamp = venv / "requirements.installed"
    wanted = BASELINE_REQUIREMENTS.read_text()
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists() and stamp.exists() and stamp.read_text() == wanted:
            return python
        print(f"installing the baseline's virtualenv in {venv} ...", flush=True)
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        installed = subprocess.run(
            [*pip, "-r", str(BASELINE_REQUIREMENTS)], capture_output=True, text=True
        )
        if installed.returncode != 0:
            raise RuntimeError(f"pip failed:\n{installed.stdout}\n{installed.stderr}")
        stamp.write_text(wanted)
    return python


def pgvector_baseline(
    url: str, sessions: int, plan: list[tuple[uuid.UUID, list[float], str]], warmup: int
) -> dict[str, Any]:
    """Run pgvector_baseline.py on the loaded database; returns its result (see there)."""
    python = baseline_python()
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
        job, result = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job.write_text(
            json.dumps(
                {
                    "url": url,
                    "sessions": [str(uuid.UUID(int=s + 1)) for s in range(sessions)],
                    "queries": [[str(session), vector] for session, vector, _ in plan],
                    "k": K,
                    "warmup": warmup,
                }
            )
        )
        subprocess.run(
            [str(python), str(BASELINE_SCRIPT), str(job), str(result)],
            check=True,
            cwd=tmp,
            timeout=BASELINE_SECONDS,
        )
        figures: dict[str, Any] = json.loads(result.read_text())
    return figures


def measure(layout: Layout, queries: int, recall_sample: int, baseline: bool) -> dict[str, Any]:
    """Load `layout` into a fresh database and measure; returns the timings and figures."""
    rng = random.Random(11)
    figures: dict[str, Any] = {}
    with migrated_database() as url:
        deps = Dependencies(settings=load_settings({"PG_VECTOR_CONNECTION_STRING": url}))
        began = time.perf_counter()
        load(deps, layout)
        figures["load_seconds"] = time.perf_counter() - began
        hybrid_ms: list[float] = []
        vector_ms: list[float] = []
        vector_top: list[set[int]] = []
        recalls: list[float] = []
        with Session(deps.engine) as db:
            figures["bytes"] = db.scalar(text("SELECT pg_total_relation_size('transcript_chunk')"))
            repository = RetrievalRepository(db)
            plan = [
                (
                    uuid.UUID(int=rng.randrange(layout.sessions) + 1),
                    random_vector(rng).tolist(),
                    " ".join(rng.choices(WORDS, k=3)),
                )
                for _ in range(queries)
            ]
            for session_id, vector, words in plan[:5]:  # warm-up
                repository.hybrid_search(session_id, vector, words, k=K, embedding_model=MODEL)
                repository.vector_search(session_id, vector, K, embedding_model=MODEL)
            for session_id, vector, words in plan:
                start = time.perf_counter()
                found = repository.hybrid_search(
                    session_id, vector, words, k=K, embedding_model=MODEL
                )
                hybrid_ms.append((time.perf_counter() - start) * 1000)
                assert len(found) == K, found
                start = time.perf_counter()
                found = repository.vector_search(session_id, vector, K, embedding_model=MODEL)
                vector_ms.append((time.perf_counter() - start) * 1000)
                assert len(found) == K, found
                vector_top.append({chunk.chunk_id for chunk in found})
            for _ in range(min(recall_sample, queries)):
                session = rng.randrange(layout.sessions)
                recalls.append(recall_of(db, repository, layout, session, random_vector(rng)))
            db.rollback()
        deps.close()
        figures.update(hybrid_ms=hybrid_ms, vector_ms=vector_ms)
        figures["recall"] = sum(recalls) / len(recalls) if recalls else math.nan
        figures["recalls"] = len(recalls)
        if baseline:
            result = pgvector_baseline(url, layout.sessions, plan, warmup=min(5, queries))
            same = sum(
                set(top) == ours for top, ours in zip(result["top"], vector_top, strict=True)
            )
            figures["baseline"] = result
            figures["agreement"] = same / len(vector_top)
    return figures


def _report(layout: Layout, figures: dict[str, Any]) -> dict[str, float]:
    hybrid_ms, vector_ms = figures["hybrid_ms"], figures["vector_ms"]
    total = layout.sessions * layout.chunks
    print(
        f"{layout.sessions} sessions x {layout.chunks} chunks ({layout.videos} videos each) = "
        f"{total:,} chunks, transcript_chunk {figures['bytes'] / 2**20:,.0f} MiB, loaded in "
        f"{figures['load_seconds']:.1f} s ({total / figures['load_seconds']:,.0f} chunks/s)"
    )
    print(f"  hybrid_search k={K}:  {describe(hybrid_ms)}")
    print(f"  vector_search k={K}:  {describe(vector_ms)}")
    print(
        f"  vector recall@{K} against brute force: {figures['recall']:.3f} over "
        f"{figures['recalls']} queries"
    )
    result = {
        "hybrid_ms": median(hybrid_ms),
        "hybrid_p95_ms": percentile(hybrid_ms, 0.95),
        "vector_ms": median(vector_ms),
        "vector_p95_ms": percentile(vector_ms, 0.95),
        "recall": figures["recall"],
    }
    baseline = figures.get("baseline")
    if baseline is None:
        return result
    per_request, once = baseline["per_request_ms"], baseline["once_ms"]
    versions = ", ".join(f"{name} {v}" for name, v in baseline["versions"].items())
    print(
        f"  baseline: PGVector v1 ({versions}), one collection per session; "
        f"langchain_pg_embedding {baseline['table_bytes'] / 2**20:,.0f} MiB, copied in "
        f"{baseline['load_seconds']:.1f} s; same top {K} as vector_search for "
        f"{figures['agreement']:.0%} of the queries"
    )
    print(f"    store built per request:  {describe(per_request)}")
    print(f"    store built once:         {describe(once)}")
    hybrid_p95 = percentile(hybrid_ms, 0.95)
    ratio = percentile(per_request, 0.95) / hybrid_p95
    ratio_once = percentile(once, 0.95) / hybrid_p95
    print(
        f"  p95 ratio, baseline / hybrid: {ratio:.1f}x per request (target >= 9), "
        f"{ratio_once:.1f}x built once"
    )
    result.update(
        baseline_per_request_ms=median(per_request),
        baseline_per_request_p95_ms=percentile(per_request, 0.95),
        baseline_once_ms=median(once),
        baseline_once_p95_ms=percentile(once, 0.95),
        ratio_per_request_p95=ratio,
        ratio_once_p95=ratio_once,
        agreement=figures["agreement"],
    )
    return result


def run(
    sessions: int,
    chunks: int,
    queries: int,
    videos: int = 5,
    recall_sample: int = 20,
    baseline: bool = True,
    scale: int = 1,
) -> dict[str, float]:
    """Load, measure and print; returns medians and p95s in milliseconds, the recall and, with
    the baseline, its figures and the ratios (with `scale` > 1 also those keys at that scale,
    prefixed `scaled_`)."""
    layout = Layout(sessions, chunks, min(videos, chunks), seed=7)
    figures = measure(layout, queries, recall_sample, baseline)
    print(f"retrieval benchmark on {machine()}")
    result = _report(layout, figures)
    if scale > 1:
        bigger = Layout(sessions * scale, chunks, layout.videos, seed=7)
        figures = measure(bigger, queries, recall_sample, baseline)
        print(f"at {scale}x the data (machine: {machine()}):")
        scaled = _report(bigger, figures)
        for key in ("hybrid_p95_ms", "vector_p95_ms", "baseline_per_request_p95_ms"):
            if key in scaled:
                print(f"  {key}: {result[key]:.2f} -> {scaled[key]:.2f} ({scale}x the data)")
        result.update({f"scaled_{key}": value for key, value in scaled.items()})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--chunks", type=int, default=1000, help="chunks per session")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--videos", type=int, default=5, help="videos per session")
    parser.add_argument("--recall-sample", type=int, default=20)
    parser.add_argument("--no-baseline", action="store_true", help="skip the PGVector baseline")
    parser.add_argument("--scale", type=int, default=1, help="also measure at N x the sessions")
    args = parser.parse_args()
    run(
        args.sessions,
        args.chunks,
        args.queries,
        args.videos,
        args.recall_sample,
        baseline=not args.no_baseline,
        scale=args.scale,
    )


if __name__ == "__main__":
    main()
