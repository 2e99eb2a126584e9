"""The ASGI app in-process: routing, request/response conversion, errors, CORS."""

from __future__ import annotations

import json
import logging
import re

import azure.functions as func
import httpx
import pytest

from local_host import build_asgi_app, discover_functions
from local_host.config import CorsSettings
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


def test_sync_function_gets_query_string(client: AsgiClient) -> None:
    response = client.get("/api/hello", params={"name": "Ada"})
    assert response.status_code == 200
    assert response.text == "Hello, Ada!"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_async_function_gets_route_params_query_headers_and_body(client: AsgiClient) -> None:
    body = b"\x00\xffbinary"
    response = client.request(
        "PATCH",
        "/api/echo/42?q=one&q=two&flag",
        content=body,
        headers={"X-Session-Id": "s1", "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 200
    data = response.json()
    assert data["method"] == "PATCH"
    assert data["route_params"] == {"item_id": "42"}
    assert data["params"] == {"q": "one,two", "flag": ""}
    assert data["headers"]["x-session-id"] == "s1"
    assert data["headers"]["content-type"] == "application/octet-stream"
    assert data["body"].encode("latin-1") == body
    assert data["body_length"] == len(body)
    assert data["url"] == "http://testserver/api/echo/42?q=one&q=two&flag"


def test_methods_none_accepts_every_method(client: AsgiClient) -> None:
    for method in ("GET", "POST", "PUT", "DELETE", "OPTIONS"):
        assert client.request(method, "/api/echo/1").status_code == 200


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/videos/latest", "literal"),
        ("/api/videos/abc", "param:abc"),
        ("/api/items/12", "int:12"),
        ("/api/items/twelve", "name:twelve"),
        ("/api/files/readme", "readme"),
        ("/api/files/a/b.txt", "catch-all:a/b.txt"),
        ("/api/files", "catch-all:"),
        ("/api/videos/latest/", "literal"),
        ("/API/Videos/Latest", "literal"),
    ],
)
def test_route_precedence(client: AsgiClient, path: str, expected: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.text == expected


def test_optional_route_parameter(client: AsgiClient) -> None:
    assert client.get("/api/optional").json() == {}
    assert client.get("/api/optional/2").json() == {"page": "2"}


def test_function_name_decorator_and_default_route(client: AsgiClient) -> None:
    assert client.get("/api/custom_name").text == "named"


def test_post_only_route_body_bytes(client: AsgiClient) -> None:
    response = client.post("/api/things", content=b"payload")
    assert response.status_code == 201
    assert response.content == b"payload"
    assert response.headers["content-type"] == "application/octet-stream"


def test_not_found(client: AsgiClient) -> None:
    response = client.get("/api/does/not/exist")
    error = _assert_error(response, 404, "not_found")
    assert HEX_ID.fullmatch(error["request_id"])
    _assert_error(client.get("/outside/prefix"), 404, "not_found")


def test_method_not_allowed(client: AsgiClient) -> None:
    response = client.put("/api/things")
    _assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET, POST"


def test_valid_request_id_is_echoed(client: AsgiClient) -> None:
    response = client.get("/api/nope", headers={"X-Request-Id": "abc-123.x:Y_z"})
    assert _assert_error(response, 404, "not_found")["request_id"] == "abc-123.x:Y_z"


@pytest.mark.parametrize("bad", ["has space", "x" * 129, "semi;colon", ""])
def test_invalid_request_id_is_replaced(client: AsgiClient, bad: str) -> None:
    response = client.get("/api/nope", headers={"X-Request-Id": bad})
    assert HEX_ID.fullmatch(_assert_error(response, 404, "not_found")["request_id"])


def test_exception_becomes_500_without_details(
    client: AsgiClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="local_host"):
        response = client.get("/api/boom", headers={"X-Request-Id": "req-1"})
    error = _assert_error(response, 500, "internal_error")
    assert error["request_id"] == "req-1"
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    assert "secret internal detail" in caplog.text
    assert "Traceback" in caplog.text
    assert "Executed 'Functions.boom' (Failed" in caplog.text


def test_unsupported_return_type_is_500(client: AsgiClient) -> None:
    _assert_error(client.get("/api/wrong-type"), 500, "internal_error")


@pytest.mark.parametrize(
    ("kind", "content_type", "body"),
    [
        ("json", "application/json", b'{"a": 1}'),
        ("html", "text/html; charset=iso-8859-1", "<p>é</p>".encode("iso-8859-1")),
        ("explicit", "application/problem+json", b"{}"),
        ("plain", "text/plain; charset=utf-8", b"plain"),
    ],
)
def test_content_type_from_mimetype_and_charset(
    client: AsgiClient, kind: str, content_type: str, body: bytes
) -> None:
    response = client.get(f"/api/content/{kind}")
    assert response.headers["content-type"] == content_type
    assert response.content == body
    assert response.headers.get_list("content-type") == [content_type]


def test_function_response_headers_pass_through_untouched(client: AsgiClient) -> None:
    response = client.get("/api/headers", headers={"X-Request-Id": "from-client"})
    assert response.status_code == 202
    assert response.headers.get_list("x-request-id") == ["from-function"]
    assert response.headers["x-custom"] == "1"
    assert response.headers["retry-after"] == "5"
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert response.headers["content-length"] == "2"


def test_function_without_request_id_gets_none_added(client: AsgiClient) -> None:
    assert "x-request-id" not in client.get("/api/hello").headers


def test_string_return_value(client: AsgiClient) -> None:
    response = client.get("/api/text")
    assert response.text == "just a string"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_context_argument(client: AsgiClient) -> None:
    data = client.get("/api/context").json()
    assert data["function_name"] == "with_context"
    assert data["id"]


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
    def x(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("x")

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
    ORIGIN = ORIGIN

    def test_preflight_is_answered_by_the_middleware(self, cors_client: AsgiClient) -> None:
        echo_calls = len(toy_app.ECHO_CALLS)
        response = cors_client.options(
            "/api/echo/1",
            headers={
                "Origin": self.ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Content-Type, X-Session-Id, X-Request-Id",
            },
        )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == self.ORIGIN
        assert response.headers["access-control-allow-credentials"] == "true"
        allowed = response.headers["access-control-allow-headers"].lower()
        for header in ("content-type", "x-session-id", "x-request-id"):
            assert header in allowed
        assert "POST" in response.headers["access-control-allow-methods"]
        assert response.headers["x-request-id"]
        assert len(toy_app.ECHO_CALLS) == echo_calls  # the function did not run

    def test_simple_request_gets_cors_headers(self, cors_client: AsgiClient) -> None:
        response = cors_client.get("/api/headers", headers={"Origin": self.ORIGIN})
        assert response.headers["access-control-allow-origin"] == self.ORIGIN
        exposed = response.headers["access-control-expose-headers"].lower()
        assert "x-request-id" in exposed
        assert "retry-after" in exposed

    def test_errors_get_cors_headers_too(self, cors_client: AsgiClient) -> None:
        response = cors_client.get("/api/missing", headers={"Origin": self.ORIGIN})
        assert response.status_code == 404
        assert response.headers["access-control-allow-origin"] == self.ORIGIN

    def test_wildcard_origin(self) -> None:
        cors = CorsSettings(origins=("*",))
        wildcard = AsgiClient(build_asgi_app(toy_app.app, "api", cors))
        response = wildcard.get("/api/hello", headers={"Origin": "http://elsewhere"})
        assert response.headers["access-control-allow-origin"] == "*"

    def test_no_cors_headers_without_configuration(self, client: AsgiClient) -> None:
        response = client.get("/api/hello", headers={"Origin": self.ORIGIN})
        assert "access-control-allow-origin" not in response.headers


def test_error_body_is_valid_json_with_unicode(client: AsgiClient) -> None:
    response = client.get("/api/ünïcode")
    assert json.loads(response.content.decode("utf-8"))["error"]["code"] == "not_found"
