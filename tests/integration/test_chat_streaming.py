"""POST /api/chat with `Accept: text/event-stream` through the registered function, on the real
database: the events, what is stored, and the offline answerer's word-by-word stream. (The same
over a real socket, with a client that reads events as they arrive, is in
tests/http/test_streaming_chat.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk

from services.video_rag.bootstrap import Dependencies
from services.video_rag.providers.chat import LangChainAnswerer, OfflineExtractiveAnswerer
from tests.fakes import RecordingChatModel
from tests.helpers import body_of, invoke
from tests.integration.test_chat_api import ask, fake_model, history, session_id
from tests.support.sse import deltas_and_done, events_of

pytestmark = [pytest.mark.db]
__all__ = ["session_id"]  # the fixture, shared with the non-streaming tests

STREAM = {"Accept": "text/event-stream"}


def ask_streamed(session: str, message: str, **extra: Any) -> Any:
    response = invoke(
        "POST",
        "chat",
        headers={"X-Session-Id": session, **STREAM},
        json_body={"message": message, **extra},
    )
    assert response.status_code == 200, response.get_body()
    assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    return events_of(response.get_body())


class FailingMidStream(GenericFakeChatModel):
    """Streams two words, then the provider fails."""

    async def _astream(
        self, messages: list[BaseMessage], *args: Any, **kwargs: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        for word in ("About ", "nine"):
            yield ChatGenerationChunk(message=AIMessageChunk(content=word))
        raise ConnectionError("the provider dropped the connection: api_key=sk-secret123456")


class SilentModel(GenericFakeChatModel):
    async def _astream(
        self, messages: list[BaseMessage], *args: Any, **kwargs: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        for piece in ("  ", "\n"):
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))


@pytest.fixture
def offline(deps: Dependencies) -> None:
    deps.answerer = OfflineExtractiveAnswerer()


def test_the_offline_answerer_streams_word_by_word(
    deps: Dependencies, session_id: str, offline: None
) -> None:
    events = ask_streamed(session_id, "How long does the battery last?")
    text, done = deltas_and_done(events)
    assert len(events) > 5  # one delta per word
    assert all(len(e.data["text"].split()) == 1 for e in events[:-1])
    assert text == done["answer"]
    assert "nine hours" in text
    assert done["model"] == "offline-extractive"
    assert done["sources"][0]["video_id"] == "surfacego01"
    # Exactly what the non-streaming call answers to the same question.
    again = body_of(ask(session_id, "How long does the battery last?"))
    assert (again["answer"], again["sources"]) == (done["answer"], done["sources"])
    stored = history(session_id)
    assert [(m["role"], m["content"]) for m in stored[:2]] == [
        ("user", "How long does the battery last?"),
        ("assistant", done["answer"]),
    ]
    assert stored[1]["id"] == done["message_id"]
    assert stored[1]["sources"] == done["sources"]


def test_a_model_stream_drops_unknown_markers_only_from_done(
    deps: Dependencies, session_id: str
) -> None:
    deps.answerer = LangChainAnswerer(
        fake_model("About nine hours in his test [1]. Some say twelve [9]."), "fake-model"
    )
    text, done = deltas_and_done(ask_streamed(session_id, "How long does the battery last?"))
    assert text == "About nine hours in his test [1]. Some say twelve [9]."
    assert done["answer"] == "About nine hours in his test [1]. Some say twelve."
    assert [s["id"] for s in done["sources"]] == [1]
    assert done["model"] == "fake-model"
    assert history(session_id)[1]["content"] == done["answer"]


def test_a_failure_mid_stream_is_an_error_event_and_nothing_is_stored(
    deps: Dependencies, session_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    deps.answerer = LangChainAnswerer(FailingMidStream(messages=iter(["unused"])), "fake")
    events = ask_streamed(session_id, "How long does the battery last?")
    assert [e.name for e in events] == ["delta", "delta", "error"]
    error = events[-1].data["error"]
    assert error["code"] == "llm_error"
    assert error["request_id"]
    assert "sk-secret" not in str(events) + caplog.text
    assert history(session_id) == []


def test_an_empty_streamed_answer_is_an_error(deps: Dependencies, session_id: str) -> None:
    deps.answerer = LangChainAnswerer(SilentModel(messages=iter(["unused"])), "fake")
    events = ask_streamed(session_id, "How long does the battery last?")
    assert [e.name for e in events] == ["error"]
    assert events[0].data["error"]["code"] == "llm_error"
    assert history(session_id) == []


def test_the_condense_step_runs_only_for_follow_ups(deps: Dependencies, session_id: str) -> None:
    first = fake_model("About nine hours [1].")
    deps.answerer = LangChainAnswerer(first, "fake-model")
    deltas_and_done(ask_streamed(session_id, "How long does the battery last?"))
    assert len(first.received) == 1  # no history: no condense call

    standalone = fake_model("It is sold separately [1].")
    deps.answerer = LangChainAnswerer(standalone, "fake-model")
    deltas_and_done(ask_streamed(session_id, "How much does the type cover keyboard cost?"))
    assert len(standalone.received) == 1  # self-contained: answered without a rewrite

    follow_up = RecordingChatModel(
        messages=iter(["Is the type cover keyboard sold separately?", "Yes [1]."]), received=[]
    )
    deps.answerer = LangChainAnswerer(follow_up, "fake-model")
    _, done = deltas_and_done(ask_streamed(session_id, "And is that one extra?"))
    assert len(follow_up.received) == 2  # condense, then answer
    assert done["sources"][0]["video_id"] == "keyboard001"  # retrieved with the rewrite


def test_checks_fail_as_json_before_any_stream(deps: Dependencies, session_id: str) -> None:
    response = invoke(
        "POST",
        "chat",
        headers={"X-Session-Id": session_id, **STREAM},
        json_body={"message": "x", "video_ids": ["nosuchvideo"]},
    )
    assert response.status_code == 404
    assert body_of(response)["error"]["code"] == "video_not_found"
