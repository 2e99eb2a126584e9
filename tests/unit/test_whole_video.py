"""Questions about whole videos: recognising them, the videos they name, the offline outline."""

from __future__ import annotations

import pytest

from services.video_rag.domain.prompts import Passage, stem
from services.video_rag.domain.whole_video import (
    outline,
    title_words_asked,
    videos_named,
    whole_video_kind,
    without_title_words,
)


@pytest.mark.parametrize(
    "question",
    [
        "What is this video about?",
        "what's the video about",
        "What are these videos about?",
        "Give me a summary of the bread video",
        "Can you summarize it?",
        "Summarise the talk please",
        "Outline the tutorial",
        "What are the main points?",
        "key takeaways?",
        "tl;dr",
        "What does the review cover?",
        "Give me an overview",
    ],
)
def test_questions_about_whole_videos(question: str) -> None:
    assert whole_video_kind(question, videos_in_scope=1) == "summary"


@pytest.mark.parametrize(
    "question",
    [
        "How long does the battery last?",
        "What about the price?",
        "How long should the dough rest in the fridge?",
        "What temperature is the oven?",
        "Is the keyboard included?",
        "What is the difference in price?",  # one video in scope: an ordinary question
    ],
)
def test_ordinary_questions(question: str) -> None:
    assert whole_video_kind(question, videos_in_scope=1) is None


@pytest.mark.parametrize(
    "question",
    ["How do the two videos differ?", "Compare the laptops", "What do they have in common?"],
)
def test_comparisons_need_two_videos(question: str) -> None:
    assert whole_video_kind(question, videos_in_scope=2) == "comparison"
    assert whole_video_kind(question, videos_in_scope=1) != "comparison"


TITLES = {
    "bread000001": "Sourdough bread for beginners",
    "phones00001": "Wireless headphones review",
    "laptop00001": "Budget laptop review",
}


def test_a_video_named_by_its_title() -> None:
    assert videos_named("Give me a summary of the bread video", TITLES) == ["bread000001"]
    assert videos_named("Summarize the headphones review", TITLES) == ["phones00001"]
    assert videos_named("What is the laptop one about?", TITLES) == ["laptop00001"]
    assert videos_named("Summarize phones00001", TITLES) == ["phones00001"]


def test_no_video_named() -> None:
    assert videos_named("What is this video about?", TITLES) == []
    assert videos_named("Give me a summary of the review", TITLES) == []  # "review": generic


def test_two_videos_named_for_a_comparison() -> None:
    named = videos_named("Compare the headphones and the laptop", TITLES)
    assert sorted(named) == ["laptop00001", "phones00001"]


REVIEWS = {
    "aerolite14": "Aerolite 14 Review: The Lightest Laptop I've Tested",
    "brickhouse": "Brickhouse 16 Pro Review: A Gaming Laptop That Does It All",
    "sourdough01": "My Everyday Sourdough Bread",
}


def test_the_words_of_a_question_only_one_title_has() -> None:
    aerolite, brickhouse = stem("aerolite"), stem("brickhouse")  # the words, stemmed
    assert title_words_asked("How heavy is the Aerolite 14?", REVIEWS) == {aerolite: "aerolite14"}
    assert title_words_asked("Is the brickhouse's screen bright?", REVIEWS) == {
        brickhouse: "brickhouse"
    }
    assert title_words_asked("Which is lighter, the Brickhouse or the Aerolite?", REVIEWS) == {
        aerolite: "aerolite14",
        brickhouse: "brickhouse",
    }
    # "tested" is a word of one title only: whether it names that video depends on what the
    # other videos say (service.chat asks the database).
    assert title_words_asked("How did you test it?", REVIEWS) == {"test": "aerolite14"}


def test_shared_generic_and_numeric_title_words_are_not_asked_for() -> None:
    assert title_words_asked("Which laptop is lighter?", REVIEWS) == {}  # in two titles
    assert title_words_asked("Is the review honest?", REVIEWS) == {}  # a kind of video
    assert title_words_asked("Does it last 14 hours?", REVIEWS) == {}  # a number
    assert title_words_asked("How long does the dough rise?", REVIEWS) == {}


def test_title_words_are_taken_out_of_the_question() -> None:
    titles = [REVIEWS["brickhouse"]]
    assert (
        without_title_words("How big is the battery in the Brickhouse 16 Pro?", titles)
        == "How big is the battery in the"
    )
    assert without_title_words("What's the Brickhouse's weight?", titles) == "What's the weight?"
    assert without_title_words("Brickhouse 16 Pro?", titles) == "Brickhouse 16 Pro?"  # all
    assert without_title_words("How often should I water?", []) == "How often should I water?"


def passages_of(video: str, title: str, texts: list[str], first: int = 1) -> list[Passage]:
    return [
        Passage(first + i, video, title, i * 30.0, i * 30.0 + 30, text)
        for i, text in enumerate(texts)
    ]


def test_the_offline_outline_covers_each_video_in_time_order() -> None:
    bread = passages_of(
        "bread000001",
        "Sourdough",
        [
            "Welcome back. Today we bake a simple sourdough loaf with a lively starter.",
            "Mix the flour and water and let the dough rest for an hour.",
            "Fold the dough every thirty minutes during the bulk fermentation.",
            "Shape the loaf and let it proof in the fridge overnight.",
            "Bake the loaf in a hot dutch oven for forty minutes.",
            "Let the bread cool before you slice it. Thanks for watching.",
            "Next time we bake bagels.",
            "Subscribe for more bread videos.",
        ],
    )
    phones = passages_of(
        "phones00001",
        "Headphones",
        [
            "These headphones promise forty hours of battery life.",
            "The noise cancelling works well on a noisy train.",
        ],
        first=9,
    )
    text = outline([*bread, *phones], parts=4)
    bread_part, phones_part = text.split("\n\n")
    assert bread_part.startswith('"Sourdough" in 4 parts:\n')
    markers = [int(line.rsplit("[", 1)[1].rstrip("]")) for line in bread_part.splitlines()[1:]]
    assert markers == sorted(markers)  # time order
    assert len(set(markers)) == 4
    assert phones_part.startswith('"Headphones" in 2 parts:\n')
    assert "[9]" in phones_part
    assert "[10]" in phones_part


def test_an_outline_of_nothing_quotable_is_empty() -> None:
    assert outline(passages_of("short000001", "Short", ["Hi.", "Bye."])) == ""
