from __future__ import annotations

import itertools
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.video_rag.domain.captions import Caption, clean_caption_text
from services.video_rag.domain.chunking import (
    DEFAULT_MAX_CHARS,
    DEFAULT_OVERLAP_CHARS,
    Chunk,
    chunk_captions,
)


def new_text(chunk: Chunk) -> str:
    """The part of a chunk's text that is not repeated from the previous chunk."""
    return chunk.text[chunk.overlap_chars :].strip()


def words(count: int, prefix: str = "w") -> str:
    return " ".join(f"{prefix}{i}" for i in range(count))


# --- examples ------------------------------------------------------------------------------


def test_defaults() -> None:
    assert (DEFAULT_MAX_CHARS, DEFAULT_OVERLAP_CHARS) == (1200, 200)


def test_empty_input() -> None:
    assert chunk_captions([]) == []
    assert (
        chunk_captions([Caption("", 0, 1), Caption("  [Music] ", 1, 2), Caption("♪", 3, 1)]) == []
    )


def test_small_transcript_is_one_chunk() -> None:
    captions = [Caption("Hello there.", 0, 2), Caption("General Kenobi!", 2, 1.5)]
    assert chunk_captions(captions) == [
        Chunk(0, 0, 3.5, "Hello there. General Kenobi!", 0, moments=((0, 0), (13, 2)))
    ]


def test_captions_are_cleaned_and_empty_ones_dropped() -> None:
    captions = [
        Caption("<i>Tom &amp; Jerry</i>", 0, 1),
        Caption("[Music]", 1, 5),
        Caption("   ", 6, 1),
        Caption("it&#39;s\n  fine", 7, 1),
        Caption("(applause)", 8, 1),
    ]
    (chunk,) = chunk_captions(captions)
    assert chunk.text == "Tom & Jerry it's fine"
    # Dropped captions do not stretch the time span.
    assert (chunk.start_seconds, chunk.end_seconds) == (0, 8)


def test_captions_are_sorted_by_start_and_may_overlap_in_time() -> None:
    captions = [
        Caption("third", 4.0, 1.0),
        Caption("first", 0.0, 10.0),  # long, overlapping everything after it
        Caption("second", 2.0, 1.0),
        Caption("second-bis", 2.0, 0.5),  # same start: original order kept
    ]
    (chunk,) = chunk_captions(captions)
    assert chunk.text == "first second second-bis third"
    assert (chunk.start_seconds, chunk.end_seconds) == (0.0, 10.0)


def test_chunks_fill_up_and_overlap_by_whole_captions() -> None:
    # 30 captions of 9 characters ("cap00 xyz") at one per second.
    captions = [Caption(f"cap{i:02d} xyz", float(i), 1.0) for i in range(30)]
    chunks = chunk_captions(captions, max_chars=100, overlap_chars=25)
    # 10 captions joined make 99 characters; the overlap is the last two (19 <= 25 < 29).
    assert chunks[0].text == " ".join(f"cap{i:02d} xyz" for i in range(10))
    assert chunks[0].overlap_chars == 0
    assert chunks[1].text.startswith("cap08 xyz cap09 xyz cap10 xyz")
    assert chunks[1].overlap_chars == len("cap08 xyz cap09 xyz")
    assert new_text(chunks[1]).startswith("cap10 xyz")
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert (chunks[1].start_seconds, chunks[1].end_seconds) == (8.0, 18.0)
    assert " ".join(new_text(c) for c in chunks) == " ".join(c.text for c in captions)


def test_overlap_never_exceeds_half_of_max_chars() -> None:
    captions = [Caption(f"c{i:03d}", float(i), 1.0) for i in range(200)]  # 4 characters each
    chunks = chunk_captions(captions, max_chars=60, overlap_chars=59)
    assert len(chunks) > 3
    assert all(c.overlap_chars <= 30 for c in chunks)
    assert all(c.overlap_chars >= 25 for c in chunks[1:])


def test_no_overlap_when_overlap_chars_is_zero() -> None:
    captions = [Caption(f"c{i:03d}", float(i), 1.0) for i in range(100)]
    chunks = chunk_captions(captions, max_chars=50, overlap_chars=0)
    assert all(c.overlap_chars == 0 for c in chunks)
    assert " ".join(c.text for c in chunks) == " ".join(c.text for c in captions)


def test_overlap_shrinks_so_the_next_caption_fits() -> None:
    captions = [
        Caption("a" * 40, 0, 1),
        Caption("short one", 1, 1),
        Caption("b" * 95, 2, 1),
    ]
    chunks = chunk_captions(captions, max_chars=100, overlap_chars=40)
    assert [c.text for c in chunks] == ["a" * 40 + " short one", "b" * 95]
    assert chunks[1].overlap_chars == 0  # "short one" + " " + 95 characters would be 105


