"""The whole chat path with the REAL langchain-openai clients, against a local OpenAI-compatible
server started by the test: embeddings in batches at ingestion, the prompt that reaches the model,
the answer that comes back, and the LLM failure and timeout codes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from services.video_rag.bootstrap import Dependencies
from services.video_rag.domain.prompts import NO_ANSWER
from tests.conftest import FakeClock
from tests.helpers import (
    BATTERY_TRANSCRIPT,
    QUESTION,
    app_with_model,
    ask,
    body_of,
    invoke,
    session_with,
)
from tests.support.fake_openai import FakeOpenAI

pytestmark = [pytest.mark.db]

CAPTIONS = [
    {
        "text": f"Part {i}: the battery lasts nine hours." if i == 7 else f"Part {i}: filler talk.",
        "start": i * 10.0,
        "duration": 10.0,
    }
    for i in range(40)
]


@pytest.fixture
def openai_deps(deps: Dependencies, clock: FakeClock) -> Iterator[tuple[Dependencies, FakeOpenAI]]:
    fake = FakeOpenAI(chat_replies=["It lasts nine hours [1]."])
    with app_with_model(
        deps, clock, fake, EMBEDDING_BATCH_SIZE="8", LLM_TIMEOUT_SECONDS="1"
    ) as pair:
        yield pair


def test_ingest_and_chat_through_the_real_openai_clients(
    openai_deps: tuple[Dependencies, FakeOpenAI],
) -> None:
    _, server = openai_deps
    sid = body_of(invoke("POST", "sessions"))["session_id"]
    headers = {"X-Session-Id": sid}
    added = invoke(
        "POST",
        "videos",
        headers=headers,
        json_body={
            "transcripts": [{"video_id": "batteryvid1", "format": "segments", "content": CAPTIONS}]
        },
    )
    (video,) = body_of(added)["videos"]
    assert video["status"] == "added"
    embedding_calls = [body for path, body in server.requests if path.endswith("/embeddings")]
    sizes = [len(body["input"]) for body in embedding_calls]
    assert sum(sizes) == video["chunks"]
    assert max(sizes) <= 8  # batches of EMBEDDING_BATCH_SIZE, not one request per chunk
    assert len(sizes) == -(-video["chunks"] // 8)

    response = invoke("POST", "chat", headers=headers, json_body={"message": "battery life?"})
    assert response.status_code == 200, response.get_body()
    body = body_of(response)
    assert body["answer"] == "It lasts nine hours [1]."
    assert body["model"] == "gpt-4o-mini"
    ((_, chat_request),) = server.chat_requests
    prompt = FakeOpenAI.message_text(chat_request)
    assert "battery lasts nine hours" in prompt  # the retrieved passage reached the model
    assert '<passage id="1"' in prompt
    assert "battery life?" in prompt
    assert chat_request["model"] == "gpt-4o-mini"


@pytest.mark.parametrize(
    ("status", "delay", "code"), [(500, 0.0, "llm_error"), (None, 3.0, "upstream_timeout")]
)
def test_llm_failures_store_nothing(
    openai_deps: tuple[Dependencies, FakeOpenAI], status: int | None, delay: float, code: str
) -> None:
    _, server = openai_deps
    sid = body_of(invoke("POST", "sessions"))["session_id"]
    headers = {"X-Session-Id": sid}
    invoke(
        "POST",
        "videos",
        headers=headers,
        json_body={
            "transcripts": [{"video_id": "batteryvid1", "format": "segments", "content": CAPTIONS}]
        },
    )
    server.only_path_containing = "/chat/completions"
    server.fail_with_status = status
    server.delay_seconds = delay
    response = invoke("POST", "chat", headers=headers, json_body={"message": "battery life?"})
    assert response.status_code == (502 if code == "llm_error" else 504)
    assert body_of(response)["error"]["code"] == code
    server.fail_with_status, server.delay_seconds = None, 0.0
    history = invoke("GET", "chat/messages", headers=headers)
    assert body_of(history)["messages"] == []


def test_with_a_model_a_question_nothing_supports_gets_the_not_found_answer_without_a_call(
    openai_deps: tuple[Dependencies, FakeOpenAI],
) -> None:
    deps, server = openai_deps
    headers = session_with(BATTERY_TRANSCRIPT)
    assert deps.settings.model_not_found_threshold == 15  # the default
    body = ask(headers, "Who wrote the novel Pride and Prejudice?")
    assert (body["answer"], body["sources"]) == (NO_ANSWER, [])
    assert not server.chat_requests  # no model call for it
    assert ask(headers, QUESTION)["answer"] == "It lasts nine hours [1]."
    assert len(server.chat_requests) == 1  # a supported question reaches the model

    deps.settings = replace(deps.settings, model_not_found_threshold=0)  # the check off
    ask(headers, "Who wrote the novel Pride and Prejudice?")
    assert len(server.chat_requests) == 2
