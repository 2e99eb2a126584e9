"""A question that names some videos by their own title words is answered from those videos."""

from __future__ import annotations

from typing import Any

from services.video_rag.bootstrap import Dependencies
from tests.fakes import RecordingAnswerer
from tests.helpers import ask, session_with


def review(video_id: str, title: str, lines: list[str]) -> dict[str, Any]:
    return {
        "video_id": video_id,
        "title": title,
        "format": "segments",
        "content": [
            {"text": line, "start": index * 6.0, "duration": 6.0}
            for index, line in enumerate(lines)
        ],
    }


AEROLITE = review(
    "aerolite14",
    "Aerolite 14 Review: The Lightest Laptop I've Tested",
    [
        "The Aerolite 14 is the lightest laptop I have reviewed.",
        "The Aerolite 14 battery lasted fourteen hours in my test.",
        "The Aerolite 14 keyboard is shallow but snappy.",
    ],
)
BRICKHOUSE = review(
    "brickhouse16",
    "Brickhouse 16 Pro Review: A Gaming Laptop",
    [
        "The Brickhouse 16 Pro is a heavy gaming laptop.",
        "The Brickhouse 16 Pro battery lasted four hours gaming unplugged.",
        "The Brickhouse 16 Pro keyboard has per-key lighting.",
    ],
)


def recorded(deps: Dependencies) -> RecordingAnswerer:
    deps.answerer = answerer = RecordingAnswerer()
    return answerer


def test_a_question_naming_a_video_is_answered_from_it(deps: Dependencies) -> None:
    headers = session_with(AEROLITE, BRICKHOUSE)
    answerer = recorded(deps)
    body = ask(headers, "How long does the Brickhouse battery last?")
    assert {p.video_id for p in answerer.passages} == {"brickhouse16"}
    assert [s["video_id"] for s in body["sources"]] == ["brickhouse16"]
    assert "four hours" in body["answer"]


def test_a_question_naming_two_videos_gets_passages_of_each(deps: Dependencies) -> None:
    headers = session_with(AEROLITE, BRICKHOUSE)
    answerer = recorded(deps)
    ask(headers, "Which battery lasts longer, the Aerolite or the Brickhouse?")
    by_video = [p.video_id for p in answerer.passages]
    assert by_video[:2] in (["aerolite14", "brickhouse16"], ["brickhouse16", "aerolite14"])
    assert by_video.count("aerolite14") == by_video.count("brickhouse16")  # an equal share
    assert [p.number for p in answerer.passages] == list(range(1, len(by_video) + 1))


def test_questions_that_name_no_single_video_search_them_all(deps: Dependencies) -> None:
    headers = session_with(AEROLITE, BRICKHOUSE)
    answerer = recorded(deps)
    ask(headers, "Which laptop has the better keyboard?")  # a word of both titles
    assert {p.video_id for p in answerer.passages} == {"aerolite14", "brickhouse16"}
    # Two questions in one, one of them naming a video: both are searched everywhere.
    ask(headers, "Is the Aerolite keyboard shallow, and how long does a gaming battery last?")
    assert {p.video_id for p in answerer.passages} == {"aerolite14", "brickhouse16"}


def test_a_title_word_another_video_says_names_no_video(deps: Dependencies) -> None:
    # "Tested" is only in the Aerolite's title, but the Brickhouse review says "test" too.
    brickhouse = review(
        "brickhouse16",
        "Brickhouse 16 Pro Review: A Gaming Laptop",
        [
            "The Brickhouse 16 Pro is a heavy gaming laptop.",
            "In my battery test the Brickhouse 16 Pro lasted four hours.",
        ],
    )
    headers = session_with(AEROLITE, brickhouse)
    answerer = recorded(deps)
    ask(headers, "How long did the battery test last?")
    assert {p.video_id for p in answerer.passages} == {"aerolite14", "brickhouse16"}
    ask(headers, "How long did the Aerolite battery test last?")  # named by "Aerolite"
    assert {p.video_id for p in answerer.passages} == {"aerolite14"}
