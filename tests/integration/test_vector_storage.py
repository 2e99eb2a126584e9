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


@pytest.mark.parametrize("width", [256, 1536, 16000])
def test_the_half_precision_copy_is_generated_and_inline(
    deps: Dependencies, clock, width: int
) -> None:
    """`embedding_half` is `embedding` rounded to half precision (generated: no insert path can
    forget or contradict it), kept in the row itself (STORAGE MAIN) while the float32 vector
    moves out to TOAST, and the text and tsvector stay inline (toast_tuple_target 8160)."""
    import numpy as np
    from sqlalchemy import Text, func, text

    rng = random.Random(width)
    vector = [rng.uniform(-1, 1) for _ in range(width)]
    with Session(deps.engine) as db:
        transcript = add_transcript(
            db, "halfCopy001", chunks=0, last_used_at=clock(), dimensions=width
        )
        db.add(
            TranscriptChunk(
                transcript_id=transcript.id,
                ordinal=0,
                start_seconds=0,
                end_seconds=1,
                text="words " * 150,
                embedding=vector,
            )
        )
        db.commit()
        half = db.scalar(select(TranscriptChunk.embedding_half.cast(Text)))
        assert half is not None
        stored = np.array([float(v) for v in half.strip("[]").split(",")], dtype=np.float32)
        # pgvector rounds the stored float32 values to half precision.
        halved = np.asarray(vector, np.float32).astype(np.float16).astype(np.float32)
        assert stored.tolist() == halved.tolist()

        rows = db.execute(
            text(
                "SELECT attname, attstorage FROM pg_attribute WHERE attrelid = "
                "'transcript_chunk'::regclass AND attname IN ('embedding', 'embedding_half')"
            )
        ).all()
        storage = {str(row[0]): str(row[1]) for row in rows}
        assert storage == {"embedding": "e", "embedding_half": "m"}
        options = db.scalar(
            text("SELECT reloptions FROM pg_class WHERE oid = 'transcript_chunk'::regclass")
        )
        assert "toast_tuple_target=8160" in options
        if db.scalar(text("SHOW server_version_num")) >= "170000":  # pg_column_toast_chunk_id
            toasted = db.execute(
                select(
                    *(
                        func.pg_column_toast_chunk_id(column).is_not(None)
                        for column in (
                            TranscriptChunk.embedding,
                            TranscriptChunk.embedding_half,
                            TranscriptChunk.text,
                            TranscriptChunk.text_search,
                        )
                    )
                )
            ).one()
            # A 256-wide float32 vector (1 KiB) fits the row as well; a 16000-wide halfvec
            # (32 KiB) cannot fit a page, so everything moves out (MAIN only as the last resort).
            huge = width > 4000
            assert tuple(toasted) == (width > 256, huge, huge, huge)
