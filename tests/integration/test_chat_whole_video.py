"""Questions about whole videos through POST /api/chat on the real database: the offline outline,
a question naming a video by its title, comparisons, and, through the real langchain-openai client
against a local OpenAI-compatible server, whole transcripts in the prompt (or notes on their parts
when they do not fit WHOLE_VIDEO_TOKEN_BUDGET)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from services.video_rag.bootstrap import Dependencies
from services.video_rag.domain.prompts import WHOLE_VIDEO_INSTRUCTIONS
from services.video_rag.service import chat as chat_service
from tests.conftest import FakeClock
from tests.helpers import app_with_model, ask, body_of, invoke, session_with
from tests.support.fake_openai import FakeOpenAI

pytestmark = [pytest.mark.db]

BREAD = [
    "Welcome back to the kitchen, today we bake a simple sourdough loaf.",
    "First feed your starter the night before so that it is lively and bubbly.",
    "Mix five hundred grams of flour with three hundred and fifty grams of water.",
    "Let the dough rest for an hour before you add the salt and the starter.",
    "During the bulk fermentation, fold the dough every thirty minutes.",
    "Shape the loaf gently and put it in a floured banneton basket.",
    "Let it proof in the fridge overnight, about twelve hours.",
    "Preheat the oven with a dutch oven inside to two hundred fifty degrees.",
    "Bake covered for twenty minutes, then uncovered until deep brown.",
    "Let the bread cool completely before slicing, thanks for watching.",
]
PHONES = [
    "Hi everyone, these are the new wireless headphones from a budget brand.",
    "The company claims forty hours of battery life and I measured thirty eight.",
    "Noise cancelling works well on the train but struggles with wind outside.",
    "The ear cushions are soft although they get warm after an hour or two.",
    "Overall they are a good deal for the price, I recommend them to commuters.",
]


def segments(sentences: list[str], seconds: float = 40.0) -> list[dict[str, object]]:
    return [
        {"text": text, "start": i * seconds, "duration": seconds - 1}
        for i, text in enumerate(sentences)
    ]


def new_session(videos: dict[str, tuple[str, list[str]]]) -> dict[str, str]:
    return session_with(
        *(
            {"video_id": video_id, "title": title, "format": "segments", "content": segments(text)}
            for video_id, (title, text) in videos.items()
        )
    )


TWO_VIDEOS = {
    "sourdough01": ("Sourdough bread for beginners", BREAD),
    "headphones1": ("Budget wireless headphones review", PHONES),
}


def test_a_summary_of_the_video_named_in_the_question(deps: Dependencies) -> None:
    headers = new_session(TWO_VIDEOS)
    body = ask(headers, "Give me a summary of the bread video")
    assert body["answer"].startswith('"Sourdough bread for beginners" in ')
    assert {s["video_id"] for s in body["sources"]} == {"sourdough01"}
    moments = [s["start_seconds"] for s in body["sources"]]
    assert len(moments) >= 4  # the whole video, not the few passages a retrieval would find
    assert moments[0] < 100
    assert moments[-1] > 200


def test_what_is_it_about_covers_every_video_in_scope(deps: Dependencies) -> None:
    headers = new_session(TWO_VIDEOS)
    body = ask(headers, "What are these videos about?")
    assert {s["video_id"] for s in body["sources"]} == {"sourdough01", "headphones1"}
    only = invoke(
        "POST",
        "chat",
        headers=headers,
        json_body={"message": "What is this video about?", "video_ids": ["headphones1"]},
    )
    assert {s["video_id"] for s in body_of(only)["sources"]} == {"headphones1"}


def test_a_comparison_reads_both_videos(deps: Dependencies) -> None:
    headers = new_session(TWO_VIDEOS)
    body = ask(headers, "How do the two videos differ?")
    assert {s["video_id"] for s in body["sources"]} == {"sourdough01", "headphones1"}


def test_an_ordinary_question_still_uses_retrieval(deps: Dependencies) -> None:
    headers = new_session(TWO_VIDEOS)
    body = ask(headers, "How long does the dough proof in the fridge?")
    assert body["sources"][0]["video_id"] == "sourdough01"
    assert "in 5 parts" not in body["answer"]


@pytest.fixture
def model(deps: Dependencies, clock: FakeClock) -> Iterator[tuple[Dependencies, FakeOpenAI]]:
    with app_with_model(
        deps, clock, FakeOpenAI(chat_replies=["It is about baking bread [1][3]."])
    ) as pair:
        yield pair


def test_whole_transcripts_reach_the_model(model: tuple[Dependencies, FakeOpenAI]) -> None:
    _, fake = model
    headers = new_session(TWO_VIDEOS)
    body = ask(headers, "Give me a summary of the bread video")
    # Passages 1 and 3, numbered in order of first citation.
    assert body["answer"] == "It is about baking bread [1][2]."
    assert [s["id"] for s in body["sources"]] == [1, 2]
    assert body["sources"][1]["start_seconds"] > body["sources"][0]["start_seconds"]
    (_, request), *_ = [r for r in fake.chat_requests]
    prompt = FakeOpenAI.message_text(request)
    assert WHOLE_VIDEO_INSTRUCTIONS.splitlines()[0] in prompt
    for sentence in BREAD:  # every part of the video, in time order
        assert sentence in prompt
    assert prompt.index(BREAD[0]) < prompt.index(BREAD[-1])
    assert PHONES[1] not in prompt  # the other video was not asked about


def test_videos_too_long_for_the_budget_are_read_part_by_part(
    model: tuple[Dependencies, FakeOpenAI],
) -> None:
    deps, fake = model
    deps.settings = replace(deps.settings, whole_video_token_budget=120)
    fake.chat_replies = lambda body: (
        "- notes on this part"
        if "Transcript part" in FakeOpenAI.message_text(body)
        else "Baking in steps [1][2]."
    )
    headers = new_session(TWO_VIDEOS)
    body = ask(headers, "Summarize the sourdough video")
    *notes_requests, (_, final) = fake.chat_requests
    assert len(notes_requests) >= 2  # the map step, one request per part
    for _, request in notes_requests:
        assert "Transcript part" in FakeOpenAI.message_text(request)
    final_prompt = FakeOpenAI.message_text(final)
    assert "notes on this part" in final_prompt
    assert BREAD[4] not in final_prompt  # the reduce step reads notes, not the transcript
    sources = body["sources"]
    assert [s["id"] for s in sources] == [1, 2]
    assert sources[0]["start_seconds"] == 0.0
    assert sources[1]["start_seconds"] > sources[0]["start_seconds"]


def test_the_notes_step_makes_at_most_the_configured_number_of_calls(
    model: tuple[Dependencies, FakeOpenAI],
) -> None:
    deps, fake = model
    deps.settings = replace(
        deps.settings, whole_video_token_budget=40, whole_video_max_note_calls=2
    )
    fake.chat_replies = lambda body: (
        "- notes" if "Transcript part" in FakeOpenAI.message_text(body) else "Baking [1]."
    )
    headers = new_session(TWO_VIDEOS)
    body = ask(headers, "Summarize the sourdough video")
    *notes_requests, _ = fake.chat_requests
    assert 1 <= len(notes_requests) <= 2
    assert body["answer"] == "Baking [1]."


def test_the_notes_on_the_parts_are_written_at_the_same_time(
    model: tuple[Dependencies, FakeOpenAI],
) -> None:
    deps, fake = model
    deps.settings = replace(deps.settings, whole_video_token_budget=120)
    fake.delay_seconds = 1.0  # each reply, after the request arrived
    arrived: list[float] = []

    def reply(body: dict[str, Any]) -> str:
        if "Transcript part" not in FakeOpenAI.message_text(body):
            return "Baking in steps [1]."
        arrived.append(time.monotonic())
        return "- notes"

    fake.chat_replies = reply
    body = ask(new_session(TWO_VIDEOS), "Summarize the sourdough video")
    assert body["answer"] == "Baking in steps [1]."
    assert len(arrived) >= 2
    # One by one, each notes request would arrive at least 1 s after the one before.
    assert arrived[1] - arrived[0] < 0.8


def test_notes_not_written_in_time_are_a_timeout(
    model: tuple[Dependencies, FakeOpenAI], monkeypatch: pytest.MonkeyPatch
) -> None:
    deps, fake = model
    # One notes call at a time, each 0.7 s: four parts need 2.8 s, beyond twice the 1 s timeout.
    monkeypatch.setattr(chat_service, "NOTE_CALLS_AT_ONCE", 1)
    deps.settings = replace(deps.settings, whole_video_token_budget=80, llm_timeout_seconds=1)

    def reply(body: dict[str, Any]) -> str:
        if "Transcript part" in FakeOpenAI.message_text(body):
            time.sleep(0.7)
            return "- notes"
        return "Baking [1]."

    fake.chat_replies = reply
    response = invoke(
        "POST",
        "chat",
        headers=new_session(TWO_VIDEOS),
        json_body={"message": "Summarize the sourdough video"},
    )
    assert response.status_code == 504
    assert body_of(response)["error"]["code"] == "upstream_timeout"
    notes = [r for _, r in fake.chat_requests if "Transcript part" in FakeOpenAI.message_text(r)]
    assert 2 <= len(notes) < 4  # the rest were never asked for
    assert not [
        r for _, r in fake.chat_requests if "Transcript part" not in FakeOpenAI.message_text(r)
    ]
