"""Retrieval benchmark: `hybrid_search` and `vector_search` (k=6) over many sessions' chunks.

Loads N sessions x M chunks (1536-dim vectors, the width of OpenAI's text-embedding-3-small and
the widest common case; a few dozen words of text each, spread over a few
videos per session) into a fresh database with one binary COPY, then times both searches for
questions against random sessions, each by the default path (a half-precision shortlist
re-ranked at full precision) and by the exact full-precision scan, interleaved, and measures the
vector side's recall@6 of both against a float64 brute force on a sample. The vectors are
clustered like a real model's (a common direction, a topic per video, subtopics of consecutive
chunks; see `session_vectors`): many near-ties at the top, where a lossy shortlist would show.

Baseline, in the same run on the same data: langchain-postgres's `PGVector` (v1) with one
collection per session, the way the original project stored embeddings, timing
`similarity_search_by_vector(k=6)` for the same queries with the store built per request (as the
original did) and built once. langchain-postgres 0.0.19 pins pgvector<0.4 and the app pins 0.5.1,
so the baseline runs in a virtualenv of its own (requirements-baseline.txt; created on first use
in .local/bench-baseline-venv, or $BENCH_BASELINE_VENV) as a subprocess running
benchmarks/pgvector_baseline.py; `--no-baseline` skips it.

Rounds (`--repeat N`, default 3): the data and the baseline's table are loaded once; each round
then times every question of the plan with the app's searches and with the baseline (a fresh
subprocess, its own warm-up), back to back, the baseline first in even rounds and last in odd ones.
Printed: every round's searches pooled, then per figure the median, min and max of the per-round
values, and the ratios against the baseline as the median of the per-round ratios
(benchmarks.common.summarize). `--json FILE` also writes the figures and every round.

`--scale N` then repeats everything with N times the sessions (N x the data) in a fresh database;
mind the disk: about 9 KiB per chunk for the app's table and as much again for the baseline's.

    python -m benchmarks.retrieval [--sessions 100 --chunks 1000 --queries 200] [--repeat 3]
        [--json FILE] [--scale 10]
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
from functools import cache
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np
import psycopg
from numpy.typing import NDArray
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from benchmarks.common import (
    DEFAULT_REPEAT,
    ROOT,
    Figure,
    Ratio,
    Rounds,
    add_round_arguments,
    describe,
    machine,
    migrated_database,
    percentile,
    run_rounds,
    summarize,
    write_json,
)
from services.video_rag.bootstrap import Dependencies
from services.video_rag.db.models import (
    ChatSession,
    SessionVideo,
    Transcript,
    TranscriptChunk,
    Video,
)
from services.video_rag.db.retrieval import RetrievalRepository, RetrievedChunk
from services.video_rag.domain.prompts import content_words, full_text_query
from services.video_rag.settings import DEFAULT_OPENAI_EMBEDDING_DIMENSIONS, load_settings

DIM = DEFAULT_OPENAI_EMBEDDING_DIMENSIONS
# The embedding model label of every benchmark transcript (retrieval searches one model's chunks).
MODEL = "bench"
K = 6
# The timed searches: the default (half-precision shortlist, re-ranked at full precision) and the
# exact full-precision scan, each hybrid and vector only.
TIMED = ("hybrid", "vector", "hybrid_exact", "vector_exact")
# The transcripts' words (see `chunk_text`): a vocabulary of pseudo-words drawn with Zipf's law, as
# real speech is, so that a question's words match as few chunks as they do in real transcripts.
# Calibrated on the labelled evaluation set (tests/eval/data: 5 transcripts, 33 chunks of 123 words
# on average, 1,008 distinct words, 58 questions): the app's full-text query of a question (any of
# its ~4 content words) matches a median 15 % of a session's chunks, a mean 20 %, 42 % at p90. With
# these constants a question matches a median 19 %, a mean 21 %, 36 % at p90. (The 35-word
# vocabulary used before matched every chunk with every question: the full-text side ranked the
# whole session, which no real question does.)
VOCABULARY_SIZE = 4000
ZIPF_EXPONENT = 1.0
CHUNK_WORDS = 125
QUESTION_WORDS = 4
# The most frequent words are the function words and filler that `full_text_query` leaves out of a
# question; questions draw their words from the rest, by the same law.
FUNCTION_WORDS = 50
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
    """1536 float32s with integer values in [-32768, 32767]: exact in float32, cheap to draw
    (uniform noise, for benchmarks to which the vectors' values do not matter)."""
    return array("f", array("h", rng.randbytes(2 * DIM)))


# Clustered embeddings, shaped like those of a real model over transcripts: every vector shares a
# common direction (real embeddings are anisotropic), each video has a topic, and runs of
# SUBTOPIC_CHUNKS consecutive chunks share a subtopic. With these weights the cosine similarity
# of two chunks is about 0.7 within a subtopic, 0.45 within a video and 0.2 across videos, and a
# question near a subtopic is about 0.55 similar to its chunks: many near-ties at the top, the
# hard case for any lossy shortlist.
COMMON_WEIGHT, VIDEO_WEIGHT, SUBTOPIC_WEIGHT = 0.45, 0.5, 0.55
CHUNK_NOISE = (0.35, 0.75)  # each chunk's own noise weight is drawn uniformly from this range
QUESTION_NOISE = (0.6, 0.9)
OFF_TOPIC_SHARE = 0.2  # questions near no subtopic (only the common direction)
SUBTOPIC_CHUNKS = 8


def _unit(rng: np.random.Generator, rows: int = 1) -> NDArray[np.float64]:
    values = rng.standard_normal((rows, DIM))
    norms: NDArray[np.float64] = np.linalg.norm(values, axis=1, keepdims=True)
    return values / norms


def _common(layout: Layout) -> NDArray[np.float64]:
    common: NDArray[np.float64] = _unit(np.random.default_rng([layout.seed, 0]))[0]
    return common


def _topics(layout: Layout, session: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(video topics [videos x DIM], subtopics [videos x subtopics per video x DIM])."""
    rng = np.random.default_rng([layout.seed, 1, session])
    per_video = -(-layout.chunks_per_video() // SUBTOPIC_CHUNKS)
    videos = _unit(rng, layout.videos)
    subtopics = _unit(rng, layout.videos * per_video).reshape(layout.videos, per_video, DIM)
    return videos, subtopics


def session_vectors(layout: Layout, session: int) -> NDArray[np.float32]:
    """The session's chunk vectors [chunks x DIM] as float32, the same on every call."""
    rng = np.random.default_rng([layout.seed, 2, session])
    videos, subtopics = _topics(layout, session)
    per_video = layout.chunks_per_video()
    index = np.arange(layout.chunks)
    video, ordinal = index // per_video, index % per_video
    noise = rng.uniform(*CHUNK_NOISE, size=(layout.chunks, 1))
    vectors = (
        COMMON_WEIGHT * _common(layout)
        + VIDEO_WEIGHT * videos[video]
        + SUBTOPIC_WEIGHT * subtopics[video, ordinal // SUBTOPIC_CHUNKS]
        + noise * _unit(rng, layout.chunks)
    )
    return vectors.astype(np.float32)


def question_vector(layout: Layout, session: int, rng: random.Random) -> list[float]:
    """A question asked in `session`: near one of its subtopics, or (OFF_TOPIC_SHARE) near
    none, as float32 values."""
    generator = np.random.default_rng(rng.getrandbits(64))
    noise = rng.uniform(*QUESTION_NOISE) * _unit(generator)[0]
    vector = COMMON_WEIGHT * _common(layout) + noise
    if rng.random() >= OFF_TOPIC_SHARE:
        videos, subtopics = _topics(layout, session)
        video = rng.randrange(min(layout.videos, layout.chunks))
        subtopic = rng.randrange(subtopics.shape[1])
        vector = (
            vector + VIDEO_WEIGHT * videos[video] + SUBTOPIC_WEIGHT * subtopics[video, subtopic]
        )
    return [float(v) for v in vector.astype(np.float32)]


@cache
def vocabulary() -> tuple[str, ...]:
    """VOCABULARY_SIZE distinct two-syllable pseudo-words, most frequent first (none of them a
    word that `full_text_query` leaves out, such as "some" or "make")."""
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    words = [first + second for first in syllables for second in syllables]
    words = [word for word in words if content_words(word)]
    random.Random(5).shuffle(words)
    return tuple(words[:VOCABULARY_SIZE])


@cache
def _zipf_weights() -> NDArray[np.float64]:
    ranks = np.arange(1, VOCABULARY_SIZE + 1, dtype=np.float64)
    weights: NDArray[np.float64] = np.power(ranks, -ZIPF_EXPONENT)
    return weights / weights.sum()


def chunk_texts(layout: Layout, session: int) -> list[str]:
    """The texts of a session's chunks: CHUNK_WORDS words each, drawn by Zipf's law."""
    rng = np.random.default_rng([layout.seed, 3, session])
    drawn = rng.choice(VOCABULARY_SIZE, size=(layout.chunks, CHUNK_WORDS), p=_zipf_weights())
    words = vocabulary()
    return [" ".join([words[index] for index in row]) for row in drawn.tolist()]


def question_text(rng: random.Random) -> str:
    """The app's full-text query (`full_text_query`) of a question of QUESTION_WORDS distinct
    content words, drawn by the transcripts' law outside the FUNCTION_WORDS."""
    words = vocabulary()
    weights = _zipf_weights()[FUNCTION_WORDS:].tolist()
    chosen: dict[str, None] = {}
    while len(chosen) < QUESTION_WORDS:
        chosen[rng.choices(words[FUNCTION_WORDS:], weights)[0]] = None
    return full_text_query(" ".join(chosen))


def session_chunks(layout: Layout, session: int) -> Iterator[tuple[int, int, str, NDArray[Any]]]:
    """(video, ordinal, text, vector) of one session's chunks, the same on every call."""
    per_video = layout.chunks_per_video()
    vectors = session_vectors(layout, session)
    for index, text_ in enumerate(chunk_texts(layout, session)):
        yield index // per_video, index % per_video, text_, vectors[index]


def _binary_field(value: bytes) -> bytes:
    return struct.pack(">i", len(value)) + value


def _vector_bytes(vector: array[float] | NDArray[Any]) -> bytes:
    value = np.asarray(vector, dtype=">f4")
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


def vector_field(vector: array[float] | NDArray[Any]) -> bytes:
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
        with (
            connection.cursor() as cursor,
            cursor.copy(
                f"COPY transcript_chunk ({CHUNK_COPY_COLUMNS}) FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
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
        connection.commit()
        # As a table in use is (autovacuum): hint bits set, statistics fresh. Otherwise the first
        # questions would each write the pages they read.
        connection.autocommit = True
        connection.execute("VACUUM (ANALYZE) transcript_chunk")
        connection.execute("ANALYZE")
    finally:
        raw.close()
    return transcripts


def recall_of(
    db: Session,
    repository: RetrievalRepository,
    layout: Layout,
    session: int,
    query: list[float],
    exact: bool = False,
) -> float:
    """Share of the true `K` nearest (float64 brute force over the session's float32 vectors)
    that `vector_search` returned; a chunk tied with the K-th within `TIE` counts as a true one."""
    session_id = uuid.UUID(int=session + 1)
    rows = db.execute(
        select(SessionVideo.video_id, TranscriptChunk.ordinal, TranscriptChunk.id)
        .join(SessionVideo, SessionVideo.transcript_id == TranscriptChunk.transcript_id)
        .where(SessionVideo.session_id == session_id)
    )
    chunk_ids = {(video_id, ordinal): chunk_id for video_id, ordinal, chunk_id in rows}
    per_video = layout.chunks_per_video()
    ids = [
        chunk_ids[(f"s{session:05d}v{index // per_video:03d}", index % per_video)]
        for index in range(layout.chunks)
    ]
    vectors = session_vectors(layout, session).astype(np.float64)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    wanted = np.asarray(query, dtype=np.float64)
    distances = 1.0 - vectors @ (wanted / np.linalg.norm(wanted))
    distance = dict(zip(ids, distances.tolist(), strict=True))
    expected = sorted(distance, key=lambda chunk_id: (distance[chunk_id], chunk_id))[:K]
    boundary = distance[expected[-1]]
    found = repository.vector_search(session_id, query, K, embedding_model=MODEL, exact=exact)
    hits = sum(1 for c in found if c.chunk_id in expected or distance[c.chunk_id] <= boundary + TIE)
    return hits / len(expected)


def server_cpu_ns(pid: int) -> int | None:
    """CPU time the database backend `pid` has used so far, in nanoseconds (Linux, a server on
    this machine); None when it cannot be read. Unlike the elapsed time, it does not grow when
    other work on a loaded machine delays the backend or the client."""
    try:
        with open(f"/proc/{pid}/schedstat") as stat:
            return int(stat.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def text_match_shares(db: Session, plan: list[tuple[uuid.UUID, list[float], str]]) -> list[float]:
    """For each question of `plan`, the share of its session's chunks its full-text query
    matches (what the full-text side ranks)."""
    shares = []
    for session_id, _, query_text in plan:
        matched, total = db.execute(
            text(
                "SELECT count(*) FILTER (WHERE c.text_search @@ websearch_to_tsquery("
                "'simple', :query)), count(*) FROM transcript_chunk AS c JOIN session_video AS v"
                " ON v.transcript_id = c.transcript_id WHERE v.session_id = :session_id"
            ),
            {"query": query_text, "session_id": session_id},
        ).one()
        shares.append(matched / total)
    return shares


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
    url: str,
    sessions: int,
    plan: list[tuple[uuid.UUID, list[float], str]],
    warmup: int,
    load: bool = True,
) -> dict[str, Any]:
    """Run pgvector_baseline.py on the loaded database; returns its result (see there). With
    `load` it first copies the chunks into PGVector's table (once per database)."""
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
                    "load": load,
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


# What each round prints (medians, min and max over the rounds) and its ratios against the
# baseline (each round's own, then their median).
ROUND_FIGURES = (
    Figure("hybrid_ms", "hybrid_search p50"),
    Figure("hybrid_p95_ms", "hybrid_search p95"),
    Figure("hybrid_exact_ms", "hybrid_search exact p50"),
    Figure("hybrid_exact_p95_ms", "hybrid_search exact p95"),
    Figure("vector_ms", "vector_search p50"),
    Figure("vector_p95_ms", "vector_search p95"),
    Figure("vector_exact_p95_ms", "vector_search exact p95"),
    Figure("exact_over_shortlist_p95", "hybrid p95, exact / shortlist", "x"),
    Figure("hybrid_cpu_ms", "hybrid server CPU p50"),
    Figure("hybrid_client_cpu_ms", "hybrid client CPU p50"),
    Figure("baseline_per_request_ms", "PGVector built per request p50"),
    Figure("baseline_per_request_p95_ms", "PGVector built per request p95"),
    Figure("baseline_once_ms", "PGVector built once p50"),
    Figure("baseline_once_p95_ms", "PGVector built once p95"),
)
ROUND_RATIOS = (
    Ratio(
        "ratio_per_request_p95",
        "p95 PGVector per request / hybrid (target >= 9)",
        "baseline_per_request_p95_ms",
        "hybrid_p95_ms",
    ),
    Ratio(
        "ratio_once_p95",
        "p95 PGVector built once / hybrid",
        "baseline_once_p95_ms",
        "hybrid_p95_ms",
    ),
    Ratio(
        "ratio_exact_per_request_p95",
        "p95 PGVector per request / hybrid exact",
        "baseline_per_request_p95_ms",
        "hybrid_exact_p95_ms",
    ),
)


@dataclass
class _AppRound:
    """One round of the app's searches: timings (ms) per search, and the vector top-k."""

    timings: dict[str, list[float]]
    server_cpu: dict[str, list[float]]
    client_cpu: dict[str, list[float]]
    vector_top: list[set[int]]


def _round_figures(app: _AppRound, base: dict[str, Any] | None) -> dict[str, float]:
    """One round's figures: the app's medians and p95s, the baseline's, and their agreement."""
    figures: dict[str, float] = {}
    for name in TIMED:
        figures[f"{name}_ms"] = median(app.timings[name])
        figures[f"{name}_p95_ms"] = percentile(app.timings[name], 0.95)
        if app.server_cpu[name]:
            figures[f"{name}_cpu_ms"] = median(app.server_cpu[name])
    figures["hybrid_client_cpu_ms"] = median(app.client_cpu["hybrid"])
    figures["exact_over_shortlist_p95"] = figures["hybrid_exact_p95_ms"] / figures["hybrid_p95_ms"]
    if base is not None:
        for key in ("per_request", "once"):
            figures[f"baseline_{key}_ms"] = median(base[f"{key}_ms"])
            figures[f"baseline_{key}_p95_ms"] = percentile(base[f"{key}_ms"], 0.95)
        same = sum(set(top) == ours for top, ours in zip(base["top"], app.vector_top, strict=True))
        figures["agreement"] = same / len(app.vector_top)
    return figures


def measure(
    layout: Layout, queries: int, recall_sample: int, baseline: bool, repeat: int = DEFAULT_REPEAT
) -> dict[str, Any]:
    """Load `layout` into a fresh database and measure `repeat` rounds, each timing every
    question of the same plan with the app's searches and with the baseline (when asked), back
    to back in alternating order; returns the figures, every round's timings pooled, and the
    rounds (`Rounds`)."""
    rng = random.Random(11)
    figures: dict[str, Any] = {}
    with migrated_database() as url:
        deps = Dependencies(settings=load_settings({"PG_VECTOR_CONNECTION_STRING": url}))
        began = time.perf_counter()
        load(deps, layout)
        figures["load_seconds"] = time.perf_counter() - began
        pooled = _AppRound(
            {name: [] for name in TIMED}, {name: [] for name in TIMED}, {n: [] for n in TIMED}, []
        )
        recalls: dict[bool, list[float]] = {False: [], True: []}
        with Session(deps.engine) as db:
            figures["bytes"] = db.scalar(text("SELECT pg_total_relation_size('transcript_chunk')"))
            figures["heap_bytes"] = db.scalar(text("SELECT pg_relation_size('transcript_chunk')"))
            repository = RetrievalRepository(db)
            plan = []
            for _ in range(queries):
                session = rng.randrange(layout.sessions)
                plan.append(
                    (
                        uuid.UUID(int=session + 1),
                        question_vector(layout, session, rng),
                        question_text(rng),
                    )
                )

            figures["text_match_share"] = text_match_shares(db, plan)
            backend = db.scalar(text("SELECT pg_backend_pid()"))

            def searches(questions: list[tuple[uuid.UUID, list[float], str]]) -> _AppRound:
                """Every question by each search, interleaved (the machine's moods fall on every
                variant alike)."""
                measured = _AppRound(
                    {n: [] for n in TIMED}, {n: [] for n in TIMED}, {n: [] for n in TIMED}, []
                )

                def timed(name: str, search: Any, *args: Any, **kw: Any) -> list[RetrievedChunk]:
                    cpu = server_cpu_ns(backend)
                    own = time.thread_time()
                    start = time.perf_counter()
                    found: list[RetrievedChunk] = search(*args, embedding_model=MODEL, **kw)
                    measured.timings[name].append((time.perf_counter() - start) * 1000)
                    measured.client_cpu[name].append((time.thread_time() - own) * 1000)
                    if cpu is not None and (after := server_cpu_ns(backend)) is not None:
                        measured.server_cpu[name].append((after - cpu) / 1e6)
                    assert len(found) == K, found
                    return found

                for session_id, vector, words in questions:
                    for exact in (False, True):
                        suffix = "_exact" if exact else ""
                        timed(
                            f"hybrid{suffix}",
                            repository.hybrid_search,
                            session_id,
                            vector,
                            words,
                            k=K,
                            exact=exact,
                        )
                        found = timed(
                            f"vector{suffix}",
                            repository.vector_search,
                            session_id,
                            vector,
                            K,
                            exact=exact,
                        )
                        if not exact:
                            measured.vector_top.append({chunk.chunk_id for chunk in found})
                return measured

            def app_round(_: int) -> _AppRound:
                measured = searches(plan)
                for name in TIMED:
                    pooled.timings[name] += measured.timings[name]
                    pooled.server_cpu[name] += measured.server_cpu[name]
                    pooled.client_cpu[name] += measured.client_cpu[name]
                return measured

            searches(plan[:5])  # warm-up
            db.rollback()  # no snapshot held while the baseline copies and vacuums
            baseline_round = None
            if baseline:
                # PGVector's table, filled once before the rounds; each round then only searches.
                figures["baseline_load"] = pgvector_baseline(url, layout.sessions, [], 0)

                def baseline_round(_: int) -> dict[str, Any]:
                    return pgvector_baseline(
                        url, layout.sessions, plan, warmup=min(5, queries), load=False
                    )

            rounds, order = run_rounds(repeat, app_round, baseline_round, _round_figures)
            for _ in range(min(recall_sample, queries)):
                session = rng.randrange(layout.sessions)
                query = question_vector(layout, session, rng)
                for exact in (False, True):
                    recalls[exact].append(recall_of(db, repository, layout, session, query, exact))
            db.rollback()
        deps.close()
        figures.update({f"{name}_ms": values for name, values in pooled.timings.items()})
        figures.update({f"{name}_cpu_ms": values for name, values in pooled.server_cpu.items()})
        figures.update({f"{name}_client_ms": values for name, values in pooled.client_cpu.items()})
        for exact, key in ((False, "recall"), (True, "recall_exact")):
            values = recalls[exact]
            figures[key] = sum(values) / len(values) if values else math.nan
        figures["recalls"] = len(recalls[False])
        figures["rounds"] = rounds
        figures["baseline_first"] = order
    return figures


def _report(layout: Layout, figures: dict[str, Any]) -> tuple[dict[str, float], Rounds]:
    """Print the pooled timings of every round and the rounds' summary; returns the figures
    (medians over the rounds, with `_min` and `_max`; recall and text shares as measured) and
    the rounds."""
    rounds: list[dict[str, float]] = figures["rounds"]
    total = layout.sessions * layout.chunks
    print(
        f"{layout.sessions} sessions x {layout.chunks} chunks ({layout.videos} videos each) = "
        f"{total:,} chunks, transcript_chunk {figures['bytes'] / 2**20:,.0f} MiB (heap "
        f"{figures['heap_bytes'] / 2**20:,.0f} MiB), loaded in {figures['load_seconds']:.1f} s "
        f"({total / figures['load_seconds']:,.0f} chunks/s)"
    )
    print(f"  every search of all {len(rounds)} round(s) pooled:")
    print(f"  hybrid_search k={K}:          {describe(figures['hybrid_ms'])}  (shortlist)")
    print(f"  hybrid_search k={K} exact:    {describe(figures['hybrid_exact_ms'])}")
    print(f"  vector_search k={K}:          {describe(figures['vector_ms'])}")
    print(f"  vector_search k={K} exact:    {describe(figures['vector_exact_ms'])}")
    print(
        f"  vector recall@{K} against a float32 brute force (clustered embeddings): "
        f"{figures['recall']:.3f} shortlist, {figures['recall_exact']:.3f} exact, over "
        f"{figures['recalls']} queries"
    )
    shares = figures["text_match_share"]
    print(
        f"  full-text matches per question: median {median(shares):.0%}, p90 "
        f"{percentile(shares, 0.9):.0%} of the session's chunks (Zipf text; see VOCABULARY_SIZE)"
    )
    client = figures["hybrid_client_ms"]
    print(
        f"  client CPU per hybrid search (SQLAlchemy, psycopg, this process): median "
        f"{median(client):.2f} / p95 {percentile(client, 0.95):.2f} ms"
    )
    cpu = {name: figures[f"{name}_cpu_ms"] for name in TIMED}
    if all(cpu.values()):
        print(
            "  server CPU per search (the backend's own time, unaffected by the machine's load): "
            + ", ".join(
                f"{name} median {median(values):.2f} / p95 {percentile(values, 0.95):.2f} ms"
                for name, values in cpu.items()
            )
        )
    loaded = figures.get("baseline_load")
    if loaded is not None:
        versions = ", ".join(f"{name} {v}" for name, v in loaded["versions"].items())
        agreement = min(r["agreement"] for r in rounds)
        print(
            f"  baseline: PGVector v1 ({versions}), one collection per session, its store built "
            f"per request (as the original) and built once; langchain_pg_embedding "
            f"{loaded['table_bytes'] / 2**20:,.0f} MiB, copied in {loaded['load_seconds']:.1f} s;"
            f" same top {K} as vector_search for {agreement:.0%} of the queries"
        )
    summary = summarize(
        rounds, figures["baseline_first"], ROUND_FIGURES, ROUND_RATIOS if loaded else ()
    )
    result = Rounds(rounds, figures["baseline_first"], summary)
    flat = result.medians()
    flat.update(
        recall=figures["recall"],
        recall_exact=figures["recall_exact"],
        text_match_share=median(shares),
    )
    if loaded is not None:
        flat["agreement"] = min(r["agreement"] for r in rounds)
    return flat, result


def run(
    sessions: int,
    chunks: int,
    queries: int,
    videos: int = 5,
    recall_sample: int = 20,
    baseline: bool = True,
    scale: int = 1,
    repeat: int = DEFAULT_REPEAT,
    json_path: Path | None = None,
) -> dict[str, float]:
    """Load, measure `repeat` rounds and print; returns medians over the rounds (and their min
    and max as `<key>_min`, `<key>_max`) in milliseconds, the recall and, with the baseline, its
    figures and the ratios (medians of the per-round ratios; with `scale` > 1 also those keys at
    that scale, prefixed `scaled_`). `json_path`: also write them and every round there."""
    layout = Layout(sessions, chunks, min(videos, chunks), seed=7)
    print(f"retrieval benchmark on {machine()} (as it starts), {repeat} round(s)")
    figures = measure(layout, queries, recall_sample, baseline, repeat)
    result, rounds = _report(layout, figures)
    document: dict[str, Any] = {"figures": result, **rounds.as_json()}
    if scale > 1:
        bigger = Layout(sessions * scale, chunks, layout.videos, seed=7)
        figures = measure(bigger, queries, recall_sample, baseline, repeat)
        print(f"at {scale}x the data (machine: {machine()}):")
        scaled, scaled_rounds = _report(bigger, figures)
        for key in (
            "hybrid_p95_ms",
            "hybrid_exact_p95_ms",
            "vector_p95_ms",
            "baseline_per_request_p95_ms",
        ):
            if key in scaled:
                print(f"  {key}: {result[key]:.2f} -> {scaled[key]:.2f} ({scale}x the data)")
        result.update({f"scaled_{key}": value for key, value in scaled.items()})
        document["scaled"] = {"figures": scaled, **scaled_rounds.as_json()}
    print(f"retrieval benchmark done; machine: {machine()}")
    write_json(json_path, "retrieval", document)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--chunks", type=int, default=1000, help="chunks per session")
    parser.add_argument("--queries", type=int, default=200, help="questions per round")
    parser.add_argument("--videos", type=int, default=5, help="videos per session")
    parser.add_argument("--recall-sample", type=int, default=20)
    parser.add_argument("--no-baseline", action="store_true", help="skip the PGVector baseline")
    parser.add_argument("--scale", type=int, default=1, help="also measure at N x the sessions")
    add_round_arguments(parser)
    args = parser.parse_args()
    run(
        args.sessions,
        args.chunks,
        args.queries,
        args.videos,
        args.recall_sample,
        baseline=not args.no_baseline,
        scale=args.scale,
        repeat=args.repeat,
        json_path=args.json,
    )


if __name__ == "__main__":
    main()
