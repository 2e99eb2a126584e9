"""The Starlette application that serves the HTTP-streams functions of a catalog.

One Starlette route per route template (``/<routePrefix>/<route>``, matched case-insensitively
and with or without a trailing slash, as the Functions host does), literal segments before
parameters; the route hands the request to the function that takes its method. The host's own
answers (no route: 404, no function for the method: 405 with ``Allow``, a function that fails:
500) are the app's JSON error with ``X-Request-Id``; a function's response is sent as it is,
streamed bodies included, and the host never reads the request body itself.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import CorsSettings
from .discovery import FunctionCatalog, HttpFunction, discover_functions

logger = logging.getLogger("local_host")

REQUEST_ID_HEADER = "X-Request-Id"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
EXPOSED_HEADERS = ("X-Request-Id", "Retry-After")
STATE_KEY = "local_host"
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def choose_request_id(incoming: str | None) -> str:
    """Echo a well-formed incoming ``X-Request-Id`` (1-128 of ``[A-Za-z0-9._:-]``),
    otherwise generate a new uuid4 hex id."""
    if incoming is not None and _REQUEST_ID_RE.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def error_response(
    status_code: int,
    code: str,
    message: str,
    request_id: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A host-generated error in the app's JSON contract:
    ``{"error": {"code", "message", "request_id"}}`` with ``X-Request-Id`` and ``headers``."""
    body = {"error": {"code": code, "message": message, "request_id": request_id}}
    return Response(
        json.dumps(body, ensure_ascii=False).encode("utf-8"),
        status_code=status_code,
        headers={REQUEST_ID_HEADER: request_id, "Cache-Control": "no-store", **(headers or {})},
        media_type=JSON_CONTENT_TYPE,
    )


def _state(scope: Scope) -> dict[str, Any]:
    """This request's host state: its request id, and whether a function answered."""
    state = scope.get(STATE_KEY)
    if not isinstance(state, dict):
        incoming = dict(scope.get("headers") or []).get(b"x-request-id")
        state = {
            "request_id": choose_request_id(incoming.decode("latin-1") if incoming else None),
            "function_response": False,
        }
        scope[STATE_KEY] = state
    return state


class RequestIdMiddleware:
    """Stamps ``X-Request-Id`` on the host's own responses (errors, CORS preflight answers);
    a function's response passes untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = _state(scope)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start" and not state["function_response"]:
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    headers.append((b"x-request-id", state["request_id"].encode("latin-1")))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


class ForwardedForMiddleware:
    """Appends the caller's socket address to ``X-Forwarded-For``, after whatever the caller
    sent there, as Azure's front ends do: the app believes only the rightmost entry (see
    ``services.video_rag.domain.clients``), so a caller cannot choose its own address here
    either."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] == "http" and client:
            peer = f"{client[0]}:{client[1]}".encode("latin-1")
            headers = [
                (k, v) for k, v in scope.get("headers", []) if k.lower() != b"x-forwarded-for"
            ]
            sent = b", ".join(
                v for k, v in scope.get("headers", []) if k.lower() == b"x-forwarded-for"
            )
            headers.append((b"x-forwarded-for", sent + b", " + peer if sent else peer))
            scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


class RouteFunctions:
    """The ASGI endpoint of one route template: calls the function that takes the method."""

    def __init__(self, route: str, functions: Iterable[HttpFunction]) -> None:
        self.route = route
        self.functions = list(functions)
        self.allowed = sorted({m for f in self.functions for m in f.methods or ()})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = _state(scope)
        method = scope["method"].upper()
        function = next(
            (f for f in self.functions if f.methods is None or method in f.methods), None
        )
        if function is None:
            allow = ", ".join(self.allowed)
            logger.info("%s %r -> 405 (allowed: %s)", method, scope["path"], allow)
            message = f"Method {method} is not allowed for '{scope['path']}'. Allowed: {allow}."
            response = error_response(
                405, "method_not_allowed", message, state["request_id"], {"Allow": allow}
            )
        else:
            response = await _invoke(function, Request(scope, receive), state)
        await response(scope, receive, send)


async def _invoke(function: HttpFunction, request: Request, state: dict[str, Any]) -> Response:
    invocation_id = str(uuid.uuid4())
    logger.info(
        "Executing 'Functions.%s' (Reason='This function was programmatically called via "
        "the host APIs.', Id=%s)",
        function.name,
        invocation_id,
    )
    started = time.perf_counter()
    try:
        response = await function.func(**{function.arg_name: request})
        if not isinstance(response, Response):
            raise TypeError(f"it returned {type(response).__name__}, not a Starlette Response")
    except Exception:
        logger.exception("Function '%s' failed.", function.name)
        outcome = "Failed"
        response = error_response(
            500, "internal_error", "The server failed to process the request.", state["request_id"]
        )
    else:
        outcome = "Succeeded"
        state["function_response"] = True
    logger.info(
        "Executed 'Functions.%s' (%s, Id=%s, Duration=%dms)",
        function.name,
        outcome,
        invocation_id,
        (time.perf_counter() - started) * 1000,
    )
    return response


def build_routes(functions: Iterable[HttpFunction], route_prefix: str) -> list[Route]:
    """One Starlette route per route template (templates differing only by case are one), in
    the host's order of precedence: at each segment, a literal before a parameter."""
    by_route: dict[str, list[HttpFunction]] = {}
    for function in functions:
        by_route.setdefault(function.route.lower(), []).append(function)
    prefix = route_prefix.strip("/")
    routes = []
    for key in sorted(by_route, key=lambda r: ([s.startswith("{") for s in r.split("/")], r)):
        template = by_route[key][0].route
        path = "/" + "/".join(part for part in (prefix, template) if part)
        route = Route(path, endpoint=RouteFunctions(template, by_route[key]))
        # As the Functions host: case-insensitive, and a trailing slash changes nothing.
        pattern = route.path_regex.pattern.removesuffix("$").rstrip("/")
        route.path_regex = re.compile(pattern + "/?$", re.IGNORECASE)
        routes.append(route)
    return routes


async def _not_found(request: Request, exc: Exception) -> Response:
    path = request.url.path
    logger.info("%s %r -> 404 (no matching function)", request.method, path)
    message = f"No function matches the path '{path}'."
    return error_response(404, "not_found", message, _state(request.scope)["request_id"])


def build_asgi_app(
    app_object: Any, route_prefix: str = "api", cors: CorsSettings | None = None
) -> Starlette:
    """The Starlette app serving the HTTP functions of ``app_object``: a FunctionApp (indexed
    with :func:`discover_functions`) or a :class:`FunctionCatalog`. ``route_prefix`` is host.json's
    prefix (``""`` for none); ``cors`` enables CORSMiddleware."""
    catalog = (
        app_object if isinstance(app_object, FunctionCatalog) else discover_functions(app_object)
    )
    middleware = [Middleware(ForwardedForMiddleware), Middleware(RequestIdMiddleware)]
    if cors is not None:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors.origins),
                allow_credentials=cors.allow_credentials,
                allow_methods=["*"],
                allow_headers=["*"],
                expose_headers=list(EXPOSED_HEADERS),
            )
        )
    app = Starlette(
        routes=build_routes(catalog.http, route_prefix),
        middleware=middleware,
        exception_handlers={404: _not_found},
    )
    app.router.redirect_slashes = False
    return app


__all__ = ["REQUEST_ID_HEADER", "build_asgi_app", "build_routes", "error_response"]
