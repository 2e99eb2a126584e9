"""HTTP plumbing shared by every trigger: request parsing, JSON responses, the error contract,
method dispatch and the session header.

Each route is one Azure function that accepts every method and dispatches here, so that a wrong
method gets the documented 405 JSON error in Azure too (the Functions host itself would answer
an empty 404).

The app runs with HTTP streams (`azurefunctions-extensions-http-fastapi`), which applies to every
HTTP trigger of the app once the extension is imported: each Azure function takes the extension's
`Request` (a Starlette request) and returns a Starlette response. `http_endpoint` is the one
adapter between that edge and the handlers: it reads the body (bounded), hands the handler the
classic `func.HttpRequest` view of the request in a worker thread (the services are synchronous),
and converts its `func.HttpResponse` back; a handler may also return a Starlette response, such as
the streamed chat answer, which passes through untouched. Whatever fails, in a handler or in the
adapter itself, the caller gets the JSON error contract with its `X-Request-Id`.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import azure.functions as func

# The HTTP-streams types (FastAPI's, which are Starlette's). Importing the extension switches the
# whole app to HTTP streams; the worker checks these annotations when it indexes the functions.
from azurefunctions.extensions.http.fastapi import Request as Request
from azurefunctions.extensions.http.fastapi import Response as Response
from azurefunctions.extensions.http.fastapi import StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from services.video_rag.bootstrap import get_dependencies
from services.video_rag.diagnostics import bind_invocation, current_invocation_id, invocation
from services.video_rag.domain.clients import FORWARDED_FOR_HEADER, client_address
from services.video_rag.domain.errors import AppError, DatabaseUnavailable

logger = logging.getLogger("video_rag.http")

Handler = Callable[[func.HttpRequest], "func.HttpResponse | Response"]
"""A route's code for one method: the classic request in, a classic or a Starlette response out."""
Endpoint = Callable[[Request], Awaitable[Response]]
"""An Azure function of the app, as the HTTP-streams worker calls it."""

EVENT_STREAM_MIMETYPE = "text/event-stream"
JSON_MIMETYPE = "application/json"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
REQUEST_ID_HEADER = "X-Request-Id"
SESSION_HEADER = "X-Session-Id"

STATUS_BY_CODE: Mapping[str, int] = {
    "invalid_json": 400,
    "validation_error": 400,
    "session_required": 401,
    "session_not_found": 401,
    "session_expired": 401,
    "not_found": 404,
    "video_not_found": 404,
    "method_not_allowed": 405,
    "no_videos": 409,
    "payload_too_large": 413,
    "rate_limited": 429,
    "internal_error": 500,
    "llm_error": 502,
    "upstream_error": 502,
    "database_unavailable": 503,
    "llm_budget_exhausted": 503,
    "configuration_error": 503,
    "upstream_timeout": 504,
}

REQUEST_ID_PATTERN = r"[A-Za-z0-9._:-]{1,128}"
"""A sane X-Request-Id: echoed when the caller sends one, else a new one replaces it."""
_REQUEST_ID = re.compile(REQUEST_ID_PATTERN)


class RequestError(AppError):
    """A malformed request (bad JSON, wrong method, too large)."""

    def __init__(self, code: str, message: str, *, details: Sequence[Any] | None = None) -> None:
        self.code = code
        super().__init__(message, details=details)


def current_request_id() -> str:
    """The id of the request being handled (for log lines and error bodies)."""
    return current_invocation_id() or "-"


