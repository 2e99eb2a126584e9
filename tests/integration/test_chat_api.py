"""POST /api/chat, GET and DELETE /api/chat/messages through the registered functions, on the
real database, with langchain-core's fake chat models (and the offline answerer)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult
from sqlalchemy.orm import Session

from services.video_rag.bootstrap import Dependencies
from services.video_rag.db.models import ChatMessage
from services.video_rag.providers.chat import LangChainAnswerer
from tests.conftest import FakeClock
from tests.factories import add_exchange, session_uuid
from tests.fakes import RecordingChatModel
from tests.helpers import body_of, invoke

pytestmark = [pytest.mark.db]

SURFACE = (
    "WEBVTT\n\n"
    "00:00:01.000 --> 00:00:20.000\nWelcome to my review of the Surface Go tablet.\n\n"
    "00:01:24.000 --> 00:01:40.000\nThe battery lasts about nine hours in my playback test.\n\n"
    "00:02:10.000 --> 00:02:30.000\nThe screen is bright and sharp for the price.\n"
)
KEYBOARD = (
    "WEBVTT\n\n"
    "00:00:05.000 --> 00:00:15.000\nThis video is about the type cover keyboard accessory.\n\n"
    "00:00:42.000 --> 00:00:58.000\nThe keyboard is sold separately for one hundred dollars.\n"
)


class BrokenChatModel(GenericFakeChatModel):
    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        raise ConnectionError("the model provider is down")


def fake_model(*replies: str) -> RecordingChatModel:
    return RecordingChatModel(messages=iter(replies), received=[])


@pytest.fixture
def session_id(deps: Dependencies) -> str:
    sid = str(body_of(invoke("POST", "sessions"))["session_id"])
    response = invoke(
        "POST",
        "videos",
        headers={"X-Session-Id": sid},
        json_body={
            "transcripts": [
                {
                    "video_id": "surfacego01",
                    "title": "Surface Go Review",
                    "format": "vtt",
                    "content": SURFACE,
                },
                {
                    "video_id": "keyboard001",
                    "title": "Type Cover",
                    "format": "vtt",
                    "content": KEYBOARD,
                },
            ]
        },
    )
    assert [v["status"] for v in body_of(response)["videos"]] == ["added", "added"]
    return sid


def ask(session_id: str, message: str, **extra: Any) -> Any:
    return invoke(
        "POST",
        "chat",
        headers={"X-Session-Id": session_id},
        json_body={"message": message, **extra},
    )


def history(session_id: str, **params: str) -> list[dict]:
    response = invoke("GET", "chat/messages", headers={"X-Session-Id": session_id}, params=params)
    assert response.status_code == 200
    return body_of(response)["messages"]


def test_answer_with_mapped_citations_and_stored_history(
    deps: Dependencies, session_id: str
) -> None:
    model = fake_model("About nine hours in his test [1]. Some say twelve [9].")
    deps.answerer = LangChainAnswerer(model, "fake-model")
    response = ask(session_id, "How long does the battery last?")
    assert response.status_code == 200, response.get_body()
    body = body_of(response)
    assert body["answer"] == "About nine hours in his test [1]. Some say twelve."
    assert body["model"] == "fake-model"
    (source,) = body["sources"]
    assert source["id"] == 1
    assert source["video_id"] == "surfacego01"
    assert source["title"] == "Surface Go Review"
    assert "nine hours" in source["text"]
    assert (
        source["url"]
        == f"https://www.youtube.com/watch?v=surfacego01&t={int(source['start_seconds'])}s"
    )
    # The prompt carried the retrieved passages, delimited, and the question.
    (prompt,) = model.received
    sent = "\n".join(str(m.content) for m in prompt)
    assert "nine hours" in sent
    assert "How long does the battery last?" in sent

    messages = history(session_id)
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "How long does the battery last?"),
        ("assistant", body["answer"]),
    ]
    assert messages[0]["sources"] == []
    assert messages[1]["sources"] == body["sources"]
    assert messages[1]["id"] == body["message_id"]
    assert messages[1]["created_at"].endswith("Z")


def test_a_follow_up_is_condensed_before_retrieval(deps: Dependencies, session_id: str) -> None:
    deps.answerer = LangChainAnswerer(fake_model("About nine hours [1]."), "fake-model")
    assert ask(session_id, "How long does the battery last?").status_code == 200

    model = fake_model("Is the type cover keyboard sold separately?", "Yes, it is extra [1].")
    deps.answerer = LangChainAnswerer(model, "fake-model")
    body = body_of(ask(session_id, "And that one?"))
    assert body["answer"] == "Yes, it is extra [1]."
    assert body["sources"][0]["video_id"] == "keyboard001"  # found by the condensed question
    condense, answer = model.received
    assert "How long does the battery last?" in "\n".join(str(m.content) for m in condense)
    assert "And that one?" in "\n".join(str(m.content) for m in answer)
    assert len(history(session_id)) == 4
    assert [m["content"] for m in history(session_id, limit="2")] == [
        "And that one?",
        "Yes, it is extra [1].",
    ]


def test_model_failure_is_502_and_stores_nothing(deps: Dependencies, session_id: str) -> None:
    deps.answerer = LangChainAnswerer(BrokenChatModel(messages=iter([])), "broken")
    response = ask(session_id, "How long does the battery last?")
    assert response.status_code == 502
    assert body_of(response)["error"]["code"] == "llm_error"
    assert "down" not in body_of(response)["error"]["message"]
    assert history(session_id) == []


def test_offline_answers_quote_the_right_passage_of_the_right_video(session_id: str) -> None:
    body = body_of(ask(session_id, "How much does the keyboard cost?"))
    assert body["model"] == "offline-extractive"
    assert body["sources"], body
    assert body["sources"][0]["video_id"] == "keyboard001"
    assert body["sources"][0]["start_seconds"] <= 42.0 <= body["sources"][0]["end_seconds"]
    assert "[1]" in body["answer"]
    body = body_of(ask(session_id, "How long does the battery last?"))
    assert body["sources"][0]["video_id"] == "surfacego01"
    assert "nine hours" in body["answer"]


def test_offline_says_so_when_the_videos_do_not_answer(session_id: str) -> None:
    body = body_of(ask(session_id, "Who won the football world cup?"))
    assert body["sources"] == []
    assert "couldn" in body["answer"].lower() or "not" in body["answer"].lower()


def test_video_ids_limit_the_search(session_id: str) -> None:
    body = body_of(ask(session_id, "battery keyboard", video_ids=["keyboard001"]))
    assert {s["video_id"] for s in body["sources"]} <= {"keyboard001"}
    missing = ask(session_id, "battery", video_ids=["zzzzzzzzzzz"])
    assert (missing.status_code, body_of(missing)["error"]["code"]) == (404, "video_not_found")


def test_a_session_without_videos_gets_409(deps: Dependencies) -> None:
    sid = str(body_of(invoke("POST", "sessions"))["session_id"])
    response = ask(sid, "Anything?")
    assert (response.status_code, body_of(response)["error"]["code"]) == (409, "no_videos")


def test_message_rules(deps: Dependencies, session_id: str) -> None:
    deps.settings = replace(deps.settings, max_message_chars=20)
    for message in ["", "   ", "x" * 21]:
        response = ask(session_id, message)
        assert response.status_code == 400
        assert body_of(response)["error"]["details"][0]["field"] == "message"
    wrong = invoke("POST", "chat", headers={"X-Session-Id": session_id}, json_body={"msg": "hi"})
    assert body_of(wrong)["error"]["code"] == "validation_error"
    bad_limit = invoke(
        "GET", "chat/messages", headers={"X-Session-Id": session_id}, params={"limit": "0"}
    )
    assert bad_limit.status_code == 400


def test_rate_limit_per_session(deps: Dependencies, session_id: str, clock) -> None:
    deps.settings = replace(deps.settings, chat_rate_limit_per_minute=2)
    assert ask(session_id, "battery?").status_code == 200
    clock.advance(seconds=10)
    assert ask(session_id, "screen?").status_code == 200
    clock.advance(seconds=5)
    limited = ask(session_id, "price?")
    assert limited.status_code == 429
    assert body_of(limited)["error"]["code"] == "rate_limited"
    assert limited.headers["Retry-After"] == "45"
    clock.advance(seconds=46)
    assert ask(session_id, "price?").status_code == 200


def test_clearing_the_history_keeps_the_videos(session_id: str) -> None:
    assert ask(session_id, "battery?").status_code == 200
    response = invoke("DELETE", "chat/messages", headers={"X-Session-Id": session_id})
    assert response.status_code == 204
    assert history(session_id) == []
    current = body_of(invoke("GET", "sessions/current", headers={"X-Session-Id": session_id}))
    assert (current["videos"], current["messages"]) == (2, 0)


class ConstantEmbeddings:
    """Every text gets the same vector: the vector side cannot tell passages apart."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return [1.0] + [0.0] * 1535


