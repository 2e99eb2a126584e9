"""Invoke the registered Azure functions directly, the way the Functions host would, and the
API's common steps (a new session, videos added, a question answered) shared by the tests."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import azure.functions as func
from azure.functions.decorators.http import HttpTrigger

if TYPE_CHECKING:
    from services.video_rag.bootstrap import Dependencies
    from tests.support.fake_openai import FakeOpenAI

_registered: dict[str, Any] = {}
_registered_lock = threading.Lock()


def registered_functions() -> dict[str, Any]:
    """Function name -> azure.functions Function, read once per process (get_functions() cannot
    run twice), safely from several threads."""
    with _registered_lock:
        if not _registered:
            import function_app

            _registered.update(
                {str(f.get_function_name()): f for f in function_app.app.get_functions()}
            )
    return _registered


def http_functions_by_route() -> dict[str, Any]:
    return {
        str(f.get_trigger().route): f
        for f in registered_functions().values()
        if isinstance(f.get_trigger(), HttpTrigger)
    }


def invoke(
    method: str,
    route: str,
    *,
    json_body: Any = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    route_params: dict[str, str] | None = None,
) -> func.HttpResponse:
    """Call the function registered for `route` (a route template) with an HttpRequest."""
    function = http_functions_by_route()[route]
    if json_body is not None:
        body = json.dumps(json_body).encode()
    request = func.HttpRequest(
        method,
        f"http://localhost:7071/api/{route}",
        headers=headers or {},
        params=params or {},
        route_params=route_params or {},
        body=body or b"",
    )
    return call_endpoint(function.get_user_function(), request)


def call_endpoint(endpoint: Any, request: func.HttpRequest) -> func.HttpResponse:
    """Call an Azure function of the app as the HTTP-streams worker does (a Starlette request in,
    a Starlette response out, sent through ASGI), and return what it sent as a classic response:
    a streamed body is read to its end."""
    return asyncio.run(_call_endpoint(endpoint, request))


async def _call_endpoint(endpoint: Any, request: func.HttpRequest) -> func.HttpResponse:
    from starlette.requests import Request

    url = urlsplit(request.url)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": url.scheme or "http",
        "server": (url.hostname or "localhost", url.port or 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": url.path,
        "raw_path": url.path.encode("utf-8"),
        "query_string": urlencode(dict(request.params)).encode("ascii"),
        "headers": [
            (name.lower().encode("latin-1"), _header_bytes(value))
            for name, value in request.headers.items()
        ],
        "path_params": dict(request.route_params),
    }
    finished = asyncio.Event()
    body_sent = False

    async def receive() -> dict[str, Any]:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": request.get_body(), "more_body": False}
        await finished.wait()  # the client stays connected until the response is complete
        return {"type": "http.disconnect"}

    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    response = await endpoint(Request(scope, receive))
    await response(scope, receive, send)
    finished.set()
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in start["headers"]}
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    return func.HttpResponse(
        b"".join(chunks),
        status_code=start["status"],
        headers=headers,
        mimetype=content_type.split(";")[0].strip() or None,
    )


def _header_bytes(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def body_of(response: func.HttpResponse) -> Any:
    """The parsed JSON body of a response (asserting it is JSON)."""
    assert response.mimetype == "application/json", response.mimetype
    return json.loads(response.get_body())


# --- The API's common steps, through the registered functions ------------------------------------


def new_session(headers: dict[str, str] | None = None) -> str:
    """POST /sessions: a new session's id (asserting 201)."""
    response = invoke("POST", "sessions", headers=headers)
    assert response.status_code == 201, response.get_body()
    return str(body_of(response)["session_id"])


def session_with(*uploads: dict[str, Any]) -> dict[str, str]:
    """The `X-Session-Id` header of a new session holding `uploads` (transcript items of
    POST /videos), asserting each was added."""
    headers = {"X-Session-Id": new_session()}
    if uploads:
        results = add_videos(headers["X-Session-Id"], transcripts=list(uploads))
        assert [r["status"] for r in results] == ["added"] * len(uploads), results
    return headers


def add_videos(session_id: str, **body: Any) -> list[dict[str, Any]]:
    """POST /videos with `body`: one result per item (asserting 200)."""
    response = invoke("POST", "videos", json_body=body, headers={"X-Session-Id": session_id})
    assert response.status_code == 200, response.get_body()
    results: list[dict[str, Any]] = body_of(response)["videos"]
    return results


def ask(headers: dict[str, str], message: str, **extra: Any) -> dict[str, Any]:
    """POST /chat: the answer's body (asserting 200)."""
    response = invoke("POST", "chat", headers=headers, json_body={"message": message, **extra})
    assert response.status_code == 200, response.get_body()
    result: dict[str, Any] = body_of(response)
    return result


# A transcript that answers QUESTION, a question that is no follow-up (one model call, no condense).
BATTERY_TRANSCRIPT = {
    "video_id": "batteryvid1",
    "format": "segments",
    "content": [{"text": "The battery lasts nine hours.", "start": 0.0, "duration": 5.0}],
}
QUESTION = "How long does the battery last on one charge?"


@contextmanager
def app_with_model(
    deps: Dependencies,
    clock: Callable[[], datetime],
    fake: FakeOpenAI,
    api_key: str | None = "sk-test",
    **settings: str,
) -> Iterator[tuple[Dependencies, FakeOpenAI]]:
    """For the block, the app answers and embeds with the REAL langchain-openai clients against
    `fake`, served on a local port (`OPENAI_BASE_URL`), with `settings` on top; afterwards the
    test's own `deps` are back. Yields the app's dependencies and the fake."""
    from services.video_rag.bootstrap import Dependencies, set_dependencies
    from services.video_rag.settings import load_settings
    from tests.support.fake_openai import fake_openai_server

    with fake_openai_server(fake) as server:
        environ = {
            "PG_VECTOR_CONNECTION_STRING": str(deps.settings.database_url),
            "OPENAI_BASE_URL": f"{server.base_url}/v1",
            **({"OPENAI_API_KEY": api_key} if api_key else {}),
            **settings,
        }
        app = Dependencies(settings=load_settings(environ), clock=clock)
        set_dependencies(app)
        try:
            yield app, server
        finally:
            set_dependencies(deps)
            app.close()
