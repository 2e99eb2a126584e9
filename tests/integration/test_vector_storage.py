"""Embeddings of any width reach pgvector intact, in binary on the app's engine and as text
elsewhere; a vector no `vector` can hold is refused before the database."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from services.video_rag.bootstrap import Dependencies
from services.video_rag.db.models import TranscriptChunk
from tests.factories import add_transcript

pytestmark = [pytest.mark.db]


def float32(value: float) -> float:
    import struct

    return float(struct.unpack("f", struct.pack("f", value))[0])


@pytest.mark.parametrize("engine_kind", ["app engine (binary)", "plain engine (text)"])
@pytest.mark.parametrize("width", [256, 768, 1536, 16000])
def test_vectors_round_trip_exactly_as_float32(
    deps: Dependencies, database_url: str, clock, engine_kind: str, width: int
) -> None:
    engine = deps.engine if engine_kind.startswith("app") else create_engine(database_url)
    rng = random.Random(5)
    vector = [rng.uniform(-1, 1) for _ in range(width)]
    with Session(engine) as db:
        transcript = add_transcript(
            db, "roundtrip01", chunks=0, last_used_at=clock(), dimensions=width
        )
        db.add(
            TranscriptChunk(
                transcript_id=transcript.id,
                ordinal=0,
                start_seconds=0,
                end_seconds=1,
                text="x",
                embedding=vector,
            )
        )
        db.commit()
        stored = db.scalar(select(TranscriptChunk.embedding))
    assert stored is not None
    assert [float32(v) for v in stored] == [float32(v) for v in vector]
    if engine is not deps.engine:
        engine.dispose()


@pytest.mark.parametrize("width", [0, 16001])
def test_a_vector_no_column_can_hold_is_refused_before_the_database(
    deps: Dependencies, clock, width: int
) -> None:
    with Session(deps.engine) as db:
        transcript = add_transcript(db, "wrongwidth1", chunks=0, last_used_at=clock())
        db.add(
            TranscriptChunk(
                transcript_id=transcript.id,
                ordinal=0,
                start_seconds=0,
                end_seconds=1,
                text="x",
                embedding=[0.5] * width,
            )
        )
        with pytest.raises(Exception, match=f"expected 1 to 16000 dimensions, got {width}"):
            db.commit()
