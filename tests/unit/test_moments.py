"""Citation moments: where each caption starts in a chunk, and the sentence a claim cites."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from services.video_rag.domain.captions import Caption
from services.video_rag.domain.chunking import chunk_captions
from services.video_rag.domain.moments import (
    Moment,
    MomentWeights,
    best_excerpt,
    claims_by_marker,
    locate_quote,
    quote_span,
    rank_moments,
    seconds_at,
    sentences,
)
from services.video_rag.domain.prompts import Passage

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


def test_a_decimal_point_does_not_end_a_sentence() -> None:
    text = "They use Bluetooth 5.3 and support multipoint. It weighs 2.3 kg. Done."
    assert [s for _, s in sentences(text)] == [
        "They use Bluetooth 5.3 and support multipoint.",
        "It weighs 2.3 kg.",
        "Done.",
    ]
    assert [s for _, s in sentences("Version 2. 3 more to go")] == ["Version 2.", "3 more to go"]


def test_a_quoted_claim_is_the_whole_quote_not_its_last_sentence() -> None:
    answer = (
        'From "Review" at 1:24: "The battery is big. It lasts nine hours." [1]\n'
        "The keyboard costs extra [2]."
    )
    assert claims_by_marker(answer) == {
        1: "The battery is big. It lasts nine hours.",
        2: "The keyboard costs extra .",
    }
    curly = "He said “charging takes two hours” [3] and more [3]."
    assert claims_by_marker(curly)[3] == "charging takes two hours"


def test_a_quoted_claim_is_located_in_the_passage() -> None:
    text = (
        "Welcome back. The battery is big. It lasts nine hours of video. "
        "The keyboard is sold separately."
    )
    moments = [(0, 10.0), (14, 20.0), (34, 30.0), (64, 40.0)]
    # Its last sentence alone would point at 30 s: the quote starts at 20 s.
    excerpt = best_excerpt(text, moments, "The battery is big. It lasts nine hours of video.")
    assert excerpt.at_seconds == 20.0
    assert excerpt.text == "The battery is big. It lasts nine hours of video."
    # Cut with ellipses, other spacing and case: the longest piece is found.
    shortened = best_excerpt(text, moments, "…it LASTS nine   hours…")
    assert shortened.at_seconds == 30.0
    assert locate_quote(text, "nine hours") is None  # too short to trust
    assert locate_quote(text, "lasts ten hours of video") is None
    assert locate_quote("a [Music] b c d", "a b c") == (0, 13)


def _passage(number: int, video: str, title: str, captions: list[tuple[float, str]]) -> Passage:
    text, moments = "", []
    for seconds, caption in captions:
        moments.append([len(text), seconds])
        text += caption + " "
    return Passage(number, video, title, captions[0][0], captions[-1][0] + 5, text, moments)


BREAD = _passage(
    1,
    "bread",
    "Sourdough Bread",
    [
        (10.0, "Mix the flour and the water."),
        (15.0, "Then let the dough rest in the fridge overnight,"),
        (20.0, "about twelve hours."),
        (25.0, "The sourdough bread is great."),
    ],
)


def test_rank_moments_weighs_rare_words_and_ignores_the_title() -> None:
    ranked = rank_moments("How long does the sourdough dough rest?", [BREAD])
    assert ranked[0].text.startswith("Then let the dough rest")
    assert ranked[0].matched > 0
    assert [m.start for m in ranked] != [m.start for m in sorted(ranked, key=lambda m: m.start)]


def test_rank_moments_soft_matches_similar_words() -> None:
    def similarity(left: Sequence[str], right: Sequence[str]) -> list[list[float]]:
        pairs = {("refrigerator", "fridge"): 0.8}
        return [[pairs.get((a, b), 0.0) for b in right] for a in left]

    question = "How long in the refrigerator?"
    assert rank_moments(question, [BREAD])[0].matched == 0.0
    best = rank_moments(question, [BREAD], words_similarity=similarity)[0]
    assert "fridge" in best.text


def test_an_exact_word_beats_a_loose_match_for_a_word_nobody_said() -> None:
    def similarity(left: Sequence[str], right: Sequence[str]) -> list[list[float]]:
        pairs = {("plants", "garden"): 0.53}  # related, but not the answer
        return [[1.0 if a == b else pairs.get((a, b), 0.0) for b in right] for a in left]

    notes = _passage(
        1,
        "talk-1",
        "Notes",
        [(0.0, "The garden needs water every morning in summer."), (4.0, "Tomatoes like the sun.")],
    )
    best = rank_moments("Which plants like the sun?", [notes], words_similarity=similarity)[0]
    assert best.text.startswith("Tomatoes like the sun")


def test_rank_moments_takes_a_follow_up_context_and_named_videos() -> None:
    other = _passage(2, "laptop", "Aerolite Laptop", [(5.0, "The water resistance is fine.")])
    ranked = rank_moments("And the water?", [other, BREAD], "What about the flour?")
    assert ranked[0].passage.video_id == "bread"  # flour and water, over water alone
    named = rank_moments("Is the Aerolite waterproof?", [BREAD, other])
    assert {m.passage.video_id for m in named if m.named} == {"laptop"}


OVEN = _passage(
    3,
    "bread",
    "Sourdough Bread",
    [
        (260.0, "Put the Dutch oven in and bake for 20 minutes."),
        (268.0, "Crank the oven up to 250 degrees first."),
        (275.0, "The oven spring comes from the steam."),
    ],
)


def test_a_caption_with_the_measure_asked_for_wins() -> None:
    numbers_only = MomentWeights(unit=0.0)  # each caption has a number: a tie, the earliest
    measures = MomentWeights()
    assert "degrees" not in rank_moments("How hot?", [OVEN], weights=numbers_only)[0].text
    assert (
        "degrees" in rank_moments("How hot should the oven be?", [OVEN], weights=measures)[0].text
    )
    assert "20 minutes" in rank_moments("How long in the oven?", [OVEN], weights=measures)[0].text


def test_the_word_a_which_question_asks_for_counts_more() -> None:
    review = _passage(
        1,
        "phones",
        "Sonara Q7",
        [
            (120.0, "They use Bluetooth 5.3 and support multipoint."),
            (135.0, "Codec-wise you get SBC, AAC and LDAC."),
        ],
    )
    question = "Which Bluetooth codecs does it support?"
    assert rank_moments(question, [review])[0].text.startswith("Codec-wise")
    flat = rank_moments(question, [review], weights=MomentWeights(focus=0.0))
    assert flat[0].text.startswith("They use Bluetooth")


def test_quote_span_starts_with_a_recent_sentence_and_ends_with_it() -> None:
    ranked = rank_moments("twelve hours", [BREAD])
    moment = ranked[0]
    assert moment.text.startswith("about twelve hours")
    start, end = quote_span(moment)
    assert (
        BREAD.text[start:end]
        == "Then let the dough rest in the fridge overnight, about twelve hours."
    )
    long_ago = Moment(BREAD, moment.start, moment.end, 1.0)
    far = Passage(1, "bread", None, 0, 30, BREAD.text, [[0, 0.0], [29, 1.0], [78, 20.0]])
    assert (
        quote_span(Moment(far, 78, len(far.text), 1.0))[0] == 78
    )  # its sentence began 19 s before
    assert quote_span(long_ago, max_chars=30)[0] == moment.start