def request_id_for(headers: Mapping[str, str]) -> str:
    """The caller's X-Request-Id when it is a sane token, else a new one."""
    given = (headers.get(REQUEST_ID_HEADER) or "").strip()
    return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def json_response(
    body: BaseModel | Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> func.HttpResponse:
    """A JSON response; pydantic models are serialized in their JSON mode."""
    if isinstance(body, BaseModel):
        payload = body.model_dump_json()
    else:
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    # An explicit header: the Python worker drops the charset of non-text mimetypes. No cache may
    # keep an answer: they carry session ids and a session's private data.
    all_headers = {
        "Content-Type": JSON_CONTENT_TYPE,
        "Cache-Control": "no-store",
        **(headers or {}),
    }
    return func.HttpResponse(
        payload,
        status_code=status,
        headers=all_headers,
        mimetype=JSON_MIMETYPE,
        charset="utf-8",
    )


def no_content() -> func.HttpResponse:
    """204 with an empty body."""
    return func.HttpResponse(status_code=204)


def accepts_event_stream(req: func.HttpRequest) -> bool:
    """Whether the caller asked for Server-Sent Events (`Accept: text/event-stream`)."""
    accepted = (req.headers.get("Accept") or "").lower()
    return any(part.split(";")[0].strip() == EVENT_STREAM_MIMETYPE for part in accepted.split(","))


def event_stream(events: AsyncIterator[tuple[str, Any]]) -> Response:
    """A 200 `text/event-stream` response sending each `(name, data)` of `events` as one
    Server-Sent Event: ``event: <name>``, ``data: <data as one JSON line>``, a blank line. An
    exception from `events` becomes a last ``error`` event in the error contract's shape."""
    request_id = current_request_id()

    async def body() -> AsyncIterator[bytes]:
        bind_invocation(request_id)  # this runs in the server's task, after the handler returned
        try:
            async for name, data in events:
                yield _sse(name, data)
        except Exception as exc:
            code, message, details, _ = _error_of(exc, "while streaming")
            yield _sse("error", error_body(code, message, details))

    return StreamingResponse(
        body(),
        media_type=f"{EVENT_STREAM_MIMETYPE}; charset=utf-8",
        # Not stored by any cache, and not buffered by proxies that honour it (nginx): events go
        # out at once.
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _sse(name: str, data: Any) -> bytes:
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {name}\ndata: {payload}\n\n".encode()


def error_body(code: str, message: str, details: Sequence[Any] | None = None) -> dict[str, Any]:
    """The documented error object."""
    error: dict[str, Any] = {"code": code, "message": message, "request_id": current_request_id()}
    if details is not None:
        error["details"] = list(details)
    return {"error": error}


def error_response(
    code: str,
    message: str,
    details: Sequence[Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> func.HttpResponse:
    """An error in the documented JSON shape, with the status that belongs to `code`."""
    return json_response(error_body(code, message, details), STATUS_BY_CODE[code], headers)


def session_first[T](req: func.HttpRequest, parse: Callable[[], T]) -> T:
    """`parse()` (a request's body or query), except that a missing, unknown or expired session
    is 401 before what `parse` finds wrong is 400, as on every session route (docs/API.md). The
    session is looked up only when parsing fails: a valid request meets it in its service."""
    from services.video_rag.service.sessions import require_token, session_key

    token = session_token(req)
    require_token(token)  # a missing or malformed id: 401 before anything is read
    try:
        return parse()
    except (RequestError, ValidationError):
        session_key(get_dependencies(), token)
        raise


def parse_json[ModelT: BaseModel](
    req: func.HttpRequest, model: type[ModelT], *, empty_ok: bool = False
) -> ModelT:
    """Parse and validate a JSON object body. An empty body counts as `{}` when `empty_ok`."""
    raw = req.get_body()
    if not raw.strip():
        if empty_ok:
            return model.model_validate({})
        raise RequestError("invalid_json", "the request body must be a JSON object")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # ValueError: JSONDecodeError, huge integers
        raise RequestError("invalid_json", f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RequestError("invalid_json", "the request body must be a JSON object")
    _check_structure(data)
    return model.model_validate(data)


MAX_JSON_DEPTH = 32
"""No request of the API nests deeper than a few levels; deeper bodies are refused outright."""


def _check_structure(data: Any) -> None:
    """Refuse bodies nested deeper than MAX_JSON_DEPTH and `\\ud800`-style escapes (they decode
    to strings that are not Unicode). Iterative: no body can exhaust the recursion limit."""
    pending: list[tuple[Any, int]] = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise RequestError(
                "invalid_json", f"the request body is nested deeper than {MAX_JSON_DEPTH} levels"
            )
        if isinstance(value, dict):
            pending.extend((key, depth) for key in value)
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, str) and not _is_unicode(value):
            raise RequestError(
                "invalid_json", "the request body contains an invalid \\u escape (a lone surrogate)"
            )


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def request_client(req: func.HttpRequest) -> str | None:
    """The caller's address as Azure's front end (or the local host) reported it in
    X-Forwarded-For, read as TRUSTED_PROXY_HOPS says (see `domain.clients`)."""
    hops = get_dependencies().settings.trusted_proxy_hops
    return client_address(req.headers.get(FORWARDED_FOR_HEADER), hops)


def session_token(req: func.HttpRequest) -> str | None:
    """The session id the caller sent in the X-Session-Id header, if any."""
    token = (req.headers.get(SESSION_HEADER) or "").strip()
    return token or None


def http_endpoint(name: str, **handlers: Handler) -> Endpoint:
    """Build the Azure function for one route: dispatch on the method, apply the error contract,
    and put X-Request-Id on every response. `handlers` maps method names to handlers."""
    allowed = sorted(method.upper() for method in handlers)
    by_method = {method.upper(): handler for method, handler in handlers.items()}

    async def endpoint(req: Request) -> Response:
        request_id = request_id_for(req.headers)
        with invocation(request_id):
            try:
                response = await _respond(req, by_method, allowed)
            except Exception:  # the adapter itself failed: still the contract, never plain text
                logger.exception("unhandled error in the HTTP adapter")
                response = to_starlette(
                    error_response("internal_error", "something went wrong on our side")
                )
        response.headers[REQUEST_ID_HEADER] = request_id
        return response

    endpoint.__name__ = endpoint.__qualname__ = name
    endpoint.allowed_methods = tuple(allowed)  # type: ignore[attr-defined]
    return endpoint


async def _respond(
    req: Request, by_method: Mapping[str, Handler], allowed: Sequence[str]
) -> Response:
    method = req.method.upper()
    handler = by_method.get(method)
    if handler is None:
        return to_starlette(
            error_response(
                "method_not_allowed",
                f"{method} is not allowed here; use {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            )
        )
    limit = get_dependencies().settings.max_request_bytes
    try:
        body = await _read_body(req, limit)
    except ClientDisconnect:  # nobody is left to answer
        return Response(status_code=400)
    if body is None:
        return to_starlette(
            error_response("payload_too_large", f"the request body exceeds {limit} bytes")
        )
    # The services are synchronous: they run in a worker thread (with this context, so that log
    # lines keep the request id; at most 40 at once, as FastAPI runs synchronous endpoints),
    # never on the event loop that serves the other requests and the streams.
    result = await run_in_threadpool(_dispatch, classic_request(req, body), handler)
    return result if isinstance(result, Response) else to_starlette(result)


async def _read_body(req: Request, limit: int) -> bytes | None:
    """The request body, or None when it is larger than `limit` bytes: refused by its declared
    Content-Length before anything is read, and never buffered beyond the limit."""
    declared = req.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in req.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)  # one copy of the body, not a buffer and then its copy


def classic_request(req: Request, body: bytes) -> func.HttpRequest:
    """The `func.HttpRequest` view of a Starlette request, as the Functions host builds it:
    repeated headers joined with ", " (cookies with "; "), repeated query parameters with ",",
    route parameters from the request's path parameters."""
    headers: dict[str, str] = {}
    for key, value in req.headers.items():
        name = key.lower()
        if name in headers:
            headers[name] += ("; " if name == "cookie" else ", ") + value
        else:
            headers[name] = value
    params: dict[str, str] = {}
    for key, value in req.query_params.multi_items():
        params[key] = f"{params[key]},{value}" if key in params else value
    return func.HttpRequest(
        method=req.method.upper(),
        url=str(req.url),
        headers=headers,
        params=params,
        route_params={key: str(value) for key, value in req.path_params.items()},
        body=body,
    )


def to_starlette(response: func.HttpResponse) -> Response:
    """A classic response as a Starlette one: status, headers and body kept; the content type
    from its headers, else from its mimetype and charset (as the worker does)."""
    headers = {str(key): str(value) for key, value in response.headers.items()}
    if not any(key.lower() == "content-type" for key in headers):
        mimetype = response.mimetype or "text/plain"
        charset = response.charset or "utf-8"
        headers["Content-Type"] = (
            f"{mimetype}; charset={charset}" if mimetype.startswith("text/") else mimetype
        )
    status = int(response.status_code)
    body = b"" if status in (204, 304) else (response.get_body() or b"")
    return Response(content=body, status_code=status, headers=headers)


def _dispatch(req: func.HttpRequest, handler: Handler) -> func.HttpResponse | Response:
    try:
        return handler(req)
    except Exception as exc:  # the contract: never a stack trace, always JSON
        # The path as a Python literal: a newline in it cannot forge a log line.
        code, message, details, headers = _error_of(exc, f"in {req.method} {_path_of(req)!r}")
        return error_response(code, message, details, headers)


def _error_of(
    exc: Exception, where: str
) -> tuple[str, str, Sequence[Any] | None, Mapping[str, str] | None]:
    """The error contract's code, message, details and headers for `exc` (logged when it is
    not one of ours)."""
    if isinstance(exc, AppError):
        return exc.code, exc.message, exc.details, exc.headers
    if isinstance(exc, ValidationError):
        return "validation_error", "the request is invalid", _details(exc), None
    if _is_database_outage(exc):
        logger.warning("database unavailable: %s", type(exc).__name__)
        outage = DatabaseUnavailable()
        return outage.code, outage.message, None, None
    logger.exception("unhandled error %s", where)
    return "internal_error", "something went wrong on our side", None, None


def _details(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(str(part) for part in error["loc"]) or "body",
            "message": error["msg"],
            "type": error["type"],
        }
        for error in exc.errors(include_url=False, include_input=False)
    ]


# SQLSTATE classes of a database that is down or unreachable (not of a failed statement):
# connection exceptions, insufficient resources, operator intervention (e.g. shutting down).
_OUTAGE_SQLSTATE_PREFIXES = ("08", "53", "57P")


def _is_database_outage(exc: Exception) -> bool:
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    import psycopg

    if isinstance(exc.orig, psycopg.InterfaceError):
        return True
    if isinstance(exc.orig, psycopg.OperationalError):
        sqlstate = exc.orig.sqlstate
        return sqlstate is None or sqlstate.startswith(_OUTAGE_SQLSTATE_PREFIXES)
    return False


def _path_of(req: func.HttpRequest) -> str:
    return str(req.url).split("?", 1)[0]
