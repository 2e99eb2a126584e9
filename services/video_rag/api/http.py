"""HTTP plumbing shared by every trigger: request parsing, JSON responses, the error contract,
method dispatch and the session header.

Each route is one Azure function that accepts every method and dispatches here, so that a wrong
method gets the documented 405 JSON error in Azure too (the Functions host itself would answer
an empty 404).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import azure.functions as func
from pydantic import BaseModel, ValidationError

from services.video_rag.bootstrap import get_dependencies
from services.video_rag.diagnostics import current_invocation_id, invocation
from services.video_rag.domain.errors import AppError, DatabaseUnavailable

logger = logging.getLogger("video_rag.http")

Handler = Callable[[func.HttpRequest], func.HttpResponse]
ModelT = TypeVar("ModelT", bound=BaseModel)

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
    "configuration_error": 503,
    "upstream_timeout": 504,
}

_REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestError(AppError):
    """A malformed request (bad JSON, wrong method, too large)."""

    def __init__(self, code: str, message: str, *, details: Sequence[Any] | None = None) -> None:
        self.code = code
        super().__init__(message, details=details)


def current_request_id() -> str:
    """The id of the request being handled (for log lines and error bodies)."""
    return current_invocation_id() or "-"


def request_id_for(req: func.HttpRequest) -> str:
    """The caller's X-Request-Id when it is a sane token, else a new one."""
    given = (req.headers.get(REQUEST_ID_HEADER) or "").strip()
    return given if _REQUEST_ID_PATTERN.fullmatch(given) else uuid.uuid4().hex


def json_response(
    body: BaseModel | Mapping[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> func.HttpResponse:
    """A JSON response; pydantic models are serialized in their JSON mode."""
    if isinstance(body, BaseModel):
        payload = body.model_dump_json()
    else:
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    # An explicit header: the Python worker drops the charset of non-text mimetypes.
    all_headers = {"Content-Type": JSON_CONTENT_TYPE, **(headers or {})}
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


def parse_json(req: func.HttpRequest, model: type[ModelT], *, empty_ok: bool = False) -> ModelT:
    """Parse and validate a JSON object body. An empty body counts as `{}` when `empty_ok`."""
    raw = req.get_body()
    if not raw.strip():
        if empty_ok:
            return model.model_validate({})
        raise RequestError("invalid_json", "the request body must be a JSON object")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise RequestError("invalid_json", f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RequestError("invalid_json", "the request body must be a JSON object")
    _reject_lone_surrogates(data)
    return model.model_validate(data)


def _reject_lone_surrogates(data: Any) -> None:
    """Reject `\\ud800`-style escapes: they decode to strings that are not Unicode."""
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise RequestError(
            "invalid_json", "the request body contains an invalid \\u escape (a lone surrogate)"
        ) from None


def session_token(req: func.HttpRequest) -> str | None:
    """The session id the caller sent in the X-Session-Id header, if any."""
    token = (req.headers.get(SESSION_HEADER) or "").strip()
    return token or None


def http_endpoint(name: str, **handlers: Handler) -> Handler:
    """Build the Azure function for one route: dispatch on the method, apply the error contract,
    and put X-Request-Id on every response. `handlers` maps method names to handlers."""
    allowed = sorted(method.upper() for method in handlers)
    by_method = {method.upper(): handler for method, handler in handlers.items()}

    def endpoint(req: func.HttpRequest) -> func.HttpResponse:
        request_id = request_id_for(req)
        with invocation(request_id):
            response = _dispatch(req, by_method, allowed)
        response.headers[REQUEST_ID_HEADER] = request_id
        return response

    endpoint.__name__ = endpoint.__qualname__ = name
    endpoint.allowed_methods = tuple(allowed)  # type: ignore[attr-defined]
    return endpoint


def _dispatch(
    req: func.HttpRequest, by_method: Mapping[str, Handler], allowed: Sequence[str]
) -> func.HttpResponse:
    try:
        handler = by_method.get(req.method.upper())
        if handler is None:
            return error_response(
                "method_not_allowed",
                f"{req.method.upper()} is not allowed here; use {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            )
        limit = get_dependencies().settings.max_request_bytes
        if len(req.get_body()) > limit:
            raise RequestError("payload_too_large", f"the request body exceeds {limit} bytes")
        return handler(req)
    except AppError as exc:
        return error_response(exc.code, exc.message, exc.details, exc.headers)
    except ValidationError as exc:
        return error_response("validation_error", "the request is invalid", _details(exc))
    except Exception as exc:  # the contract: never a stack trace, always JSON
        if _is_database_outage(exc):
            logger.warning("database unavailable: %s", type(exc).__name__)
            outage = DatabaseUnavailable()
            return error_response(outage.code, outage.message)
        logger.exception("unhandled error in %s %s", req.method, _path_of(req))
        return error_response("internal_error", "something went wrong on our side")


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
