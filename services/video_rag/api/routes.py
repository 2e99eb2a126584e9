"""Route declarations: each HTTP route of the app is declared once, in its blueprint module.

A `Route` names its Azure function and path and holds one `Operation` per method: the handler,
and what the OpenAPI document says of it (request and query models, responses, error statuses,
examples). `register(bp, routes)` turns the routes into the blueprint's Azure functions (one per
path, dispatching on the method, see `api/http.py`); `api/openapi.py` turns the same routes into
the OpenAPI document, and `tools/generate_requests.py` into the request collections.

Declaring a route does no work: the document is built on first use, and `register` only wraps
the handlers.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import azure.functions as func
from pydantic import BaseModel

from services.video_rag.api.http import Endpoint, Handler, http_endpoint

HttpMethod = Literal["GET", "POST", "DELETE"]
SessionUse = Literal["required", "optional", "none", "legacy"]
"""How an operation identifies the caller's session: the `X-Session-Id` header is `required`,
`optional` (POST /sessions: get-or-create), not used (`none`), or the session id travels in the
body or query string (`legacy`)."""


@dataclass(frozen=True)
class Example:
    """A named request body example."""

    summary: str
    value: Any


@dataclass(frozen=True)
class RawBody:
    """A response body that is not one of the pydantic models (e.g. HTML, the OpenAPI document,
    or a reference to one of the document's composed schemas)."""

    media_type: str
    schema: Mapping[str, Any]
    example: Any = None
    """An example of the body (None: none)."""


@dataclass(frozen=True)
class Reply:
    """A successful (or otherwise operation-specific) response: status, description, body
    (a pydantic model, a raw body, or None for no body) and extra response headers."""

    status: int
    description: str
    body: type[BaseModel] | RawBody | None = None
    headers: tuple[str, ...] = ()
    alternative: RawBody | None = None
    """Another media type the same status may carry (the chat's event stream)."""


NO_CONTENT = Reply(204, "Done; no body.")


@dataclass(frozen=True)
class Operation:
    """One method of a route: its handler and its documentation."""

    method: HttpMethod
    handler: Handler
    operation_id: str
    summary: str
    replies: tuple[Reply, ...]
    errors: tuple[int, ...] = ()
    """Error statuses besides 413 and 500, which every operation can answer."""
    session: SessionUse = "required"
    request: type[BaseModel] | None = None
    """The request body model (documented for every method but GET)."""
    request_required: bool = True
    query: type[BaseModel] | None = None
    """A model whose fields are the operation's query parameters."""
    path_parameters: Mapping[str, Any] = field(default_factory=dict)
    """Path parameter name -> its type (an annotated type is turned into its schema)."""
    examples: Mapping[str, Example] = field(default_factory=dict)
    description: str = ""


class Route:
    """One path of the API: the Azure function that serves it and the operation of each method.

    `path` is the OpenAPI path (`/videos/{video_id}`); the function's route is the same without
    the leading slash (the host adds the `api` prefix)."""

    def __init__(self, function: str, path: str, tag: str, *operations: Operation) -> None:
        self.function = function
        self.path = path
        self.tag = tag
        self.operations = operations

    @functools.cached_property
    def endpoint(self) -> Endpoint:
        """The Azure function: dispatch on the method, the error contract, X-Request-Id."""
        return http_endpoint(self.function, **{op.method: op.handler for op in self.operations})


def register(bp: func.Blueprint, routes: Sequence[Route]) -> None:
    """Add one anonymous HTTP function per route to `bp`, accepting every method (a method the
    route does not serve gets the JSON 405)."""
    for route in routes:
        bp.route(route=route.path.removeprefix("/"), auth_level=func.AuthLevel.ANONYMOUS)(
            route.endpoint
        )
