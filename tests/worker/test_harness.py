"""Tests of the real-worker harness against the toy apps in tests/worker/toy_apps."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.worker import RealWorker, RouteNotFoundError, WorkerError
from tests.worker.routes import RouteTemplate

TOY_APPS = Path(__file__).resolve().parent / "toy_apps"


def wait_for_stderr(worker: RealWorker, text: str, timeout: float = 10.0) -> None:
    """Wait until the worker's stderr (read by a thread) contains ``text``."""
    deadline = time.monotonic() + timeout
    while text not in worker.stderr:
        assert time.monotonic() < deadline, f"{text!r} not in stderr:\n{worker.stderr[-3000:]}"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def worker() -> Iterator[RealWorker]:
    with RealWorker(TOY_APPS, script="streams_app.py") as running:
        yield running


def test_the_streams_app_indexes_with_its_bindings(worker: RealWorker) -> None:
    assert worker.init_ok, worker.init_error
    assert worker.init_status == "Success"
    assert worker.http_uri is not None
    assert worker.http_uri.startswith("http://127.0.0.1:")
    assert worker.capabilities["RequiresRouteParameters"] == "true"
    assert set(worker.functions) == {
        "get_item",
        "latest_item",
        "echo",
        "hello",
        "stream",
        "boom",
        "die",
        "nightly",
    }

    get_item = worker.function("get_item")
    assert get_item.is_http
    assert get_item.function_id == str(uuid.uuid5(uuid.NAMESPACE_OID, "get_item"))
    assert get_item.route == "items/{item_id}"
    assert get_item.methods == ("GET",)
    trigger = get_item.binding("req")
    assert (trigger.type, trigger.direction, trigger.auth_level) == (
        "httpTrigger",
        "IN",
        "ANONYMOUS",
    )
    output = get_item.binding("$return")
    assert (output.type, output.direction) == ("http", "OUT")

    assert worker.function("echo").methods == ("POST", "PUT")
    assert worker.function("hello").route == "hello"  # no route given: the function name
    nightly = worker.function("nightly")
    assert not nightly.is_http
    assert nightly.route is None
    assert nightly.binding("timer").type == "timerTrigger"
    assert nightly.raw["properties"] == {"worker_indexed": "True"}


