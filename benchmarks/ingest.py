"""Ingestion benchmark: a one-hour transcript (about 9,000 words) from captions to committed rows.

The transcript source and the embedding call are fakes; the embedding fake sleeps a fixed time
per request, and what is reported is the time OUTSIDE the fakes: cleaning, chunking, the database
transaction (video, transcript, chunks with 1536-dim vectors, link) and the service around it.
The baseline, measured in the same run, is the same rows written one INSERT per chunk, the way a
naive loop over chunks would.

    python -m benchmarks.ingest [--runs 20] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
import uuid
from collections.abc import Sequence

from sqlalchemy import create_engine, text

from benchmarks.common import describe, machine, migrated_database
from services.video_rag.bootstrap import Dependencies
from services.video_rag.domain.captions import Caption
from services.video_rag.domain.chunking import chunk_captions
from services.video_rag.providers.youtube import FetchedTranscript, VideoMetadata
from services.video_rag.service import sessions, videos
from services.video_rag.settings import STORED_EMBEDDING_DIMENSIONS, load_settings

WORDS = (
    "battery keyboard screen review performance price design camera speaker port windows "
    "surface tablet laptop hours test video light weight pen kickstand display brightness"
).split()


def one_hour_of_captions(seed: int) -> list[Caption]:
    """About 9,000 words in 1,500 captions of six words, 2.4 s apart."""
    rng = random.Random(seed)
    captions = []
    for index in range(1500):
        words = " ".join(rng.choice(WORDS) for _ in range(6))
        captions.append(Caption(words + ("." if index % 5 == 4 else ""), index * 2.4, 2.6))
    return captions


class TimedFakes:
    """Transcript source and embedder whose own time is measured and subtracted."""

    def __init__(self, latency_seconds: float) -> None:
        self.latency = latency_seconds
        self.inside = 0.0
        self._lock = threading.Lock()
        self.vector = [0.001 * (i % 97) for i in range(STORED_EMBEDDING_DIMENSIONS)]

    def _count(self, began: float) -> None:
        with self._lock:
            self.inside += time.perf_counter() - began

    def fetch(self, video_id: str, languages: Sequence[str]) -> FetchedTranscript:
        began = time.perf_counter()
        transcript = FetchedTranscript(video_id, "en", "English", False, one_hour_of_captions(1))
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


def run(runs: int, latency_ms: float) -> dict[str, float]:
    """Measure; returns the medians in milliseconds."""
    with migrated_database() as url:
        fakes = TimedFakes(latency_ms / 1000)
        deps = Dependencies(settings=load_settings({"PG_VECTOR_CONNECTION_STRING": url}))
        deps.transcript_source = fakes
        deps.embedder = fakes
        outside: list[float] = []
        chunks = 0
        for _ in range(runs):
            token = sessions.get_or_create_session(deps.uow(), None, deps.clock(), 15)[0].session_id
            key = sessions.session_key(deps.uow(), token, deps.clock())
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
    ratio = statistics.median(outside) / statistics.median(baseline)
    print(f"ingestion benchmark on {machine()}")
    print(f"one-hour transcript: 1,500 captions, 9,000 words, {chunks} chunks")
    print(f"  ingestion outside the fakes:     {describe(outside)}")
    print(f"  baseline, one INSERT per chunk:  {describe(baseline)}")
    print(f"  ratio (ingestion / baseline):    {ratio:.2f}")
    return {"ingest_ms": statistics.median(outside), "baseline_ms": statistics.median(baseline)}


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
                    "embedding_model, duration_seconds, chunk_count) VALUES (:id, 'naivebaseln', "
                    ":language, false, 'youtube', 'naive', 0, 0)"
                ),
                {"id": transcript_id, "language": f"x{uuid.uuid4().hex[:8]}"},
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
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    run(args.runs, args.latency_ms)


if __name__ == "__main__":
    main()
