"""Ingestion benchmark: a one-hour transcript (about 9,000 words) from captions to committed rows.

1. The transcript source and the embedding call are fakes; the embedding fake sleeps a fixed time
   per request, and what is reported is the time OUTSIDE the fakes: cleaning, chunking, the
   database transaction (video, transcript, chunks with 1536-dim vectors, link) and the service
   around it. The baseline, measured in the same run, is the same rows written one INSERT per
   chunk, the way a naive loop over chunks would.
2. Embedding requests: the same transcript embedded by the real OpenAI client (langchain-openai)
   against the local fake OpenAI server (tests/support/fake_openai.py), counting the requests
   the server received, at the default EMBEDDING_BATCH_SIZE and at a small one (target: one
   request per batch of EMBEDDING_BATCH_SIZE chunks, not one per chunk).
3. Ten videos in one request, with a transcript source that takes `--fetch-latency-ms` (300) per
   video: wall time against one video's, at INGEST_CONCURRENCY 4 (the default), on an engine
   whose pool keeps `--pool-size` (4) connections, with the most connections checked out at
   once (target: ten videos within 2x one video's time, at most 4 connections).
   Every abuse limit is off except CLIENT_PASSAGES_PER_HOUR, set out of reach so that its
   counting still runs.

    python -m benchmarks.ingest [--runs 20] [--latency-ms 50] [--fetch-latency-ms 300]
        [--concurrency-runs 5] [--pool-size 4]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import threading
import time
import uuid
from collections.abc import Sequence
from functools import cache

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine

from benchmarks.common import LIMITS_OFF, WORDS, describe, machine, migrated_database, percentile
from services.video_rag.bootstrap import Dependencies
from services.video_rag.db.engine import CONNECT_TIMEOUT_SECONDS, register_vector_types
from services.video_rag.domain.captions import Caption
from services.video_rag.domain.chunking import chunk_captions
from services.video_rag.providers.youtube import FetchedTranscript, VideoMetadata
from services.video_rag.service import sessions, videos
from services.video_rag.settings import (
    DEFAULT_OPENAI_EMBEDDING_DIMENSIONS,
    Settings,
    load_settings,
)
from tests.support.fake_openai import FakeOpenAI, fake_openai_server

# The fake embedder stands for OpenAI's text-embedding-3-small: 1536-dim vectors, the widest
# common case for the database (the offline embedder's are 256).
DIM = DEFAULT_OPENAI_EMBEDDING_DIMENSIONS
FAKE_EMBEDDER_SETTINGS = {"EMBEDDING_PROVIDER": "openai", "EMBEDDING_API_KEY": "benchmark"}


@cache
def one_hour_of_captions(seed: int) -> tuple[Caption, ...]:
    """About 9,000 words in 1,500 captions of six words, 2.4 s apart."""
    rng = random.Random(seed)
    captions = []
    for index in range(1500):
        words = " ".join(rng.choice(WORDS) for _ in range(6))
        captions.append(Caption(words + ("." if index % 5 == 4 else ""), index * 2.4, 2.6))
    return tuple(captions)


class TimedFakes:
    """Transcript source and embedder whose own time is measured and subtracted."""

    def __init__(self, latency_seconds: float, fetch_latency_seconds: float = 0.0) -> None:
        self.latency = latency_seconds
        self.fetch_latency = fetch_latency_seconds
        self.inside = 0.0
        self._lock = threading.Lock()
        self.vector = [0.001 * (i % 97) for i in range(DIM)]

    def _count(self, began: float) -> None:
        with self._lock:
            self.inside += time.perf_counter() - began

    def fetch(self, video_id: str, languages: Sequence[str]) -> FetchedTranscript:
        began = time.perf_counter()
        if self.fetch_latency:
            time.sleep(self.fetch_latency)
        captions = list(one_hour_of_captions(1))
        transcript = FetchedTranscript(video_id, "en", "English", False, captions)
        self._count(began)
        return transcript

    def metadata(self, video_id: str) -> VideoMetadata:
        return VideoMetadata("Benchmark video", "Benchmark channel")

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        began = time.perf_counter()
        time.sleep(self.latency)
        vectors = [self.vector] * len(texts)
        self._count(began)
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self.vector


def run(
    runs: int,
    latency_ms: float,
    fetch_latency_ms: float = 300.0,
    concurrency_runs: int = 5,
    concurrencies: Sequence[int] = (4,),
    pool_size: int = 4,
) -> dict[str, float]:
    """Measure; prints the figures and returns them (times in milliseconds)."""
    figures: dict[str, float] = {}
    with migrated_database() as url:
        fakes = TimedFakes(latency_ms / 1000)
        deps = Dependencies(settings=_settings(url, **FAKE_EMBEDDER_SETTINGS))
        deps.transcript_source = fakes
        deps.embedder = fakes
        outside: list[float] = []
        chunks = 0
        for _ in range(runs):
            key = _new_session(deps)
            video_id = uuid.uuid4().hex[:11]
            fakes.inside = 0.0
            began = time.perf_counter()
            (result,) = videos.add_videos(deps, key, [videos.AddItem(video_id, video_id)], ["en"])
            elapsed = time.perf_counter() - began
            assert result.status == "added", result
            chunks = result.video.chunks if result.video else 0
            outside.append((elapsed - fakes.inside) * 1000)
        baseline = _naive_inserts(url, runs, len(chunk_captions(one_hour_of_captions(1))), fakes)
        deps.close()
        requests = _embedding_requests(url, chunks)
        concurrency = {
            workers: _ten_videos(
                url, workers, latency_ms, fetch_latency_ms, concurrency_runs, pool_size
            )
            for workers in concurrencies
        }
    ratio = statistics.median(outside) / statistics.median(baseline)
    print(f"ingestion benchmark on {machine()}")
    print(f"one-hour transcript: 1,500 captions, 9,000 words, {chunks} chunks")
    print(f"  ingestion outside the fakes:     {describe(outside)}")
    print(f"  baseline, one INSERT per chunk:  {describe(baseline)}")
    print(f"  ratio (ingestion / baseline):    {ratio:.2f}")
    figures.update(
        ingest_ms=statistics.median(outside),
        ingest_p95_ms=percentile(outside, 0.95),
        baseline_ms=statistics.median(baseline),
        baseline_p95_ms=percentile(baseline, 0.95),
        ratio=ratio,
        chunks=chunks,
    )
    print("embedding requests for the one-hour transcript (real OpenAI client -> local fake):")
    for batch_size, received in requests.items():
        expected = math.ceil(chunks / batch_size)
        print(
            f"  EMBEDDING_BATCH_SIZE={batch_size:<4d} {received:3d} request(s) for {chunks} chunks"
            f"   (one per batch: {expected}; one per chunk would be {chunks})"
        )
        figures[f"embedding_requests_batch_{batch_size}"] = received
        figures[f"embedding_requests_expected_batch_{batch_size}"] = expected
    print(
        f"ten videos in one request, transcript source {fetch_latency_ms:.0f} ms per video, "
        f"embedding fake {latency_ms:.0f} ms per request (wall times, fakes included), "
        f"pool of {pool_size} connections:"
    )
    for workers, (one, ten, peak) in concurrency.items():
        ten_ratio = statistics.median(ten) / statistics.median(one)
        print(f"  INGEST_CONCURRENCY={workers:<3d} one video:  {describe(one)}")
        print(f"                        ten videos: {describe(ten)}")
        print(f"                        ratio (ten / one): {ten_ratio:.2f}   (target <= 2)")
        print(f"                        connections at once, at most: {peak}   (target <= 4)")
        figures[f"peak_connections_c{workers}"] = peak
        figures[f"one_video_c{workers}_ms"] = statistics.median(one)
        figures[f"ten_videos_c{workers}_ms"] = statistics.median(ten)
        figures[f"ten_videos_c{workers}_p95_ms"] = percentile(ten, 0.95)
        figures[f"ten_ratio_c{workers}"] = ten_ratio
    return figures


def _new_session(deps: Dependencies) -> uuid.UUID:
    token = sessions.get_or_create_session(deps, None)[0].session_id
    return sessions.session_key(deps, token)


def _settings(url: str, **values: str) -> Settings:
    # A benchmark creates sessions and stores passages far faster than one client would: the
    # abuse limits are off, except that passages are still counted (against a limit out of
    # reach), as every real add does.
    limits = {**LIMITS_OFF, "CLIENT_PASSAGES_PER_HOUR": str(10**8)}
    return load_settings({"PG_VECTOR_CONNECTION_STRING": url, **limits, **values})


def _embedding_requests(url: str, chunks: int) -> dict[int, int]:
    """{EMBEDDING_BATCH_SIZE: embedding requests the fake OpenAI server received} for one
    ingestion of the one-hour transcript through the app's real OpenAI embedder."""
    received: dict[int, int] = {}
    default = Settings().embedding_batch_size
    small = max(1, math.ceil(chunks / 5))  # a size that needs several batches
    with fake_openai_server(FakeOpenAI(dimensions=DIM)) as fake:
        for batch_size in dict.fromkeys((default, small)):
            settings = _settings(
                url,
                LLM_PROVIDER="openai",
                OPENAI_BASE_URL=f"{fake.base_url}/v1",
                OPENAI_API_KEY="benchmark",
                EMBEDDING_BATCH_SIZE=str(batch_size),
            )
            deps = Dependencies(settings=settings)
            deps.transcript_source = TimedFakes(0.0)
            key = _new_session(deps)
            before = _count_embedding_requests(fake)
            video_id = uuid.uuid4().hex[:11]
            (result,) = videos.add_videos(deps, key, [videos.AddItem(video_id, video_id)], ["en"])
            assert result.status == "added", result
            received[batch_size] = _count_embedding_requests(fake) - before
            deps.close()
    return received


