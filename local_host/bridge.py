"""Conversion between Starlette requests/responses and ``azure.functions`` objects,
and the host's own JSON error responses."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import azure.functions as func
from azure.functions import _abc as azf_abc
from starlette.requests import Request
from starlette.responses import Response

REQUEST_ID_HEADER = "X-Request-Id"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_HOP_HEADERS = {"content-length", "transfer-encoding", "connection"}


class UnsupportedResultError(TypeError):
    """A function returned something that cannot become an HTTP response."""


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
    """A host-generated error in the app's JSON contract.

    Body: ``{"error": {"code", "message", "request_id"}}``; the response carries
    ``X-Request-Id`` and any extra ``headers`` (e.g. ``Allow``).
    """
    body = json.dumps(
        {"error": {"code": code, "message": message, "request_id": request_id}},
        ensure_ascii=False,
    ).encode("utf-8")
    all_headers = {REQUEST_ID_HEADER: request_id, **(headers or {})}
    return Response(
        content=body,
        status_code=status_code,
        headers=all_headers,
        media_type=JSON_CONTENT_TYPE,
    )


def _join_multi(
    items: Iterable[tuple[str, str]], separator: str, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Collapse repeated keys (case-insensitively) into one joined value."""
    joined: dict[str, str] = {}
    names: dict[str, str] = {}
    for key, value in items:
        lookup = key.lower()
        if lookup in names:
            sep = (overrides or {}).get(lookup, separator)
            joined[names[lookup]] = f"{joined[names[lookup]]}{sep}{value}"
        else:
            names[lookup] = key
            joined[key] = value
    return joined


async def to_http_request(request: Request, route_params: Mapping[str, str]) -> func.HttpRequest:
    """Build a ``func.HttpRequest`` from a Starlette request.

    Repeated headers are joined with ``", "`` (cookies with ``"; "``); repeated
    query parameters are joined with ``","`` as the Functions host does.
    """
    headers = _join_multi(
        ((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw),
        ", ",
        {"cookie": "; "},
    )
    params = _join_multi(request.query_params.multi_items(), ",")
    body = await request.body()
    return func.HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=headers,
        params=params,
        route_params=dict(route_params),
        body=body,
    )


def _encode_header(name: str, value: str) -> tuple[bytes, bytes]:
    if any(c in name or c in value for c in "\r\n\0") or not name:
        raise UnsupportedResultError(f"invalid response header {name!r}")
    try:
        raw_value = value.encode("latin-1")
    except UnicodeEncodeError:
        raw_value = value.encode("utf-8")
    return name.lower().encode("latin-1"), raw_value


def _default_content_type(mimetype: str, charset: str) -> str:
    # Same rule as the Python worker's HttpResponseConverter.
    if mimetype.startswith("text/"):
        return f"{mimetype}; charset={charset}"
    return mimetype


def to_starlette_response(result: Any) -> Response:
    """Convert a function's return value into a Starlette response.

    A Starlette response (from an HTTP-streams function) is returned as it is.
    ``func.HttpResponse``: status, every header (repeated ones too) and body are
    kept; without an explicit Content-Type header it is derived from
    ``mimetype``/``charset`` like the Python worker does. A ``str`` becomes a
    200 text/plain response, ``None`` a 204. Anything else raises
    :class:`UnsupportedResultError`.
    """
    header_items: list[tuple[str, str]]
    if isinstance(result, Response):  # an HTTP-streams function's response: sent as it is
        return result
    if isinstance(result, azf_abc.HttpResponse):
        status = int(result.status_code)
        body = result.get_body() or b""
        raw_headers: Any = result.headers
        if hasattr(raw_headers, "items"):
            header_items = [(str(k), str(v)) for k, v in raw_headers.items()]
        else:
            header_items = [(str(k), str(v)) for k, v in raw_headers]
        if not any(k.lower() == "content-type" for k, _ in header_items):
            mimetype = str(result.mimetype or "text/plain")
            charset = str(result.charset or "utf-8")
            header_items.append(("content-type", _default_content_type(mimetype, charset)))
    elif isinstance(result, str):
        status, body = 200, result.encode("utf-8")
        header_items = [("content-type", "text/plain; charset=utf-8")]
    elif result is None:
        status, body, header_items = 204, b"", []
    else:
        raise UnsupportedResultError(
            f"HTTP functions must return func.HttpResponse or str, got {type(result).__name__}"
        )
    if status < 200 or status in (204, 304):
        body = b""
    encoded = [_encode_header(k, v) for k, v in header_items if k.lower() not in _HOP_HEADERS]
    response = Response(content=body, status_code=status)
    response.raw_headers = encoded + [
        (k, v) for k, v in response.raw_headers if k == b"content-length"
    ]
    return response
