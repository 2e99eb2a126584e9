"""Citation moments: where each caption starts in a chunk, and the sentence a claim cites."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.video_rag.domain.captions import Caption
from services.video_rag.domain.chunking import chunk_captions
from services.video_rag.domain.moments import (
    best_excerpt,
    claims_by_marker,
    seconds_at,
    sentences,
)

CAPTIONS = [
    Caption(text="Welcome back to the review.", start=84.0, duration=4.0),
    Caption(text="The screen is bright and sharp for the price.", start=88.0, duration=7.0),
    Caption(text="In my playback test the battery lasted nine hours.", start=105.0, duration=6.0),
    Caption(text="The keyboard is sold separately.", start=125.0, duration=5.0),
]


def test_each_chunk_knows_where_its_captions_start() -> None:
    (chunk,) = chunk_captions(CAPTIONS)
    assert [seconds for _, seconds in chunk.moments] == [84.0, 88.0, 105.0, 125.0]
    for (offset, _), caption in zip(chunk.moments, CAPTIONS, strict=True):
        assert chunk.text[offset:].startswith(caption.text)


@given(
    st.lists(
        st.tuples(st.floats(0, 5000), st.text(alphabet="abc .", min_size=1, max_size=80)),
        min_size=1,
        max_size=60,
    )
)
def test_moments_point_into_every_chunk(items: list[tuple[float, str]]) -> None:
    captions = [Caption(text=t, start=s, duration=2.0) for s, t in items]
    for chunk in chunk_captions(captions, max_chars=120, overlap_chars=30):
        offsets = [offset for offset, _ in chunk.moments]
        assert offsets[0] == 0
        assert offsets == sorted(offsets)
        assert all(0 <= offset < len(chunk.text) for offset in offsets)
        assert chunk.moments[0][1] == chunk.start_seconds
        assert all(chunk.start_seconds <= s <= chunk.end_seconds for _, s in chunk.moments)


def test_the_sentence_that_supports_a_claim_and_its_moment() -> None:
    (chunk,) = chunk_captions(CAPTIONS)
    excerpt = best_excerpt(chunk.text, chunk.moments, "The battery lasts about nine hours.")
    assert excerpt.text == "In my playback test the battery lasted nine hours."
    assert excerpt.at_seconds == 105.0
    keyboard = best_excerpt(chunk.text, chunk.moments, "It costs extra.", "Is the keyboard sold?")
    assert keyboard.at_seconds == 125.0  # nothing in the claim: the question decides


def test_a_short_sentence_comes_with_the_next_one() -> None:
    text = "Yes. The keyboard is sold separately for one hundred dollars in the store."
    excerpt = best_excerpt(text, [(0, 10.0), (5, 20.0)], "yes")
    assert excerpt.text == text
    assert excerpt.at_seconds == 10.0


def test_an_untimed_transcript_has_no_moment() -> None:
    assert best_excerpt("Plain text.", [(0, 0.0)], "plain", timed=False).at_seconds is None


def test_seconds_at() -> None:
    moments = [(0, 10.0), (20, 15.0), (50, 30.0)]
    assert seconds_at(moments, 0) == 10.0
    assert seconds_at(moments, 19) == 10.0
    assert seconds_at(moments, 20) == 15.0
    assert seconds_at(moments, 500) == 30.0
    assert seconds_at([], 5) is None


def test_claims_by_marker_take_the_sentence_of_the_first_citation() -> None:
    answer = "The battery lasts nine hours [2]. The keyboard costs extra [1][2]. Fine [1]."
    assert claims_by_marker(answer) == {
        2: "The battery lasts nine hours .",
        1: "The keyboard costs extra .",
    }


def test_sentences_keep_offsets() -> None:
    text = "  One. Two!  Three"
    assert [(o, s) for o, s in sentences(text)] == [(2, "One."), (7, "Two!"), (13, "Three")]
