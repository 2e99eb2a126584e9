"""Citations point at the sentence that supports the claim (`at_seconds`, the `t=` of the link,
the excerpt), sources are numbered in order of first citation, and uploads work for any video:
an id of the caller's (or the server's), a link of their own, or plain text without timings."""

from __future__ import annotations

from typing import Any

import pytest

from services.video_rag.bootstrap import Dependencies
from services.video_rag.providers.chat import LangChainAnswerer
from tests.helpers import ask, body_of, invoke, session_with
from tests.integration.test_chat_api import fake_model

pytestmark = [pytest.mark.db]

REVIEW = (
    "WEBVTT\n\n"
    "00:01:45.000 --> 00:01:52.000\nLet me talk about the design first, it is a slim tablet.\n\n"
    "00:01:52.000 --> 00:02:05.000\nThe hinge feels solid and the kickstand goes far back.\n\n"
    "00:02:05.000 --> 00:02:25.000\nThe speakers are loud enough for a small room.\n\n"
    "00:02:25.000 --> 00:02:32.000\nIn my playback test the battery lasted nine hours.\n\n"
    "00:02:32.000 --> 00:02:40.000\nCharging back to full takes about two hours.\n"
)


REVIEW_UPLOAD = {"video_id": "surfacego01", "title": "Review", "format": "vtt", "content": REVIEW}


def test_an_offline_citation_points_at_the_sentence_it_quotes(deps: Dependencies) -> None:
    headers = session_with(REVIEW_UPLOAD)
    body = ask(headers, "How long does the battery last?")
    (source,) = body["sources"]
    assert source["start_seconds"] == 105.0  # the passage
    assert source["at_seconds"] == 145.0  # the sentence that answers
    assert source["url"] == "https://www.youtube.com/watch?v=surfacego01&t=145s"
    assert source["text"] == "In my playback test the battery lasted nine hours."
    assert "at 2:25" in body["answer"]


def test_a_model_citation_points_at_the_sentence_that_supports_its_claim(
    deps: Dependencies,
) -> None:
    headers = session_with(REVIEW_UPLOAD)
    deps.answerer = LangChainAnswerer(
        fake_model("It charges to full in about two hours [1]."), "fake-model"
    )
    (source,) = ask(headers, "How long does charging take?")["sources"]
    assert source["at_seconds"] == 152.0
    assert source["text"] == "Charging back to full takes about two hours."
    assert source["url"].endswith("&t=152s")


def test_sources_are_numbered_in_order_of_first_citation(deps: Dependencies) -> None:
    other = {
        "video_id": "keyboard001",
        "title": "Keyboard",
        "format": "vtt",
        "content": "WEBVTT\n\n00:00:10.000 --> 00:00:20.000\nThe keyboard costs one hundred "
        "dollars and is sold separately.\n",
    }
    headers = session_with(REVIEW_UPLOAD, other)
    model = fake_model("The keyboard is extra [2]. The battery lasts nine hours [1].")
    deps.answerer = LangChainAnswerer(model, "fake-model")
    body = ask(headers, "Is the keyboard included, and how long does the battery last?")
    assert body["answer"] == "The keyboard is extra [1]. The battery lasts nine hours [2]."
    first, second = body["sources"]
    assert (first["id"], second["id"]) == (1, 2)
    # The model's [2] is now [1]: the passage the prompt numbered 2 is the first source.
    prompt = "\n".join(str(m.content) for m in model.received[0])
    second_in_prompt = prompt.split('<passage id="2" video="', 1)[1].split('"', 1)[0]
    assert first["video_id"] in second_in_prompt
    assert second["video_id"] != first["video_id"]


def test_an_upload_without_an_id_gets_one_and_links_nowhere(deps: Dependencies) -> None:
    upload = {"title": "Team meeting", "format": "vtt", "content": REVIEW}
    headers = {"X-Session-Id": body_of(invoke("POST", "sessions"))["session_id"]}
    (added,) = body_of(
        invoke("POST", "videos", headers=headers, json_body={"transcripts": [upload]})
    )["videos"]
    assert added["status"] == "added"
    video_id = added["video_id"]
    assert video_id.startswith("upload-")
    assert len(video_id) != 11  # never taken for a YouTube id
    (listed,) = body_of(invoke("GET", "videos", headers=headers))["videos"]
    assert (listed["video_id"], listed["url"]) == (video_id, None)
    (source,) = ask(headers, "How long does the battery last?")["sources"]
    assert (source["video_id"], source["url"], source["at_seconds"]) == (video_id, None, 145.0)
    assert (
        invoke(
            "DELETE", "videos/{video_id}", headers=headers, route_params={"video_id": video_id}
        ).status_code
        == 204
    )


def test_an_upload_with_its_own_link_and_a_long_id(deps: Dependencies) -> None:
    video_id = "lecture-2026-11-29_room-B" + "x" * 39  # 64 characters
    upload = {
        "video_id": video_id,
        "url": "https://media.example.org/lectures/42.mp4#old-fragment",
        "format": "vtt",
        "content": REVIEW,
    }
    headers = session_with(upload)
    (listed,) = body_of(invoke("GET", "videos", headers=headers))["videos"]
    assert listed["url"] == "https://media.example.org/lectures/42.mp4"
    (source,) = ask(headers, "How long does the battery last?")["sources"]
    assert source["url"] == "https://media.example.org/lectures/42.mp4#t=145"


def test_plain_text_has_no_moments(deps: Dependencies) -> None:
    upload = {
        "video_id": "notes",
        "url": "https://example.org/talk",
        "format": "text",
        "content": "Welcome to the talk.\n\nThe battery lasted nine hours in my test.\n\nBye.",
    }
    headers = session_with(upload)
    body = ask(headers, "How long does the battery last?")
    (source,) = body["sources"]
    assert source["at_seconds"] is None
    assert source["url"] == "https://example.org/talk"
    assert source["text"] == "The battery lasted nine hours in my test."
    assert " at " not in body["answer"].split(":")[0]  # no time in the quote's heading


@pytest.mark.parametrize(
    "upload",
    [
        {"video_id": "x" * 65, "format": "vtt", "content": REVIEW},
        {"video_id": "no spaces", "format": "vtt", "content": REVIEW},
        {"video_id": "ok", "url": "ftp://example.org/v", "format": "vtt", "content": REVIEW},
        {"video_id": "ok", "url": "javascript:alert(1)", "format": "vtt", "content": REVIEW},
        {"video_id": "ok", "format": "doc", "content": REVIEW},
    ],
)
def test_bad_upload_fields_are_validation_errors(
    deps: Dependencies, upload: dict[str, Any]
) -> None:
    headers = {"X-Session-Id": body_of(invoke("POST", "sessions"))["session_id"]}
    response = invoke("POST", "videos", headers=headers, json_body={"transcripts": [upload]})
    assert response.status_code == 400
    assert body_of(response)["error"]["code"] == "validation_error"
