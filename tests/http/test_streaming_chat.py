"""Streamed answers as a front-end receives them: the local host on a real socket, the real
langchain-openai client streaming from a local OpenAI-compatible server, events read with httpx
as they arrive."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.http.conftest import model_environment, running_host
from tests.support.fake_openai import FakeOpenAI, fake_openai_server
from tests.support.sse import Event, deltas_and_done, parse_events

pytestmark = [pytest.mark.db]

STREAM = {"Accept": "text/event-stream"}
VTT = (
    "WEBVTT\n\n00:01:24.000 --> 00:01:40.000\nThe battery lasts about nine hours.\n\n"
    "00:02:10.000 --> 00:02:30.000\nThe keyboard is sold separately.\n"
)
ANSWER = "The battery lasts about nine hours [1], longer than most [7]."


@pytest.fixture(scope="module")
def model() -> Iterator[FakeOpenAI]:
    with fake_openai_server(FakeOpenAI(chat_replies=[ANSWER])) as fake:
        yield fake


@pytest.fixture(scope="module")
def host(
    host_database_url: str, model: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    env = model_environment(host_database_url, model.base_url)
    log = tmp_path_factory.mktemp("streaming-host") / "host.log"
    with running_host(env, "--no-migrate", log=log) as base:
        yield base


@pytest.fixture(autouse=True)
def fresh_model(model: FakeOpenAI) -> Iterator[None]:
    yield
    model.reset_streaming()


@pytest.fixture
def session(client: httpx.Client, new_session: Callable[[], str]) -> dict[str, str]:
    headers = {"X-Session-Id": new_session()}
    upload = {"video_id": "surfacego01", "title": "Surface Go", "format": "vtt", "content": VTT}
    added = client.post("/videos", headers=headers, json={"transcripts": [upload]})
    assert added.json()["videos"][0]["status"] == "added", added.text
    return headers


def wait_for(condition: Callable[[], bool], seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_the_first_delta_arrives_while_the_model_is_still_writing(
    client: httpx.Client, session: dict[str, str], model: FakeOpenAI
) -> None:
    # The model sends its first word, then waits until the test has read the first event: a
    # server that buffered the answer would never deliver it, and the test would time out.
    model.stream_gate = threading.Event()
    completed_before = model.streams_completed
    events: list[Event] = []
    with client.stream(
        "POST", "/chat", headers={**session, **STREAM}, json={"message": "battery life?"}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-request-id"]
        for event in parse_events(response.iter_lines()):
            events.append(event)
            if len(events) == 1:
                assert event.name == "delta"
                assert model.streams_completed == completed_before  # still writing
                model.stream_gate.set()
    text, done = deltas_and_done(events)
    assert len(events) > 3  # word by word, not one piece
    assert text == ANSWER
    # The unknown marker [7] is dropped from the stored answer; [1] is a source.
    assert done["answer"] == "The battery lasts about nine hours [1], longer than most."
    assert [source["id"] for source in done["sources"]] == [1]
    assert done["sources"][0]["url"].endswith("watch?v=surfacego01&t=84s")
    assert done["model"] == "gpt-4o-mini"
    history = client.get("/chat/messages", headers=session).json()["messages"]
    assert [(m["role"], m["content"]) for m in history] == [
        ("user", "battery life?"),
        ("assistant", done["answer"]),
    ]
    assert history[1]["id"] == done["message_id"]


def test_a_model_failure_mid_stream_is_an_error_event_and_stores_nothing(
    client: httpx.Client, session: dict[str, str], model: FakeOpenAI
) -> None:
    model.break_stream_after = 3
    response = client.post(
        "/chat",
        headers={**session, **STREAM, "X-Request-Id": "stream-1"},
        json={"message": "battery life?"},
    )
    assert response.status_code == 200
    events = list(parse_events(response.text.split("\n")))
    assert [e.name for e in events] == ["delta", "delta", "delta", "error"]
    error = events[-1].data["error"]
    assert error["code"] == "llm_error"
    assert error["request_id"] == "stream-1"
    assert "boom" not in error["message"]  # the provider's words stay in the log
    assert client.get("/chat/messages", headers=session).json()["messages"] == []


def test_a_client_that_disconnects_stops_the_model_and_nothing_is_stored(
    client: httpx.Client, session: dict[str, str], model: FakeOpenAI
) -> None:
    model.stream_gate = threading.Event()
    model.token_delay_seconds = 0.05
    abandoned_before = model.streams_abandoned
    with client.stream(
        "POST", "/chat", headers={**session, **STREAM}, json={"message": "battery life?"}
    ) as response:
        first = next(parse_events(response.iter_lines()))
        assert first.name == "delta"
    # The client is gone; let the model go on writing: the host must have closed its stream.
    model.stream_gate.set()
    assert wait_for(lambda: model.streams_abandoned > abandoned_before)
    time.sleep(0.5)  # nothing is stored later either
    assert client.get("/chat/messages", headers=session).json()["messages"] == []


def test_failures_before_the_answer_are_plain_json_errors(
    client: httpx.Client, session: dict[str, str], new_session: Callable[[], str]
) -> None:
    body = {"message": "battery life?"}
    no_session = client.post("/chat", headers=STREAM, json=body)
    assert (no_session.status_code, no_session.json()["error"]["code"]) == (
        401,
        "session_required",
    )
    invalid = client.post("/chat", headers={**session, **STREAM}, content=b"{not json")
    assert (invalid.status_code, invalid.json()["error"]["code"]) == (400, "invalid_json")
    empty = client.post("/chat", headers={**session, **STREAM}, json={"message": "  "})
    assert (empty.status_code, empty.json()["error"]["code"]) == (400, "validation_error")
    unknown = client.post(
        "/chat", headers={**session, **STREAM}, json={**body, "video_ids": ["nosuchvideo"]}
    )
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "video_not_found")
    no_videos = client.post("/chat", headers={"X-Session-Id": new_session(), **STREAM}, json=body)
    assert (no_videos.status_code, no_videos.json()["error"]["code"]) == (409, "no_videos")
    for response in (no_session, invalid, empty, unknown, no_videos):
        assert response.headers["content-type"] == "application/json; charset=utf-8"


def test_without_the_accept_header_the_answer_is_one_json_response(
    client: httpx.Client, session: dict[str, str]
) -> None:
    response = client.post("/chat", headers=session, json={"message": "battery life?"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json()["answer"] == "The battery lasts about nine hours [1], longer than most."
