"""The app in the Python worker that Azure runs for Python 3.13 apps (`azure-functions-runtime`):
indexed as at startup, then served through the worker's own HTTP-streams server, with no .NET
host (see tests/worker/harness.py). This is what proves that `function_app.py` loads and works in
Azure, not only in our local host."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from azure.functions.decorators.http import HttpTrigger
from azure.functions.decorators.timer import TimerTrigger

from tests.helpers import registered_functions
from tests.http import conftest as http_fixtures
from tests.http.conftest import clean_environment, model_environment
from tests.support.fake_openai import FakeOpenAI, fake_openai_server
from tests.support.sse import Event, deltas_and_done, parse_events
from tests.worker import RealWorker

# A fresh migrated database of this module's own (the HTTP tests' fixture).
host_database_url = http_fixtures.host_database_url

JSON = "application/json; charset=utf-8"
VTT = (
    "WEBVTT\n\n00:01:24.000 --> 00:01:40.000\nThe battery lasts about nine hours.\n\n"
    "00:02:10.000 --> 00:02:30.000\nThe keyboard is sold separately.\n"
)
ANSWER = "The battery lasts about nine hours in the playback test [1]."


def test_every_function_indexes_with_its_bindings() -> None:
    with RealWorker(env=clean_environment(), inherit_env=False) as worker:
        assert worker.init_ok, worker.init_error
        # HTTP streams are on: the worker started its own HTTP server and reported it.
        assert worker.http_uri is not None
        indexed = {function.name: function for function in worker.metadata}
    expected = registered_functions()
    assert set(indexed) == set(expected)
    for name, declared in expected.items():
        function = indexed[name]
        trigger = declared.get_trigger()
        if isinstance(trigger, HttpTrigger):
            assert function.is_http, name
            assert function.route == trigger.route, name
            assert function.trigger is not None
            assert function.trigger.name == "req"
            assert function.trigger.auth_level in ("anonymous", "ANONYMOUS"), name
            # The HTTP response is the function's return value.
            assert function.binding("$return").type == "http", name
        else:
            assert isinstance(trigger, TimerTrigger)
            assert function.trigger is not None
            assert function.trigger.type == "timerTrigger"
            assert function.trigger.raw["schedule"] == "%SESSION_CLEANUP_SCHEDULE%"
    assert sum(function.is_http for function in indexed.values()) == 14


@pytest.fixture(scope="module")
def model() -> Iterator[FakeOpenAI]:
    with fake_openai_server(FakeOpenAI(chat_replies=[ANSWER])) as fake:
        yield fake


@pytest.fixture(scope="module")
def worker(host_database_url: str, model: FakeOpenAI) -> Iterator[RealWorker]:
    env = model_environment(host_database_url, model.base_url)
    with RealWorker(env=env, inherit_env=False) as running:
        assert running.init_ok, running.init_error
        yield running


@pytest.mark.db
def test_a_session_streams_an_answer_through_the_worker(
    worker: RealWorker, model: FakeOpenAI
) -> None:
    created = worker.request("POST", "/api/sessions", headers={"X-Request-Id": "worker-1"})
    assert created.status_code == 201, created.text
    assert created.headers["content-type"] == JSON
    assert created.headers["x-request-id"] == "worker-1"
    headers = {"X-Session-Id": created.json()["session_id"]}
    assert worker.invocation(created).ok

    upload = {"video_id": "surfacego01", "title": "Surface Go", "format": "vtt", "content": VTT}
    added = worker.request("POST", "/api/videos", headers=headers, json={"transcripts": [upload]})
    assert added.status_code == 200, added.text
    assert added.json()["videos"][0]["status"] == "added"
    listed = worker.request("GET", "/api/videos", headers=headers).json()["videos"]
    assert [v["video_id"] for v in listed] == ["surfacego01"]

    # The model holds its answer after the first word until the test has read the first event.
    model.stream_gate = threading.Event()
    completed_before = model.streams_completed
    events: list[Event] = []
    try:
        with worker.stream(
            "POST",
            "/api/chat",
            headers={**headers, "Accept": "text/event-stream"},
            json={"message": "How long does the battery last?"},
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
            for event in parse_events(response.iter_lines()):
                events.append(event)
                if len(events) == 1:
                    assert event.name == "delta"
                    # Not buffered: the first word arrived while the model was still writing.
                    assert model.streams_completed == completed_before
                    model.stream_gate.set()  # only now can the rest of the answer be written
    finally:
        model.stream_gate.set()
        model.stream_gate = None
    text, done = deltas_and_done(events)
    assert len(events) > 3
    assert text == done["answer"] == ANSWER
    assert done["sources"][0]["video_id"] == "surfacego01"

    history = worker.request("GET", "/api/chat/messages", headers=headers).json()["messages"]
    assert [m["role"] for m in history] == ["user", "assistant"]
    removed = worker.request("DELETE", "/api/videos/surfacego01", headers=headers)
    assert removed.status_code == 204  # the route parameter reached the function
    assert worker.request("DELETE", "/api/sessions/current", headers=headers).status_code == 204


@pytest.mark.db
def test_errors_keep_the_json_contract_in_the_worker(worker: RealWorker) -> None:
    wrong_method = worker.request("PUT", "/api/sessions")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"

    no_session = worker.request("POST", "/api/chat", content=b"{not json")
    assert no_session.status_code == 401  # the session header is checked before the body
    assert no_session.json()["error"]["code"] == "session_required"
    session = worker.request("POST", "/api/sessions").json()["session_id"]
    invalid = worker.request(
        "POST",
        "/api/chat",
        headers={"X-Session-Id": session, "Content-Type": "application/json"},
        content=b"{not json",
    )
    assert invalid.status_code == 400
    assert invalid.headers["content-type"] == JSON
    error = invalid.json()["error"]
    assert error["code"] == "invalid_json"
    assert error["request_id"] == invalid.headers["x-request-id"]

    page = worker.request("GET", "/api/ui")
    assert page.status_code == 200
    assert "script-src 'sha256-" in page.headers["content-security-policy"]

    legacy = worker.request("POST", "/api/getorcreatesession", json={})
    assert legacy.status_code == 201  # the original project's shape and statuses
    assert set(legacy.json()) == {"session_id", "create_date"}
