"""The OpenAPI 3.1 document of the HTTP API (docs/API.md), built from the route declarations.

Each route is declared once, in its blueprint module (`api/routes.py`: its function, path,
methods, models, responses, errors and examples); `build_openapi(routes)` turns those
declarations into the document, with the pydantic models' JSON Schemas. This module holds what
the routes share: the error contract's responses and examples, the response examples of each
model, the headers and the shared example values.

Importing this module is cheap (no schema is generated and nothing touches a database); the app's
document is built from every route on first use (`api/functions/openapi.py`) and cached.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from pydantic import BaseModel, Field, TypeAdapter
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from services.video_rag.api import legacy_schemas as legacy
from services.video_rag.api import schemas
from services.video_rag.api.http import (
    REQUEST_ID_HEADER,
    REQUEST_ID_PATTERN,
    SESSION_HEADER,
    STATUS_BY_CODE,
)
from services.video_rag.api.routes import Operation, RawBody, Reply, Route, SessionUse

OPENAPI_VERSION: Final = "3.1.0"
API_TITLE: Final = "Video RAG API"
API_VERSION: Final = "0.1.0"
"""`info.version`: the version of the HTTP contract (kept equal to pyproject's version)."""
LOCAL_SERVER: Final = "http://localhost:7071/api"
"""Where `make run` serves the API (the request collections' base URL)."""
SERVER_URL: Final = "/api"
"""`servers[0].url`: relative, so it resolves against wherever the document is served
(`.../api/openapi.json` -> `.../api`), locally, in Azure or behind a proxy."""
JSON: Final = "application/json"
SECURITY_SCHEME: Final = "sessionId"
"""Name of the `X-Session-Id` API-key security scheme in `components.securitySchemes`."""

EXAMPLE_SESSION_ID: Final = "q3VxExampleSessionIdKeepItSecret0"
"""The session id used in request examples; request collections replace it with a variable."""
EXAMPLE_VIDEO_ID: Final = "GJLlxj_dtq8"
"""A YouTube video id used in examples (added by URL)."""
EXAMPLE_UPLOADED_VIDEO_ID: Final = "abcdefghijk"
"""The video id of the transcript uploaded in examples."""
EXAMPLE_VTT: Final = (
    "WEBVTT\n\n"
    "00:00:01.000 --> 00:00:04.000\nThe battery lasts about nine hours in my test.\n\n"
    "00:00:04.000 --> 00:00:08.000\nThe keyboard cover is sold separately.\n"
)

_REF_TEMPLATE: Final = "#/components/schemas/{model}"


# --- Models the API returns that schemas.py does not define ------------------------------------


class ErrorDetail(BaseModel):
    """One problem of a `validation_error`: which field, what is wrong, and its kind."""

    field: str = Field(description="dotted path of the bad field (`body` for the whole body)")
    message: str
    type: str = Field(description="machine-readable kind of problem")


class ErrorBody(BaseModel):
    """The error object: a stable code, a message safe to show, and the request's id."""

    code: str = Field(
        description="stable, machine-readable error code: "
        + ", ".join(f"`{code}`" for code in sorted(STATUS_BY_CODE))
        + ". Each error response's description names the codes of its status. A plain string, "
        "not an enum, so that a client generated today keeps working when a code is added: "
        "handle an unknown code by the HTTP status.",
    )
    message: str = Field(description="human-readable explanation (never a stack trace)")
    request_id: str = Field(description="the X-Request-Id of the response")
    details: list[ErrorDetail] = Field(
        default_factory=list, description="`validation_error` only: one entry per bad field"
    )


class ErrorResponse(BaseModel):
    """Every error response of every route: `{"error": {...}}`."""

    error: ErrorBody


COMPOSED_SCHEMAS: Mapping[str, Mapping[str, Any]] = {
    "HealthUnavailableResponse": {
        "title": "HealthUnavailableResponse",
        "description": "GET /health when not ready: the health report plus the error object.",
        "allOf": [
            {"$ref": "#/components/schemas/HealthResponse"},
            {"$ref": "#/components/schemas/ErrorResponse"},
        ],
    },
}
"""Component schemas made of the models' schemas (an `allOf` of references, so that generators
reuse the referenced classes instead of copying their fields)."""


COMMON_ERRORS: Final = (413, 500)
"""Statuses every operation can answer: the body-size check and the catch-all."""

ERROR_RESPONSES: Mapping[int, tuple[str, str]] = {
    400: (
        "BadRequest",
        "The body is not a JSON object (`invalid_json`), or a field or query parameter is "
        "invalid (`validation_error`, with `details` naming each bad field).",
    ),
    401: (
        "Unauthorized",
        "The session id is missing (`session_required`), unknown (`session_not_found`) or "
        "expired (`session_expired`); nothing was done. POST /sessions (legacy: POST "
        "/getorcreatesession) gets a new one.",
    ),
    404: (
        "NotFound",
        "The session has no such video (`video_not_found`); `not_found` is the local host's "
        "answer to a path that no route matches (in Azure the Functions host answers an empty "
        "404 itself).",
    ),
    405: (
        "MethodNotAllowed",
        "The path does not serve this method (`method_not_allowed`); `Allow` lists the ones "
        "it does.",
    ),
    409: ("Conflict", "The session has no videos yet (`no_videos`): add one with POST /videos."),
    413: ("PayloadTooLarge", "The request body exceeds the size limit (`payload_too_large`)."),
    429: (
        "TooManyRequests",
        "Too many requests (`rate_limited`): questions in this session "
        "(CHAT_RATE_LIMIT_PER_MINUTE) or from this client address "
        "(CLIENT_CHAT_RATE_LIMIT_PER_MINUTE), or new sessions from this client address "
        "(CLIENT_SESSION_RATE_LIMIT_PER_MINUTE); retry after `Retry-After` seconds.",
    ),
    500: ("InternalError", "An unexpected failure (`internal_error`); never a stack trace."),
    502: (
        "BadGateway",
        "The language model (`llm_error`) or another service the answer depends on "
        "(`upstream_error`) failed; retry.",
    ),
    503: (
        "ServiceUnavailable",
        "The database is unreachable (`database_unavailable`), the app is misconfigured "
        "(`configuration_error`), or the deployment has spent its daily model tokens "
        "(`llm_budget_exhausted`, questions only, with `Retry-After` until midnight UTC); "
        "retry later.",
    ),
    504: ("GatewayTimeout", "The language model took too long to answer (`upstream_timeout`)."),
}
"""Error status -> (name in `components.responses`, description)."""

RESPONSE_HEADERS: Mapping[str, tuple[str, Mapping[str, Any]]] = {
    REQUEST_ID_HEADER: (
        "The request's id: the caller's `X-Request-Id` when it is a sane token, else a new one. "
        "Error bodies repeat it as `error.request_id`.",
        {"type": "string", "pattern": f"^{REQUEST_ID_PATTERN}$"},
    ),
    SESSION_HEADER: ("The session id (the same as `session_id` in the body).", {"type": "string"}),
    "Retry-After": ("Seconds to wait before retrying.", {"type": "integer", "minimum": 1}),
    "Allow": ("The methods the path serves, comma-separated.", {"type": "string"}),
}
"""Response header -> (description, schema), in `components.headers`."""

_EXAMPLE_SOURCE: Final = {
    "id": 1,
    "video_id": EXAMPLE_UPLOADED_VIDEO_ID,
    "title": "Surface Go review (uploaded transcript)",
    "start_seconds": 1.0,
    "end_seconds": 8.0,
    "at_seconds": 1.0,
    "url": f"https://www.youtube.com/watch?v={EXAMPLE_UPLOADED_VIDEO_ID}&t=1s",
    "text": "The battery lasts about nine hours in my test.",
}
EXAMPLE_HEALTH: Final[dict[str, Any]] = {
    "status": "ok",
    "checks": {
        "database": {"ok": True, "message": "reachable"},
        "migrations": {"ok": True, "current": "0006", "head": "0006"},
        "settings": {"ok": True, "problems": []},
    },
    "provider": {
        "llm": "offline",
        "chat_model": "offline-extractive",
        "embeddings": "offline",
        "embedding_model": "wordllama-l2-supercat@256",
    },
}

RESPONSE_EXAMPLES: Mapping[type[BaseModel], Any] = {
    schemas.SessionResponse: {
        "session_id": EXAMPLE_SESSION_ID,
        "created_at": "2026-11-21T10:00:00Z",
        "expires_at": "2026-11-21T10:15:00Z",
        "videos": 1,
        "messages": 2,
    },
    schemas.AddVideosResponse: {
        "videos": [
            {
                "input": f"https://youtu.be/{EXAMPLE_VIDEO_ID}?t=42",
                "video_id": EXAMPLE_VIDEO_ID,
                "status": "added",
                "title": "Surface Go Review",
                "channel": "A channel",
                "language": "en",
                "is_generated": False,
                "duration_seconds": 316.0,
                "chunks": 9,
                "error": None,
            },
            {
                "input": "https://example.com/x",
                "video_id": None,
                "status": "failed",
                "title": None,
                "channel": None,
                "language": None,
                "is_generated": None,
                "duration_seconds": None,
                "chunks": None,
                "error": {"code": "invalid_url", "message": "not a YouTube video URL"},
            },
        ]
    },
    schemas.VideosResponse: {
        "videos": [
            {
                "video_id": EXAMPLE_UPLOADED_VIDEO_ID,
                "url": f"https://www.youtube.com/watch?v={EXAMPLE_UPLOADED_VIDEO_ID}",
                "title": "Surface Go review (uploaded transcript)",
                "channel": None,
                "language": "en",
                "is_generated": False,
                "duration_seconds": 8.0,
                "chunks": 1,
                "added_at": "2026-11-21T10:01:00Z",
            }
        ]
    },
    schemas.ChatResponse: {
        "message_id": "0b6f0c2e-6f1d-4a43-9d1e-2f7c4f6f9a10",
        "answer": "About nine hours in his test [1].",
        "sources": [_EXAMPLE_SOURCE],
        "model": "gpt-4o-mini",
    },
    schemas.MessagesResponse: {
        "messages": [
            {
                "id": "5d0e8a8e-3d0a-4c43-a1a4-6c1b7d0d2b11",
                "role": "user",
                "content": "How long does the battery last?",
                "sources": [],
                "created_at": "2026-11-21T10:02:00Z",
            },
            {
                "id": "0b6f0c2e-6f1d-4a43-9d1e-2f7c4f6f9a10",
                "role": "assistant",
                "content": "About nine hours in his test [1].",
                "sources": [_EXAMPLE_SOURCE],
                "created_at": "2026-11-21T10:02:01Z",
            },
        ]
    },
    schemas.HealthResponse: EXAMPLE_HEALTH,
    legacy.LegacySessionResponse: {
        "session_id": EXAMPLE_SESSION_ID,
        "create_date": "2026-11-21T10:00:00Z",
    },
    legacy.SaveVideoTranscriptResponse: {
        "successful_video_ids": [EXAMPLE_VIDEO_ID],
        "failed_video_ids": ["https://example.com/x"],
    },
    legacy.InferenceResponse: {"response": "About nine hours in his test [1]."},
    legacy.ChatMessageHistoryResponse: {
        "session_id": EXAMPLE_SESSION_ID,
        "chat_messages": [
            {
                "chat_message_id": 1,
                "chat_message_type_id": 1,
                "content": "How long does the battery last?",
            },
            {
                "chat_message_id": 2,
                "chat_message_type_id": 2,
                "content": "About nine hours in his test [1].",
            },
        ],
    },
    legacy.LegacyVideosResponse: {
        "videos": [
            {
                "video_id": 1,
                "external_video_id": EXAMPLE_VIDEO_ID,
                "session_id": EXAMPLE_SESSION_ID,
                "create_date": "2026-11-21T10:01:00Z",
                "is_active": True,
            }
        ]
    },
}
"""An example body of every response model (the tests validate each against its schema)."""

HEALTH_UNAVAILABLE: Final = RawBody(
    JSON,
    {"$ref": "#/components/schemas/HealthUnavailableResponse"},
    example={
        **EXAMPLE_HEALTH,
        "status": "unavailable",
        "checks": {
            **EXAMPLE_HEALTH["checks"],
            "database": {"ok": False, "message": "unreachable"},
            "migrations": {"ok": False, "current": None, "head": "0006"},
        },
        "error": {
            "code": "database_unavailable",
            "message": "database: unreachable",
            "request_id": "7f3c2a9e5b1d4c6e8a0f2b4d6e8c0a1b",
        },
    },
)
"""GET /health's body when the app is not ready: the report and the error object."""

TAGS: Mapping[str, str] = {
    "sessions": "Anonymous, private conversation spaces; the id is a bearer secret.",
    "videos": "The videos (transcripts) a session's answers are grounded in.",
    "chat": "Questions, answers with sources, and the history.",
    "meta": "Health, this document and the browser page.",
    "legacy": "The original project's function URLs and shapes, kept for old front-ends.",
}

_DESCRIPTION: Final = f"""\
Answers questions about YouTube videos from their transcripts, with timestamped sources.

**Sessions.** Create one with `POST /sessions`, then send its id in the `{SESSION_HEADER}` header \
on every call except `POST /sessions`, `GET /health`, `GET /openapi.json` and `GET /ui`. A \
missing, unknown or expired id gets 401 before any work is done. A session expires \
SESSION_EXPIRE_MINUTES (default 15) after the last request that authenticated with it (each one \
renews it), and at the latest SESSION_MAX_HOURS (default 24) after its creation; then \
`POST /sessions` gives a new one.

**Errors.** Every error is JSON: `{{"error": {{"code", "message", "request_id", "details"?}}}}` \
(one schema, `ErrorResponse`, whose `code` enumerates every code); each operation lists the \
statuses it can answer, and each status's description names its codes. A method a path does \
not serve gets 405 `method_not_allowed` with an `Allow` header, and on the local host a path no \
route matches gets 404 `not_found` (`components.responses.MethodNotAllowed` and `NotFound`; in \
Azure the Functions host answers such a path with an empty 404): these are answers \
to requests outside the operations below, so no operation lists them for itself.

**Request ids.** Every response carries `{REQUEST_ID_HEADER}`: the caller's, when it sends a sane \
one, else a new one.
"""


# --- Building the document ---------------------------------------------------------------------


def operations(routes: Sequence[Route]) -> Iterator[tuple[Route, Operation]]:
    """Every operation of `routes`, with its route, in declaration order."""
    for route in routes:
        for operation in route.operations:
            yield route, operation


def build_openapi(routes: Sequence[Route]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `routes` (raises ValueError on an inconsistent declaration:
    a path or method declared twice, an operationId used twice, path parameters that do not
    match the path, a query model that is not flat)."""
    component_schemas, refs = _component_schemas(routes)
    parameters: dict[str, dict[str, Any]] = {"RequestId": _REQUEST_ID_PARAMETER}
    paths: dict[str, dict[str, Any]] = {}
    operation_ids: set[str] = set()
    for route, operation in operations(routes):
        methods = paths.setdefault(route.path, {})
        method = operation.method.lower()
        if method in methods or operation.operation_id in operation_ids:
            raise ValueError(f"{operation.operation_id}: {operation.method} {route.path} twice")
        operation_ids.add(operation.operation_id)
        methods[method] = _operation(route, operation, refs, parameters)
    error_ref = refs[(ErrorResponse, "serialization")]
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": API_TITLE,
            "version": API_VERSION,
            "summary": "Chat with YouTube videos: answers grounded in their transcripts.",
            "description": _DESCRIPTION,
        },
        "servers": [
            {
                "url": SERVER_URL,
                "description": "the app that serves this document (relative to it: "
                f"{LOCAL_SERVER} with `make run`, https://<app>.azurewebsites.net/api in Azure)",
            }
        ],
        "tags": [{"name": name, "description": text} for name, text in TAGS.items()],
        "paths": paths,
        "components": {
            "schemas": component_schemas,
            "responses": _error_responses(error_ref),
            "parameters": dict(sorted(parameters.items())),
            "headers": {
                name: {"description": text, "required": True, "schema": dict(schema)}
                for name, (text, schema) in RESPONSE_HEADERS.items()
            },
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "apiKey",
                    "in": "header",
                    "name": SESSION_HEADER,
                    "description": f"The session id from POST /sessions (an unguessable bearer "
                    f"secret), sent as the `{SESSION_HEADER}` header, as is, with no prefix. "
                    "Generated clients: openapi-python-client's `AuthenticatedClient(base_url, "
                    f'token=session_id, auth_header_name="{SESSION_HEADER}", prefix="")`; '
                    f"openapi-fetch: `createClient({{baseUrl, headers: {{'{SESSION_HEADER}': "
                    "sessionId}})`.",
                }
            },
        },
    }


_REQUEST_ID_PARAMETER: Final[dict[str, Any]] = {
    "name": REQUEST_ID_HEADER,
    "in": "header",
    "required": False,
    "description": "An id to correlate this request in logs; echoed in the response when it is a "
    "sane token (1 to 128 of `A-Z a-z 0-9 . _ : -`), else replaced by a generated one. Never a "
    "reason to reject a request.",
    "schema": {"type": "string"},
}

ModelKey = tuple[type[BaseModel], JsonSchemaMode]


def declared_body(operation: Operation) -> type[BaseModel] | None:
    """The request body model the document declares for the operation. A GET's is not declared
    (most clients cannot send one); the legacy GET routes accept it all the same."""
    return None if operation.method == "GET" else operation.request


def _component_schemas(
    routes: Sequence[Route],
) -> tuple[dict[str, Any], dict[ModelKey, dict[str, Any]]]:
    """All models' JSON Schemas hoisted into one `components.schemas`, and each model's `$ref`.
    Requests use the validation mode, responses the serialization mode (what goes on the wire).

    In the schemas a request reaches, a `"default": null` is dropped: an optional field is one
    that is not `required`, and a default makes some generators (openapi-typescript) declare the
    field as always present, which a request field that may be left out is not."""
    keys: dict[ModelKey, None] = {(ErrorResponse, "serialization"): None}
    for _, operation in operations(routes):
        request = declared_body(operation)
        if request is not None:
            keys[(request, "validation")] = None
        for reply in operation.replies:
            if isinstance(reply.body, type):
                keys[(reply.body, "serialization")] = None
    refs, top = models_json_schema(list(keys), ref_template=_REF_TEMPLATE)
    definitions: dict[str, Any] = dict(top.get("$defs", {}))
    requests = [refs[key] for key in keys if key[1] == "validation"]
    for name in _reachable(requests, definitions):
        definitions[name] = _without_null_defaults(definitions[name])
    for name, schema in COMPOSED_SCHEMAS.items():
        if name in definitions:
            raise ValueError(f"{name} is both a model and a composed schema")
        definitions[name] = dict(schema)
    return dict(sorted(definitions.items())), {key: dict(refs[key]) for key in keys}


def _reachable(roots: Sequence[Any], definitions: Mapping[str, Any]) -> list[str]:
    """Names of the component schemas that `roots` reference, directly or not."""
    prefix = _REF_TEMPLATE.format(model="")
    seen: dict[str, None] = {}
    pending = list(roots)
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(prefix):
                name = ref.removeprefix(prefix)
                if name not in seen:
                    seen[name] = None
                    pending.append(definitions[name])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return list(seen)


def _without_null_defaults(schema: Mapping[str, Any]) -> dict[str, Any]:
    properties = {
        name: {key: value for key, value in prop.items() if (key, value) != ("default", None)}
        for name, prop in schema.get("properties", {}).items()
    }
    return {**schema, "properties": properties} if properties else dict(schema)


def _operation(
    route: Route,
    operation: Operation,
    refs: Mapping[ModelKey, dict[str, Any]],
    shared: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """The operation object. Its path and query parameters go into `shared` (to become
    `components.parameters`) and are referenced from here."""
    result: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "tags": [route.tag],
    }
    if operation.description:
        result["description"] = operation.description
    references = []
    header = [_OPTIONAL_SESSION_PARAMETER] if operation.session == "optional" else []
    path_parameters = _path_parameters(route.path, operation)
    for parameter in (*path_parameters, *_query_parameters(operation.query), *header):
        name = _parameter_component_name(parameter)
        if shared.setdefault(name, parameter) != parameter:
            raise ValueError(f"{operation.operation_id}: parameter {name} differs from another's")
        references.append({"$ref": f"#/components/parameters/{name}"})
    result["parameters"] = [*references, {"$ref": "#/components/parameters/RequestId"}]
    request = declared_body(operation)
    if request is not None:
        content: dict[str, Any] = {"schema": refs[(request, "validation")]}
        if operation.examples:
            content["examples"] = {
                name: {"summary": example.summary, "value": example.value}
                for name, example in operation.examples.items()
            }
        result["requestBody"] = {"required": operation.request_required, "content": {JSON: content}}
    result["security"] = _security(operation.session)
    responses: dict[str, Any] = {}
    for reply in operation.replies:
        responses[str(reply.status)] = _reply(reply, refs)
    for status in sorted({*operation.errors, *COMMON_ERRORS}):
        responses.setdefault(str(status), {"$ref": f"#/components/responses/{_error_name(status)}"})
    result["responses"] = dict(sorted(responses.items()))
    return result


def _parameter_component_name(parameter: Mapping[str, Any]) -> str:
    """`video_id` in the path -> `VideoIdPath`; `limit` in the query -> `LimitQuery`."""
    words = str(parameter["name"]).replace("-", "_").split("_")
    return "".join(word.capitalize() for word in words) + str(parameter["in"]).capitalize()


def _security(session: SessionUse) -> list[dict[str, list[str]]]:
    """The session scheme where the session is required. Where it is optional (POST /sessions)
    the header is an optional parameter instead: generators read `[{}, {scheme}]` as "needs
    credentials" and would demand an authenticated client to create the first session."""
    if session == "required":
        return [{SECURITY_SCHEME: []}]
    return []


_OPTIONAL_SESSION_PARAMETER: Final[dict[str, Any]] = {
    "name": SESSION_HEADER,
    "in": "header",
    "required": False,
    "description": "A session id to resume: if it names a live session, that session is "
    "returned (200), else a new one is created (201).",
    "schema": {"type": "string"},
}


def _reply(reply: Reply, refs: Mapping[ModelKey, dict[str, Any]]) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": reply.description,
        "headers": {
            name: {"$ref": f"#/components/headers/{name}"}
            for name in (REQUEST_ID_HEADER, *reply.headers)
        },
    }
    example: Any = None
    if isinstance(reply.body, RawBody):
        media_type, schema = reply.body.media_type, dict(reply.body.schema)
        example = reply.body.example
    elif reply.body is not None:
        media_type, schema = JSON, refs[(reply.body, "serialization")]
        example = RESPONSE_EXAMPLES.get(reply.body)
    if reply.body is not None:
        content: dict[str, Any] = {"schema": schema}
        if example is not None:
            content["examples"] = {"example": {"summary": reply.description, "value": example}}
        response["content"] = {media_type: content}
    if reply.alternative is not None:
        alternative = reply.alternative
        response.setdefault("content", {})[alternative.media_type] = {
            "schema": dict(alternative.schema)
        }
    return response


def _error_name(status: int) -> str:
    return ERROR_RESPONSES[status][0]


def error_codes(status: int) -> list[str]:
    """The error codes a status carries (docs/API.md's error table)."""
    codes = sorted(code for code, code_status in STATUS_BY_CODE.items() if code_status == status)
    if not codes:
        raise ValueError(f"no error code has status {status}")
    return codes


def _error_responses(error_ref: Mapping[str, Any]) -> dict[str, Any]:
    """`components.responses`: one error response per status, each a plain reference to the one
    error schema (generators make one class of it, not one per status and operation); the
    description ends with the status's codes, and the examples show each of them."""
    responses: dict[str, Any] = {}
    for status, (name, description) in sorted(ERROR_RESPONSES.items()):
        codes = error_codes(status)
        headers = [REQUEST_ID_HEADER]
        if status in (429, 503):
            headers.append("Retry-After")
        if status == 405:
            headers.append("Allow")
        responses[name] = {
            "description": f"{description}\n\nCodes: {', '.join(f'`{c}`' for c in codes)}.",
            "headers": {h: {"$ref": f"#/components/headers/{h}"} for h in headers},
            "content": {
                JSON: {
                    "schema": dict(error_ref),
                    "examples": {
                        code: {"summary": f"{status} {code}", "value": _error_example(code)}
                        for code in codes
                    },
                }
            },
        }
    return responses


def _error_example(code: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": code,
        "message": ERROR_EXAMPLE_MESSAGES.get(code, code.replace("_", " ")),
        "request_id": "7f3c2a9e5b1d4c6e8a0f2b4d6e8c0a1b",
    }
    if code == "validation_error":
        body["details"] = [
            {"field": "message", "message": "Field required", "type": "missing"},
        ]
    return {"error": body}


ERROR_EXAMPLE_MESSAGES: Mapping[str, str] = {
    "invalid_json": "the request body is not valid JSON",
    "validation_error": "the request is not valid",
    "session_required": "send the session id in the X-Session-Id header",
    "session_not_found": "no such session: create one with POST /sessions",
    "session_expired": "the session expired: create a new one with POST /sessions",
    "no_videos": "the session has no videos yet: add one with POST /videos",
    "rate_limited": "too many questions: retry in 42 seconds",
}
"""Example messages of the error examples (others: the code in words)."""


def _path_parameters(path: str, operation: Operation) -> list[dict[str, Any]]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    if sorted(names) != sorted(operation.path_parameters):
        raise ValueError(f"{operation.operation_id}: path parameters do not match {path}")
    parameters = []
    for name in names:
        schema = TypeAdapter(operation.path_parameters[name]).json_schema()
        parameter = {"name": name, "in": "path", "required": True, "schema": schema}
        if "description" in schema:
            parameter["description"] = schema["description"]
        parameters.append(parameter)
    return parameters


def _query_parameters(model: type[BaseModel] | None) -> list[dict[str, Any]]:
    """One optional-or-required query parameter per field of `model` (scalars only)."""
    if model is None:
        return []
    schema = model.model_json_schema(mode="validation")
    if "$defs" in schema:
        raise ValueError(f"{model.__name__}: query parameters must be scalars")
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema["properties"].items():
        field_schema = _without_null(prop)
        field_schema.pop("title", None)
        if field_schema.get("default", 0) is None:
            del field_schema["default"]
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
        description = field_schema.pop("description", None)
        if description:
            parameter["description"] = description
        parameter["schema"] = field_schema
        parameters.append(parameter)
    return parameters


def _without_null(schema: Mapping[str, Any]) -> dict[str, Any]:
    """An optional field's schema without its `null` branch (a query parameter is absent, never
    null)."""
    result = dict(schema)
    branches = result.get("anyOf")
    if isinstance(branches, list):
        others = [b for b in branches if b != {"type": "null"}]
        if len(others) == 1 and len(others) < len(branches):
            del result["anyOf"]
            result = {**others[0], **result}
    return result
