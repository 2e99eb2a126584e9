"""The ASGI app in-process: routing from the catalog, the host's JSON errors, request ids,
X-Forwarded-For, CORS, and HTTP-streams functions getting the request and answering as they are."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator

import azure.functions as func
import httpx
import pytest
from azurefunctions.extensions.http.fastapi import (
    PlainTextResponse,
    Request,
    Response,
    StreamingResponse,
)
from starlette.types import Message, Scope

from local_host import build_asgi_app, discover_functions
from local_host.config import CorsSettings
from local_host.home import HomePointer
from tests.local_host import toy_app
from tests.local_host.asgi_client import AsgiClient

HEX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def client() -> AsgiClient:
    return AsgiClient(build_asgi_app(toy_app.app, "api"))


def _assert_error(response: httpx.Response, status: int, code: str) -> dict[str, str]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, str] = body["error"]
    assert set(error) == {"code", "message", "request_id"}
    assert error["code"] == code
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    return error


def test_a_function_gets_the_request_with_its_route_params_query_and_body(
    client: AsgiClient,
) -> None:
    body = b"\x00\xffbinary"
    response = client.request("PATCH", "/api/echo/42?q=one&q=two&flag", content=body)
    assert response.status_code == 200
    data = response.json()
    assert data["method"] == "PATCH"
    assert data["path_params"] == {"item_id": "42"}
    assert data["query"] == [["q", "one"], ["q", "two"], ["flag", ""]]
    assert data["body"].encode("latin-1") == body


def test_methods_none_accepts_every_method(client: AsgiClient) -> None:
    for method in ("GET", "POST", "PUT", "DELETE", "OPTIONS"):
        assert client.request(method, "/api/echo/1").json()["method"] == method


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/videos/latest", "literal"),
        ("/api/videos/abc", "param:abc"),
        ("/api/videos/latest/", "literal"),
        ("/API/Videos/Latest", "literal"),
        ("/api/videos/a%20b", "param:a b"),
        ("/api/custom_name", "named"),
    ],
)
def test_routes_match_like_the_functions_host(client: AsgiClient, path: str, expected: str) -> None:
    """A literal segment beats a parameter; case and a trailing slash do not matter; route
    parameters are decoded; a function with no route is served under its name."""
    response = client.get(path)
    assert response.status_code == 200
    assert response.text == expected


def test_a_function_with_two_slashes_in_a_row_is_not_found(client: AsgiClient) -> None:
    _assert_error(client.get("/api/videos//x"), 404, "not_found")
    _assert_error(client.get("/api/videos/a/b"), 404, "not_found")


def test_functions_the_host_cannot_serve_are_not_routed(client: AsgiClient) -> None:
    """A classic func.HttpRequest function and an ASP.NET catch-all route are listed as not
    supported at startup (see test_discovery) and get no route."""
    _assert_error(client.get("/api/classic"), 404, "not_found")
    _assert_error(client.get("/api/files/a/b"), 404, "not_found")


def test_two_functions_on_one_route_split_its_methods(client: AsgiClient) -> None:
    created = client.post("/api/things", content=b"payload")
    assert (created.status_code, created.content) == (201, b"payload")
    assert client.get("/api/things").json() == []


def test_not_found(client: AsgiClient) -> None:
    error = _assert_error(client.get("/api/does/not/exist"), 404, "not_found")
    assert HEX_ID.fullmatch(error["request_id"])
    _assert_error(client.get("/outside/prefix"), 404, "not_found")
    _assert_error(client.get("/api"), 404, "not_found")


def test_host_errors_are_never_cached(client: AsgiClient) -> None:
    assert client.get("/api/does/not/exist").headers["cache-control"] == "no-store"
    assert client.put("/api/things").headers["cache-control"] == "no-store"


def test_the_home_redirect_carries_a_request_id() -> None:
    home = AsgiClient(HomePointer(build_asgi_app(toy_app.app, "api"), "api"))
    moved = home.get("/", headers={"X-Request-Id": "trace-42"}, follow_redirects=False)
    assert moved.status_code == 302
    assert moved.headers["x-request-id"] == "trace-42"
    assert HEX_ID.fullmatch(home.get("/api", follow_redirects=False).headers["x-request-id"])


def test_method_not_allowed_names_every_method_of_the_route(client: AsgiClient) -> None:
    response = client.put("/api/things")
    _assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET, POST"
    assert client.request("HEAD", "/api/hello").status_code == 405


def test_valid_request_id_is_echoed(client: AsgiClient) -> None:
    response = client.get("/api/nope", headers={"X-Request-Id": "abc-123.x:Y_z"})
    assert _assert_error(response, 404, "not_found")["request_id"] == "abc-123.x:Y_z"


@pytest.mark.parametrize("bad", ["has space", "x" * 129, "semi;colon", ""])
def test_invalid_request_id_is_replaced(client: AsgiClient, bad: str) -> None:
    response = client.get("/api/nope", headers={"X-Request-Id": bad})
    assert HEX_ID.fullmatch(_assert_error(response, 404, "not_found")["request_id"])


def test_an_exception_becomes_500_without_details(
    client: AsgiClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="local_host"):
        response = client.get("/api/boom", headers={"X-Request-Id": "req-1"})
    error = _assert_error(response, 500, "internal_error")
    assert error["request_id"] == "req-1"
    assert "secret" not in response.text
    assert "secret internal detail" in caplog.text
    assert "Traceback" in caplog.text
    assert "Executed 'Functions.boom' (Failed" in caplog.text


def test_a_result_that_is_not_a_response_is_500(
    client: AsgiClient, caplog: pytest.LogCaptureFixture
) -> None:
    _assert_error(client.get("/api/wrong-type"), 500, "internal_error")
    assert "not a Starlette Response" in caplog.text


def test_a_functions_response_passes_untouched(client: AsgiClient) -> None:
    response = client.get("/api/headers", headers={"X-Request-Id": "from-client"})
    assert response.status_code == 202
    assert response.headers.get_list("x-request-id") == ["from-function"]
    assert response.headers["retry-after"] == "5"
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert "x-request-id" not in client.get("/api/hello").headers


def test_the_socket_address_is_appended_to_x_forwarded_for() -> None:
    app = build_asgi_app(toy_app.app, "api")
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4711))

    async def send(headers: dict[str, str]) -> list[str]:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            forwarded: list[str] = (await http.get("/api/echo/1", headers=headers)).json()[
                "forwarded_for"
            ]
            return forwarded

    assert asyncio.run(send({})) == ["203.0.113.9:4711"]
    forged = {"X-Forwarded-For": "198.51.100.1"}
    assert asyncio.run(send(forged)) == ["198.51.100.1, 203.0.113.9:4711"]


def _scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> Scope:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"t"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("t", 80),
    }


def test_the_host_never_reads_a_body_the_function_refuses_by_its_length() -> None:
    """The 413 by Content-Length: the function answers before a byte of the body arrives."""
    app = build_asgi_app(toy_app.app, "api")
    sent: list[Message] = []
    scope = _scope("POST", "/api/upload", [(b"content-length", b"524288000")])

    async def receive() -> Message:
        await asyncio.Event().wait()  # the body never comes
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=5))
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"]["code"] == "payload_too_large"


def test_a_streamed_body_is_sent_as_it_is_produced() -> None:
    """The second part is produced only once the first has been sent: a host that buffered the
    body would never finish."""
    fn_app = func.FunctionApp()
    first_sent = asyncio.Event()

    @fn_app.route(route="stream", methods=["GET"])
    async def stream(req: Request) -> Response:
        async def parts() -> AsyncIterator[bytes]:
            yield b"first;"
            await first_sent.wait()
            yield b"second"

        return StreamingResponse(parts(), media_type="text/plain")

    app = build_asgi_app(fn_app, "api")
    bodies: list[bytes] = []

    async def receive() -> Message:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            bodies.append(message["body"])
            if message["body"] == b"first;":
                first_sent.set()

    scope = _scope("GET", "/api/stream", [])
    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=5))
    assert b"".join(bodies) == b"first;second"


def test_empty_route_prefix() -> None:
    no_prefix = AsgiClient(build_asgi_app(toy_app.app, ""))
    assert no_prefix.get("/hello").status_code == 200
    assert no_prefix.get("/api/hello").status_code == 404


def test_get_functions_is_called_once() -> None:
    app = func.FunctionApp()
    calls = []
    original = app.get_functions

    def counting() -> list[func.decorators.function_app.Function]:
        calls.append(1)
        return original()

    @app.route(route="x")
    async def x(req: Request) -> Response:
        return PlainTextResponse("x")

    app.get_functions = counting  # type: ignore[method-assign]
    build_asgi_app(app)
    build_asgi_app(app)
    assert discover_functions(app) is discover_functions(app)
    assert calls == [1]


ORIGIN = "http://localhost:3000"


@pytest.fixture(scope="module")
def cors_client() -> AsgiClient:
    cors = CorsSettings(origins=(ORIGIN,), allow_credentials=True)
    return AsgiClient(build_asgi_app(toy_app.app, "api", cors))


class TestCors:
    def test_preflight_is_answered_by_the_middleware(self, cors_client: AsgiClient) -> None:
        echo_calls = len(toy_app.ECHO_CALLS)
        response = cors_client.options(
            "/api/echo/1",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Content-Type, X-Session-Id, X-Request-Id",
            },
        )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == ORIGIN
        assert response.headers["access-control-allow-credentials"] == "true"
        allowed = response.headers["access-control-allow-headers"].lower()
        for header in ("content-type", "x-session-id", "x-request-id"):
            assert header in allowed
        assert "POST" in response.headers["access-control-allow-methods"]
        assert response.headers["x-request-id"]
        assert len(toy_app.ECHO_CALLS) == echo_calls  # the function did not run

    def test_simple_request_gets_cors_headers(self, cors_client: AsgiClient) -> None:
        response = cors_client.get("/api/headers", headers={"Origin": ORIGIN})
        assert response.headers["access-control-allow-origin"] == ORIGIN
        exposed = response.headers["access-control-expose-headers"].lower()
        assert "x-request-id" in exposed
        assert "retry-after" in exposed

    def test_errors_get_cors_headers_too(self, cors_client: AsgiClient) -> None:
        response = cors_client.get("/api/missing", headers={"Origin": ORIGIN})
        assert response.status_code == 404
        assert response.headers["access-control-allow-origin"] == ORIGIN

    def test_wildcard_origin(self) -> None:
        wildcard = AsgiClient(build_asgi_app(toy_app.app, "api", CorsSettings(origins=("*",))))
        response = wildcard.get("/api/hello", headers={"Origin": "http://elsewhere"})
        assert response.headers["access-control-allow-origin"] == "*"

    def test_no_cors_headers_without_configuration(self, client: AsgiClient) -> None:
        response = client.get("/api/hello", headers={"Origin": ORIGIN})
        assert "access-control-allow-origin" not in response.headers


def test_error_body_is_valid_json_with_unicode(client: AsgiClient) -> None:
    response = client.get("/api/ünïcode")
    assert json.loads(response.content.decode("utf-8"))["error"]["code"] == "not_found"