def test_route_parameters_arrive_in_path_params(worker: RealWorker) -> None:
    response = worker.request("GET", "/api/items/42?colour=red", headers={"X-Test": "yes"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["path_params"] == {"item_id": "42"}
    assert body["query"] == {"colour": "red"}
    assert body["path"] == "/api/items/42"
    result = worker.invocation(response)
    assert result.ok
    assert body["invocation_id"] == result.invocation_id
    assert result.function_id == worker.function("get_item").function_id
    assert result.return_value is None  # the response went out over HTTP, not gRPC
    # The runtime's own HTTP server matched the request to the invocation by its header.
    wait_for_stderr(worker, f"Received HTTP request for invocation {result.invocation_id}")


def test_route_parameters_are_url_decoded_and_literals_win(worker: RealWorker) -> None:
    decoded = worker.request("GET", "/api/items/a%20b")
    assert decoded.json()["path_params"] == {"item_id": "a b"}
    once = worker.request("GET", "/api/items/100%2525")
    assert once.json()["path_params"] == {"item_id": "100%25"}

    latest = worker.request("GET", "/api/items/latest")
    assert latest.json() == {"latest": True, "path_params": {}}
    assert worker.invocation(latest).function_id == worker.function("latest_item").function_id


def test_post_body_is_echoed_byte_for_byte(worker: RealWorker) -> None:
    payload = bytes(range(256)) * 64
    response = worker.request(
        "POST", "/api/echo", content=payload, headers={"Content-Type": "application/octet-stream"}
    )

    assert response.status_code == 200
    assert response.content == payload
    assert response.headers["x-body-length"] == str(len(payload))
    assert worker.invocation(response).ok

    put = worker.request("PUT", "/api/echo", json={"a": 1})
    assert put.json() == {"a": 1}
    assert put.headers["x-method"] == "PUT"


def test_a_sync_function_runs_too(worker: RealWorker) -> None:
    response = worker.request("GET", "/api/hello", params={"name": "Ada"})
    assert response.json() == {"hello": "Ada"}


def test_the_first_chunk_arrives_before_the_last_is_produced(
    worker: RealWorker, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    params = {"count": "3", "delay": "0.05", "gate": str(gate)}
    with worker.stream("GET", "/api/stream", params=params) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        lines = response.iter_lines()
        first = next(lines)
        # The function is now waiting for the gate: only a streamed response shows this line.
        assert first.startswith("chunk 0 ")
        received_first = time.time()
        gate.touch()
        rest = [line for line in lines if line]

    assert rest[0] == "gate released"
    assert [line.split()[1] for line in rest[1:]] == ["1", "2"]
    produced_last = float(rest[-1].split()[2])
    assert received_first < produced_last
    assert worker.invocation(response).ok


def test_a_failing_function_reports_failure_and_a_500(worker: RealWorker) -> None:
    response = worker.request("GET", "/api/boom")

    assert response.status_code == 500
    result = worker.invocation(response)
    assert result.status == "Failure"
    assert result.exception_message == "RuntimeError: boom from the toy app"
    assert "streams_app.py" in (result.stack_trace or "")
    with pytest.raises(WorkerError, match="boom from the toy app"):
        result.raise_for_status()


def test_unknown_routes_and_methods_are_refused(worker: RealWorker) -> None:
    with pytest.raises(RouteNotFoundError, match="no HTTP function serves GET"):
        worker.request("GET", "/api/nowhere")
    with pytest.raises(RouteNotFoundError, match=r"echo \(POST, PUT\)"):
        worker.request("GET", "/api/echo")
    with pytest.raises(RouteNotFoundError, match="route prefix"):
        worker.request("GET", "/items/1")


def test_concurrent_requests_are_kept_apart(worker: RealWorker) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(
            pool.map(lambda n: worker.request("GET", f"/api/items/{n}?delay=0"), range(8))
        )

    assert [r.json()["path_params"] for r in responses] == [{"item_id": str(n)} for n in range(8)]
    ids = {worker.invocation(r).invocation_id for r in responses}
    assert ids == {r.json()["invocation_id"] for r in responses}
    assert len(ids) == 8


def test_a_timer_function_can_be_invoked_directly(worker: RealWorker) -> None:
    timer = json.dumps(
        {"Schedule": {"AdjustForDST": True}, "ScheduleStatus": None, "IsPastDue": True}
    )
    result = worker.invoke("nightly", input_data={"timer": {"json": timer}})

    assert result.ok, result.exception_message
    wait_for_stderr(worker, "toy nightly ran, past_due=True")


@pytest.mark.parametrize(
    ("script", "function", "problem"),
    [
        ("wrong_annotation_app.py", "old_style", "Python type annotation HttpRequest"),
        ("extra_param_app.py", "extra", "{'user_id'}"),
    ],
)
def test_indexing_rejects_a_wrong_app(script: str, function: str, problem: str) -> None:
    with RealWorker(TOY_APPS, script=script) as wrong:
        assert not wrong.init_ok
        assert wrong.init_status == "Failure"
        assert wrong.init_error is not None
        assert wrong.init_error.startswith(
            f"FunctionLoadError: cannot load the {function} function"
        )
        assert problem in wrong.init_error
        assert wrong.metadata == []
        assert wrong.http_uri is None  # the server starts only after a successful indexing
        with pytest.raises(WorkerError, match="init failed: FunctionLoadError"):
            wrong.request("GET", "/api/fine")


def test_a_worker_that_dies_during_a_request_is_reported_with_its_stderr() -> None:
    with RealWorker(TOY_APPS, script="streams_app.py") as doomed:
        started = time.monotonic()
        with pytest.raises(WorkerError, match=r"(?s)worker process exited.*ending the worker"):
            doomed.request("POST", "/api/die")
        assert time.monotonic() - started < 15
        with pytest.raises(WorkerError, match="not running"):
            doomed.request("GET", "/api/hello")


def test_a_worker_that_dies_at_startup_is_reported_with_its_stderr(tmp_path: Path) -> None:
    (tmp_path / "function_app.py").write_text(
        "import sys\nprint('dying on purpose', file=sys.stderr)\nsys.exit(3)\n"
    )
    started = time.monotonic()
    with pytest.raises(WorkerError, match=r"(?s)exited .* before it was ready.*dying on purpose"):
        RealWorker(tmp_path).start()
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("videos/{video_id}", "videos/abc", {"video_id": "abc"}),
        ("videos/{video_id}", "VIDEOS/abc/", {"video_id": "abc"}),
        ("videos/{video_id}", "videos", None),
        ("videos/{video_id}", "videos/a/b", None),
        ("items/{id:int}", "items/12", {"id": "12"}),
        ("items/{id:int}", "items/x", None),
        ("items/{id?}", "items", {}),
        ("pages/{page=1}", "pages", {"page": "1"}),
        ("files/{*rest}", "files/a/b.txt", {"rest": "a/b.txt"}),
        ("files/{name}.{ext}", "files/report.pdf", {"name": "report", "ext": "pdf"}),
        ("openapi.json", "openapi.json", {}),
        ("openapi.json", "openapiXjson", None),
    ],
)
def test_route_templates(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert RouteTemplate(template).match(path) == expected