def test_prefers_to_end_a_nearly_full_chunk_at_a_sentence_end() -> None:
    captions = [
        Caption("x" * 40, 0, 1),
        Caption("y" * 39 + ".", 1, 1),  # the chunk is 81 characters long here
        Caption("z" * 10, 2, 1),  # the limit would allow this one...
        Caption("w" * 30, 3, 1),  # ...but not this one
    ]
    chunks = chunk_captions(captions, max_chars=100, overlap_chars=0)
    assert [c.text for c in chunks] == ["x" * 40 + " " + "y" * 39 + ".", "z" * 10 + " " + "w" * 30]


def test_does_not_end_at_a_sentence_end_far_from_the_limit() -> None:
    captions = [
        Caption("x" * 40 + ".", 0, 1),  # only 41 characters: too early to end here
        Caption("y" * 40, 1, 1),
        Caption("z" * 30, 2, 1),
    ]
    chunks = chunk_captions(captions, max_chars=100, overlap_chars=0)
    assert [c.text for c in chunks] == ["x" * 40 + ". " + "y" * 40, "z" * 30]


def test_a_long_caption_is_split_on_word_boundaries_with_times_apportioned() -> None:
    text = words(100)  # 389 characters
    duration = len(text) * 0.1
    chunks = chunk_captions([Caption(text, 100.0, duration)], max_chars=120, overlap_chars=0)
    assert len(chunks) >= 4
    assert all(len(c.text) <= 120 for c in chunks)
    assert " ".join(c.text for c in chunks) == text
    assert all(not c.text.startswith(" ") and not c.text.endswith(" ") for c in chunks)
    assert chunks[0].start_seconds == 100.0
    assert chunks[-1].end_seconds == pytest.approx(100.0 + duration)
    for chunk in chunks:
        # 0.1 s per character: a chunk's span follows its position in the caption.
        offset = text.index(chunk.text)
        assert chunk.start_seconds == pytest.approx(100.0 + offset * 0.1)
    for before, after in itertools.pairwise(chunks):
        assert before.start_seconds < after.start_seconds
        assert before.end_seconds <= after.start_seconds + 1e-9


def test_a_long_caption_keeps_overlap_between_its_chunks() -> None:
    text = words(400, prefix="word")
    chunks = chunk_captions([Caption(text, 0, 400)], max_seconds=10_000)  # bounded by size only
    assert len(chunks) >= 3
    assert all(c.overlap_chars > 0 for c in chunks[1:])
    assert " ".join(new_text(c) for c in chunks) == text


def test_a_word_longer_than_the_limit_is_cut() -> None:
    captions = [Caption("before", 0, 1), Caption("x" * 130, 1, 13), Caption("after", 14, 1)]
    chunks = chunk_captions(captions, max_chars=50, overlap_chars=0)
    assert all(len(c.text) <= 50 for c in chunks)
    assert "".join(c.text for c in chunks).replace(" ", "") == "before" + "x" * 130 + "after"
    assert chunks[-1].end_seconds == 15


def test_a_late_piece_of_a_long_caption_never_starts_after_the_next_caption() -> None:
    captions = [Caption(words(60), 0.0, 100.0), Caption("interjection", 10.0, 1.0)]
    chunks = chunk_captions(captions, max_chars=60, overlap_chars=0)
    starts = [c.start_seconds for c in chunks]
    assert starts == sorted(starts)
    assert chunks[-1].text.endswith("interjection")
    assert all(c.start_seconds <= c.end_seconds for c in chunks)