def _count_embedding_requests(fake: FakeOpenAI) -> int:
    with fake.lock:
        return sum(1 for path, _ in fake.requests if "/embeddings" in path)


class PeakConnections:
    """An engine whose pool keeps `size` connections, counting the most checked out at once
    (the pool may open more, so that a need for more shows in the count rather than as
    waiting)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.current = 0
        self.peak = 0
        self._lock = threading.Lock()

    def engine(self, url: str) -> Engine:
        # The app's engine (services/video_rag/db/engine.py) with a pool of `size`.
        engine = create_engine(
            url,
            pool_pre_ping=True,
            pool_size=self.size,
            max_overflow=16,
            pool_timeout=30,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
        )
        event.listen(engine, "connect", register_vector_types)
        event.listen(engine, "checkout", self._checkout)
        event.listen(engine, "checkin", self._checkin)
        return engine

    def _checkout(self, *_: object) -> None:
        with self._lock:
            self.current += 1
            self.peak = max(self.peak, self.current)

    def _checkin(self, *_: object) -> None:
        with self._lock:
            self.current -= 1


def _ten_videos(
    url: str, workers: int, latency_ms: float, fetch_latency_ms: float, runs: int, pool_size: int
) -> tuple[list[float], list[float], int]:
    """Wall times (ms) of adding one video, and of adding ten in one call, at `workers`, on a
    pool of `pool_size` connections; and the most connections checked out at once."""
    connections = PeakConnections(pool_size)
    deps = Dependencies(
        settings=_settings(url, INGEST_CONCURRENCY=str(workers), **FAKE_EMBEDDER_SETTINGS),
        engine_factory=connections.engine,
    )
    assert deps.settings.ingest_concurrency == workers, deps.settings.problems
    fakes = TimedFakes(latency_ms / 1000, fetch_latency_ms / 1000)
    deps.transcript_source = fakes
    deps.embedder = fakes
    one: list[float] = []
    ten: list[float] = []
    peak = 0
    for _ in range(runs):
        for count, timings in ((1, one), (10, ten)):
            key = _new_session(deps)
            items = [videos.AddItem(v, v) for v in (uuid.uuid4().hex[:11] for _ in range(count))]
            connections.peak = connections.current
            began = time.perf_counter()
            results = videos.add_videos(deps, key, items, ["en"])
            timings.append((time.perf_counter() - began) * 1000)
            peak = max(peak, connections.peak)
            assert [r.status for r in results] == ["added"] * count, results
    deps.close()
    return one, ten, peak


def _naive_inserts(url: str, runs: int, chunks: int, fakes: TimedFakes) -> list[float]:
    engine = create_engine(url)
    vector = "[" + ",".join(str(v) for v in fakes.vector) + "]"
    timings = []
    with engine.connect() as connection:
        connection.execute(text("INSERT INTO video (id) VALUES ('naivebaseln')"))
        connection.commit()
        for _ in range(runs):
            began = time.perf_counter()
            transcript_id = uuid.uuid4()
            connection.execute(
                text(
                    "INSERT INTO transcript (id, video_id, language, is_generated, source, "
                    "embedding_model, embedding_dimensions, duration_seconds, chunk_count) VALUES "
                    "(:id, 'naivebaseln', :language, false, 'youtube', 'naive', :dimensions, 0, 0)"
                ),
                {
                    "id": transcript_id,
                    "language": f"x{uuid.uuid4().hex[:8]}",
                    "dimensions": len(fakes.vector),
                },
            )
            for ordinal in range(chunks):
                connection.execute(
                    text(
                        "INSERT INTO transcript_chunk (transcript_id, ordinal, start_seconds, "
                        "end_seconds, text, embedding) VALUES (:t, :o, 0, 1, :x, "
                        "CAST(:e AS vector))"
                    ),
                    {"t": transcript_id, "o": ordinal, "x": "some words " * 30, "e": vector},
                )
            connection.commit()
            timings.append((time.perf_counter() - began) * 1000)
    engine.dispose()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=50.0, help="embedding fake latency")
    parser.add_argument("--fetch-latency-ms", type=float, default=300.0)
    parser.add_argument("--concurrency-runs", type=int, default=5)
    parser.add_argument("--pool-size", type=int, default=4, help="pooled connections, section 3")
    args = parser.parse_args()
    run(
        args.runs,
        args.latency_ms,
        args.fetch_latency_ms,
        args.concurrency_runs,
        pool_size=args.pool_size,
    )


if __name__ == "__main__":
    main()
