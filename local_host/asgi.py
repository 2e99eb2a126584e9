"""The Starlette application that serves HTTP-triggered functions."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from .bridge import (
    REQUEST_ID_HEADER,
    UnsupportedResultError,
    choose_request_id,
    error_response,
    to_http_request,
    to_starlette_response,
)
from .config import CorsSettings
from .discovery import FunctionCatalog, HttpFunction, discover_functions
from .invoke import InvocationContext, build_kwargs, call_in_threadpool
from .routing import (
    MethodNotAllowed,
    RouteEntry,
    RouteTable,
    RouteTemplate,
    RouteTemplateError,
    relative_path,
)

logger = logging.getLogger("local_host")

STATE_KEY = "local_host"
EXPOSED_HEADERS = ("X-Request-Id", "Retry-After")


def _request_state(scope: Scope) -> dict[str, Any]:
    state = scope.get(STATE_KEY)
    if not isinstance(state, dict):
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id")
        state = {
            "request_id": choose_request_id(incoming.decode("latin-1") if incoming else None),
            "function_response": False,
        }
        scope[STATE_KEY] = state
    return state


class RequestIdMiddleware:
    """Assigns the request id and stamps ``X-Request-Id`` on host-generated responses.

    Responses produced by functions are passed through untouched; everything
    else (404/405/500 errors, CORS preflight answers) gets the header.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = _request_state(scope)

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

    def __init__(self, app: Any) -> None:
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


def build_route_table(functions: Iterable[HttpFunction]) -> RouteTable[HttpFunction]:
    """Compile the functions' route templates; invalid templates are logged and skipped."""
    entries: list[RouteEntry[HttpFunction]] = []
    for function in functions:
        try:
            template = RouteTemplate(function.route)
        except RouteTemplateError as exc:
            logger.error("Function '%s' is disabled: %s", function.name, exc)
            continue
        entries.append(RouteEntry(template, function.methods, function))
    return RouteTable(entries)


class FunctionDispatcher:
    """ASGI endpoint: routes a request to a function and converts the result."""

    def __init__(
        self, routes: RouteTable[HttpFunction], route_prefix: str, function_directory: str
    ) -> None:
        self.routes = routes
        self.route_prefix = route_prefix
        self.function_directory = function_directory

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        state = _request_state(scope)
        response = await self.handle(request, state)
        await response(scope, receive, send)

    async def handle(self, request: Request, state: dict[str, Any]) -> Response:
        """Produce the response for one request."""
        request_id: str = state["request_id"]
        method = request.method.upper()
        path = request.url.path
        rel = relative_path(path, self.route_prefix)
        resolved = self.routes.resolve(method, rel) if rel is not None else None
        if resolved is None:
            logger.info("%s %r -> 404 (no matching function)", method, path)
            return error_response(
                404, "not_found", f"No function matches the path '{path}'.", request_id
            )
        if isinstance(resolved, MethodNotAllowed):
            allow = ", ".join(resolved.allowed)
            logger.info("%s %r -> 405 (allowed: %s)", method, path, allow)
            return error_response(
                405,
                "method_not_allowed",
                f"Method {method} is not allowed for '{path}'. Allowed: {allow}.",
                request_id,
                headers={"Allow": allow},
            )
        function = resolved.entry.target
        if function.streams:
            # HTTP streams: the function takes the Starlette request itself, route parameters in
            # `path_params`, and its Starlette response is sent as it is (streamed bodies too).
            request.scope["path_params"] = dict(resolved.params)
            trigger_value: Any = request
        else:
            try:
                trigger_value = await to_http_request(request, resolved.params)
            except ClientDisconnect:
                logger.info("%s %r: the client disconnected before sending the body", method, path)
                return Response(status_code=400)
        invocation_id = str(uuid.uuid4())
        logger.info(
            "Executing 'Functions.%s' (Reason='This function was programmatically called via "
            "the host APIs.', Id=%s)",
            function.name,
            invocation_id,
        )
        started = time.perf_counter()
        try:
            context = InvocationContext(invocation_id, function.name, self.function_directory)
            kwargs = build_kwargs(function.func, function.arg_name, trigger_value, context)
            result = await call_in_threadpool(function.func, kwargs)
            response = to_starlette_response(result)
        except Exception as exc:
            elapsed = (time.perf_counter() - started) * 1000
            if isinstance(exc, UnsupportedResultError):
                logger.error("Function '%s' returned an unusable result: %s", function.name, exc)
            else:
                logger.exception("Function '%s' raised an exception.", function.name)
            logger.error(
                "Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms)",
                function.name,
                invocation_id,
                elapsed,
            )
            return error_response(
                500, "internal_error", "The server failed to process the request.", request_id
            )
        elapsed = (time.perf_counter() - started) * 1000
        logger.info(
            "Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)",
            function.name,
            invocation_id,
            elapsed,
        )
        state["function_response"] = True
        return response


def build_asgi_app(
    app_object: Any,
    route_prefix: str = "api",
    cors: CorsSettings | None = None,
    *,
    function_directory: str | None = None,
) -> Starlette:
    """Build the Starlette app serving the HTTP functions of ``app_object``.

    ``app_object`` is a FunctionApp (indexed with :func:`discover_functions`) or
    an already built :class:`FunctionCatalog`. ``route_prefix`` is the host.json
    prefix without slashes (``""`` for none). ``cors`` enables CORSMiddleware.
    """
    catalog = (
        app_object if isinstance(app_object, FunctionCatalog) else discover_functions(app_object)
    )
    dispatcher = FunctionDispatcher(
        build_route_table(catalog.http),
        route_prefix.strip("/"),
        function_directory or os.getcwd(),
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
    app = Starlette(routes=[Route("/{path:path}", endpoint=dispatcher)], middleware=middleware)
    # Starlette's `path` convertor (`.*`) does not match a decoded newline: without this, such a
    # path got Starlette's plain-text 404 instead of the dispatcher's JSON answer.
    app.router.default = dispatcher
    return app


__all__ = ["REQUEST_ID_HEADER", "RequestIdMiddleware", "build_asgi_app", "build_route_table"]
