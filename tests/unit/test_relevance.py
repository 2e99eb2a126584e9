"""`domain.relevance`: the support of a question in retrieved passages, and the calibration of
the not-found threshold."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from services.video_rag.domain.relevance import calibrate_threshold, question_parts, support
from services.video_rag.settings import load_settings

HEADPHONES = (
    "let's start with the price. the Sonara Q7 costs 279 dollars, which puts it right up "
    "against the big names. battery life. Sonara claims 40 hours with noise cancelling on, "
    "and in my testing I got 38 hours, which is really close."
)


def _letters(texts: list[str]) -> Sequence[Sequence[float]]:
    """A toy embedding: counts of the letters a, b and c."""
    return [[float(t.count("a")), float(t.count("b")), float(t.count("c"))] for t in texts]


def test_support_is_the_best_sentence_cosine() -> None:
    assert support("aa", ["bbb. ab.", "cc."], _letters) == pytest.approx(2**-0.5)
    assert support("aa", ["aaa a. bbb."], _letters) == pytest.approx(1.0)


def test_no_sentence_or_no_question_supports_nothing() -> None:
    assert support("aa", [], _letters) == 0.0
    assert support("aa", ["   "], _letters) == 0.0
    assert support("  ", ["aa."], _letters) == 0.0
    assert support("zz", ["aa."], _letters) == 0.0  # a zero vector


def test_with_the_offline_model_an_unrelated_question_falls_below_the_default() -> None:
    from services.video_rag.providers.embeddings import load_offline_model

    model = load_offline_model()

    def embed(texts: list[str]) -> Sequence[Sequence[float]]:
        return model.embed(texts, 256)

    threshold = load_settings({}).not_found_threshold / 100
    assert support("How much does the Sonara Q7 cost?", [HEADPHONES], embed) > threshold
    assert support("How long does the battery last?", [HEADPHONES], embed) > threshold
    assert support("Who wrote the novel Pride and Prejudice?", [HEADPHONES], embed) < threshold
    assert support("What is the capital of Australia?", [HEADPHONES], embed) < threshold


def test_calibration_catches_what_it_can_without_refusing_answerable_questions() -> None:
    scores = [(0.1, False), (0.2, False), (0.3, True), (0.4, False), (0.5, True), (0.6, True)]
    assert calibrate_threshold(scores) == pytest.approx(0.25)
    # One more catch is not worth refusing an answerable question, unless cheap.
    assert calibrate_threshold(scores, false_not_found_cost=0.5) == pytest.approx(0.45)
    assert calibrate_threshold([(0.5, True), (0.6, True)]) < 0.5  # refuses nothing
    assert calibrate_threshold([]) == 0.0


def test_the_thresholds_are_settings_in_hundredths() -> None:
    settings = load_settings({"NOT_FOUND_THRESHOLD": "40", "MODEL_NOT_FOUND_THRESHOLD": "0"})
    assert (settings.not_found_threshold, settings.model_not_found_threshold) == (40, 0)
    defaults = load_settings({})
    assert (defaults.not_found_threshold, defaults.model_not_found_threshold) == (29, 15)
    assert any(
        p.name == "NOT_FOUND_THRESHOLD"
        for p in load_settings({"NOT_FOUND_THRESHOLD": "101"}).problems
    )


def test_a_question_of_several_parts_is_supported_when_one_part_is() -> None:
    question = "What is eating holes in my leaves? And how long do the headphones play?"
    assert question_parts(question) == [
        question,
        "What is eating holes in my leaves?",
        "And how long do the headphones play?",
    ]
    assert question_parts("How long does the battery last?") == ["How long does the battery last?"]
    several = "Is the keyboard included, and how long does the battery last?"
    assert question_parts(several) == [
        several,
        "Is the keyboard included",
        "how long does the battery last?",
    ]
    assert question_parts("Is salt and water all it needs?") == ["Is salt and water all it needs?"]

    def embed(texts: list[str]) -> list[list[float]]:  # a toy: one axis per topic word
        return [[float("leaves" in t), float("headphones" in t), 0.1] for t in texts]

    passages = ["The headphones play for forty hours."]
    whole = embed([question])[0]
    assert support(question, passages, embed) > 0.99  # the second part matches alone
    assert whole[0] == whole[1] == 1.0  # while the whole question is half about leaves