@pytest.mark.parametrize(
    ("max_chars", "overlap_chars", "message"),
    [
        (49, 0, "max_chars must be at least 50, got 49"),
        (0, 0, "max_chars must be at least 50, got 0"),
        (100, 100, "overlap_chars must be smaller than max_chars, got 100 >= 100"),
        (100, 150, "overlap_chars must be smaller than max_chars, got 150 >= 100"),
        (100, -1, "overlap_chars must not be negative, got -1"),
    ],
)
def test_argument_validation(max_chars: int, overlap_chars: int, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        chunk_captions([Caption("hi", 0, 1)], max_chars=max_chars, overlap_chars=overlap_chars)


def test_arguments_are_validated_even_for_empty_input() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        chunk_captions([], max_chars=10)


def test_an_hour_of_captions_keeps_every_word() -> None:
    rng = random.Random(7)
    vocabulary = ["the", "of", "and", "to", "a", "in", "that", "is", "it", "you", "we", "so"]
    captions = []
    for i in range(1500):
        text = " ".join(rng.choice(vocabulary) for _ in range(6))
        if i % 7 == 0:
            text += "."
        captions.append(Caption(text, i * 2.4, 2.6))
    chunks = chunk_captions(captions)  # its speed is measured in benchmarks/, not here
    assert sum(len(new_text(c).split()) for c in chunks) == 9000


# --- properties ----------------------------------------------------------------------------


@st.composite
def caption_lists(draw: st.DrawFn) -> list[Caption]:
    count = draw(st.integers(min_value=0, max_value=40))
    captions = []
    for i in range(count):
        kind = draw(st.sampled_from(["words"] * 6 + ["long", "marker", "empty", "entity"]))
        if kind == "words":
            tokens = [f"c{i}w{j}" for j in range(draw(st.integers(1, 12)))]
            if draw(st.booleans()):
                tokens[-1] += draw(st.sampled_from([".", "?", "!", '."', ","]))
            text = draw(st.sampled_from([" ", "\n", "  "])).join(tokens)
        elif kind == "long":
            text = " ".join(f"c{i}w{j}" for j in range(draw(st.integers(40, 150))))
        elif kind == "marker":
            text = draw(st.sampled_from(["[Music]", "(applause)", "♪♪", "[Laughter] [Music]"]))
        elif kind == "empty":
            text = draw(st.sampled_from(["", " ", "\n", "<i></i>"]))
        else:
            text = f"c{i}a &amp; c{i}b&#39;s <b>c{i}c</b>"
        start = draw(st.floats(min_value=0, max_value=600, allow_nan=False, width=32))
        duration = draw(st.floats(min_value=0, max_value=30, allow_nan=False, width=32))
        captions.append(Caption(text, start, duration))
    return captions


limits = st.integers(min_value=50, max_value=400).flatmap(
    lambda max_chars: st.tuples(st.just(max_chars), st.integers(0, max_chars - 1))
)


@settings(max_examples=120, deadline=None)
@given(caption_lists(), limits)
def test_chunking_properties(captions: list[Caption], limits: tuple[int, int]) -> None:
    max_chars, overlap_chars = limits
    chunks = chunk_captions(captions, max_chars=max_chars, overlap_chars=overlap_chars)
    ordered = sorted(captions, key=lambda c: c.start)
    cleaned = [(clean_caption_text(c.text), c) for c in ordered]
    cleaned = [(text, c) for text, c in cleaned if text]

    if not cleaned:
        assert chunks == []
        return

    # Ordinals, sizes, times.
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert all(0 < len(c.text) <= max_chars for c in chunks)
    assert all(c.start_seconds <= c.end_seconds for c in chunks)
    starts = [c.start_seconds for c in chunks]
    assert starts == sorted(starts)
    earliest = min(c.start for _, c in cleaned)
    latest = max(c.end for _, c in cleaned)
    assert all(earliest <= c.start_seconds and c.end_seconds <= latest for c in chunks)

    # Overlaps repeat the end of the previous chunk, and are bounded.
    assert chunks[0].overlap_chars == 0
    for before, after in itertools.pairwise(chunks):
        assert after.overlap_chars <= min(overlap_chars, max_chars // 2)
        assert before.text.endswith(after.text[: after.overlap_chars])
        assert new_text(after)
        if after.overlap_chars:
            assert after.text[after.overlap_chars] == " "

    # No text lost: the new parts of the chunks are exactly the cleaned captions in order.
    assert " ".join(new_text(c) for c in chunks) == " ".join(text for text, _ in cleaned)

    # Each caption that was not split lies whole in a chunk whose span covers it.
    padded = [f" {c.text} " for c in chunks]
    for text, caption in cleaned:
        if len(text) > max_chars:
            continue
        holders = [chunk for chunk, pad in zip(chunks, padded, strict=True) if f" {text} " in pad]
        assert holders, text
        for chunk in holders:
            assert chunk.start_seconds <= caption.start
            assert chunk.end_seconds >= caption.end


def test_sparse_captions_are_cut_by_time_so_citations_land_near_what_they_cite() -> None:
    captions = [
        Caption("Hey guys, this is my review of the Surface Go.", 1.0, 11.0),
        Caption("In my playback test the battery lasted nine hours.", 84.0, 16.0),
        Caption("The screen is bright and sharp for the price.", 130.0, 21.0),
        Caption("The keyboard is sold separately.", 185.0, 15.0),
    ]
    chunks = chunk_captions(captions, max_seconds=60)
    assert [(c.start_seconds, c.overlap_chars == 0) for c in chunks] == [
        (1.0, True),
        (84.0, True),  # the previous caption is more than 20 s earlier: no overlap
        (185.0, True),
    ]
    assert "battery" in chunks[1].text
    assert "screen" in chunks[1].text  # 46 s after the chunk's start: within the bound
    with pytest.raises(ValueError, match="max_seconds"):
        chunk_captions(captions, max_seconds=0)


def test_dense_speech_is_still_bounded_by_size_first() -> None:
    captions = [Caption(words(6, prefix=f"w{i}-"), i * 2.0, 2.0) for i in range(100)]
    chunks = chunk_captions(captions, max_chars=300, overlap_chars=60, max_seconds=60)
    assert all(len(c.text) <= 300 for c in chunks)
    assert all(c.end_seconds - c.start_seconds <= 60 + 2.0 for c in chunks)