def test_full_text_side_finds_a_passage_from_a_whole_question(deps: Dependencies) -> None:
    deps.embedder = ConstantEmbeddings()
    sid = str(body_of(invoke("POST", "sessions"))["session_id"])
    segments = [
        {
            "text": f"Segment {i} is about nothing in particular, just talk.",
            "start": i * 60.0,
            "duration": 60.0,
        }
        for i in range(300)
    ]
    segments[230] = {
        "text": "The hinge of the kickstand goes to 165 degrees.",
        "start": 13800.0,
        "duration": 60.0,
    }
    invoke(
        "POST",
        "videos",
        headers={"X-Session-Id": sid},
        json_body={
            "transcripts": [{"video_id": "kickstand01", "format": "segments", "content": segments}]
        },
    )
    body = body_of(ask(sid, "How far does the kickstand hinge open?"))
    # Retrieval returns 6 of about 15 chunks; only the full-text side can pick the right one.
    assert "kickstand" in body["sources"][0]["text"]


def test_the_history_is_at_most_a_thousand_newest_messages(
    session_id: str, db: Session, clock: FakeClock
) -> None:
    key = session_uuid(db, session_id)
    for _ in range(501):  # 1,002 messages
        add_exchange(db, key, clock())
    db.add(
        ChatMessage(
            id=uuid.uuid4(), session_id=key, role="user", content="newest", created_at=clock()
        )
    )
    db.commit()
    messages = history(session_id)
    assert len(messages) == 1000
    assert messages[-1]["content"] == "newest"
    assert messages[0]["role"] == "assistant"  # the oldest three are left out
    assert len(history(session_id, limit="3")) == 3
    assert (
        invoke(
            "GET", "chat/messages", headers={"X-Session-Id": session_id}, params={"limit": "1001"}
        ).status_code
        == 400
    )
    legacy = invoke("GET", "getchatmessagehistory", params={"session_id": session_id})
    chat_messages = body_of(legacy)["chat_messages"]
    assert len(chat_messages) == 1000
    assert chat_messages[-1]["content"] == "newest"
