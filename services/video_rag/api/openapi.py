"""The OpenAPI 3.1 document of the HTTP API (docs/API.md), generated from the pydantic models.

`OPERATIONS` is the declarative table of every operation: method, path, operationId, request
model, response models per status, the error statuses it can answer, whether it needs the
`X-Session-Id` header, its query parameters and its request examples. `build_openapi()` turns the
table into the document; `tools/generate_requests.py` turns it into request collections.

Importing this module is cheap (no schema is generated and nothing touches a database): the
document is built on first use and cached for the life of the process.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from pydantic import BaseModel, Field, TypeAdapter
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from services.video_rag.api import legacy_schemas as legacy
from services.video_rag.api import schemas
from services.video_rag.api.http import REQUEST_ID_HEADER, SESSION_HEADER, STATUS_BY_CODE

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
HTML: Final = "text/html"
EVENT_STREAM: Final = "text/event-stream"
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
_REQUEST_ID_PATTERN: Final = r"^[A-Za-z0-9._:-]{1,128}$"

HttpMethod = Literal["GET", "POST", "DELETE"]
SessionUse = Literal["required", "optional", "none", "legacy"]
"""How an operation identifies the caller's session: the `X-Session-Id` header is `required`,
`optional` (POST /sessions: get-or-create), not used (`none`), or the session id travels in the
body or query string (`legacy`)."""


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


# --- The operation table -----------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """A named request body example."""

    summary: str
    value: Any


@dataclass(frozen=True)
class RawBody:
    """A response body that is not one of the pydantic models (e.g. HTML, this document, or a
    reference to one of COMPOSED_SCHEMAS)."""

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


@dataclass(frozen=True)
class Operation:
    """One method on one path."""

    method: HttpMethod
    path: str
    operation_id: str
    function: str
    """Name of the Azure function that serves the path."""
    tag: str
    summary: str
    replies: tuple[Reply, ...]
    errors: tuple[int, ...] = ()
    """Error statuses besides 413 and 500, which every operation can answer."""
    session: SessionUse = "required"
    request: type[BaseModel] | None = None
    request_required: bool = True
    query: type[BaseModel] | None = None
    """A model whose fields are the operation's query parameters."""
    path_parameters: Mapping[str, Any] = field(default_factory=dict)
    """Path parameter name -> its type (an annotated type is turned into its schema)."""
    examples: Mapping[str, Example] = field(default_factory=dict)
    description: str = ""


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
        "The session has no such video (`video_not_found`); `not_found` is the answer to a "
        "path that no route matches.",
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
        {"type": "string", "pattern": _REQUEST_ID_PATTERN},
    ),
    SESSION_HEADER: ("The session id (the same as `session_id` in the body).", {"type": "string"}),
    "Retry-After": ("Seconds to wait before retrying.", {"type": "integer", "minimum": 1}),
    "Allow": ("The methods the path serves, comma-separated.", {"type": "string"}),
}
"""Response header -> (description, schema), in `components.headers`."""

_TRANSCRIPT_UPLOAD: Final = {
    "video_id": EXAMPLE_UPLOADED_VIDEO_ID,
    "title": "Surface Go review (uploaded transcript)",
    "language": "en",
    "format": "vtt",
    "content": EXAMPLE_VTT,
}

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
_EXAMPLE_HEALTH: Final[dict[str, Any]] = {
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
    schemas.HealthResponse: _EXAMPLE_HEALTH,
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

_HEALTH_UNAVAILABLE = RawBody(
    JSON,
    {"$ref": "#/components/schemas/HealthUnavailableResponse"},
    example={
        **_EXAMPLE_HEALTH,
        "status": "unavailable",
        "checks": {
            **_EXAMPLE_HEALTH["checks"],
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

_SESSION_CREATED = Reply(201, "A new session.", schemas.SessionResponse, (SESSION_HEADER,))
_NO_CONTENT_DESCRIPTION = "Done; no body."
_OPENAPI_DOCUMENT = RawBody(
    JSON,
    # No `type`: generators then hand back the parsed JSON instead of a class of its own.
    {"description": "an OpenAPI 3.1 document (a JSON object with `openapi`, `info`, `paths`)"},
)
_HTML_PAGE = RawBody(HTML, {"type": "string", "description": "an HTML page"})
_ANSWER_EVENTS = RawBody(
    EVENT_STREAM,
    {
        "type": "string",
        "description": "Server-Sent Events, sent with `Accept: text/event-stream`: `delta` "
        '`{"text"}` as the answer is written, then `done` (a ChatResponse) or `error` (an '
        "ErrorResponse); each `data:` line is one JSON document.",
        "examples": [
            'event: delta\ndata: {"text":"About nine hours"}\n\n'
            'event: delta\ndata: {"text":" in his test [1]."}\n\n'
            'event: done\ndata: {"message_id":"3f0c…","answer":"About nine hours in his test '
            '[1].","sources":[…],"model":"gpt-4o-mini"}\n\n'
        ],
    },
)
_LEGACY_NOTE = (
    "Legacy route of the original project: the session id travels as `session_id` in the JSON "
    "body, or else in the query string (`X-Session-Id` is ignored)."
)
_LEGACY_GET_NOTE = (
    "Legacy route of the original project: the session id travels in the query string "
    '(`?session_id=`; `X-Session-Id` is ignored). A JSON body `{"session_id": ...}` is accepted '
    "too, as the original front-ends sent one, but is not declared here: most HTTP clients and "
    "generators cannot send a body with GET."
)


class UiQuery(BaseModel):
    """Query parameters of GET /ui."""

    api: str | None = Field(
        default=None,
        description="absolute base URL of the API the page should call (default: this app)",
    )


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "POST",
        "/sessions",
        "createSession",
        function="sessions",
        tag="sessions",
        summary="Get or create a session",
        replies=(
            Reply(
                200,
                "The live session named by X-Session-Id or the body.",
                schemas.SessionResponse,
                (SESSION_HEADER,),
            ),
            _SESSION_CREATED,
        ),
        errors=(400, 429, 503),
        session="optional",
        request=schemas.CreateSessionRequest,
        request_required=False,
        examples={
            "new": Example("Create a new session", {}),
            "resume": Example("Resume a live session", {"session_id": EXAMPLE_SESSION_ID}),
        },
        description="If `X-Session-Id` (or the body's `session_id`) names a live session, return "
        "it (200); otherwise create a new one (201). An empty body is allowed.",
    ),
    Operation(
        "GET",
        "/sessions/current",
        "getCurrentSession",
        function="sessions_current",
        tag="sessions",
        summary="The caller's session",
        replies=(Reply(200, "The session.", schemas.SessionResponse),),
        errors=(401, 503),
    ),
    Operation(
        "DELETE",
        "/sessions/current",
        "endCurrentSession",
        function="sessions_current",
        tag="sessions",
        summary="End the session and delete everything that belongs to it",
        replies=(Reply(204, _NO_CONTENT_DESCRIPTION),),
        errors=(401, 503),
    ),
    Operation(
        "POST",
        "/videos",
        "addVideos",
        function="videos",
        tag="videos",
        summary="Add videos: fetch (or take uploaded) transcripts, chunk, embed, store",
        replies=(
            Reply(
                200,
                "One result per input item, in input order (also when items fail).",
                schemas.AddVideosResponse,
            ),
        ),
        errors=(400, 401, 503),
        request=schemas.AddVideosRequest,
        examples={
            "byUrl": Example(
                "Add a YouTube video by URL",
                {
                    "urls": [f"https://www.youtube.com/watch?v={EXAMPLE_VIDEO_ID}"],
                    "languages": ["en"],
                },
            ),
            "upload": Example("Upload a WebVTT transcript", {"transcripts": [_TRANSCRIPT_UPLOAD]}),
        },
        description="Any mix of `urls` (every common YouTube URL form, or a bare video id) and "
        "uploaded `transcripts` (`vtt`, `srt`, `segments` or plain `text`). Every field is "
        "optional, but at least one of `urls` and `transcripts` non-empty: 1 to "
        "MAX_VIDEOS_PER_REQUEST (default 10) items in all, else 400 `validation_error`. "
        "`languages` (optional) is the transcript language preference for `urls`. Item failures "
        "are reported per item with status `failed` and an error code.",
    ),
    Operation(
        "GET",
        "/videos",
        "listVideos",
        function="videos",
        tag="videos",
        summary="The session's videos",
        replies=(Reply(200, "The session's videos.", schemas.VideosResponse),),
        errors=(401, 503),
    ),
    Operation(
        "DELETE",
        "/videos/{video_id}",
        "removeVideo",
        function="video",
        tag="videos",
        summary="Remove one video from the session",
        replies=(Reply(204, _NO_CONTENT_DESCRIPTION),),
        errors=(401, 404, 503),
        path_parameters={"video_id": schemas.VideoId},
    ),
    Operation(
        "POST",
        "/chat",
        "ask",
        function="chat",
        tag="chat",
        summary="Ask a question about the session's videos",
        replies=(
            Reply(
                200,
                "An answer grounded in the transcripts; `[n]` markers cite `sources[].id`. With "
                "`Accept: text/event-stream`, the same answer streamed as Server-Sent Events.",
                schemas.ChatResponse,
                alternative=_ANSWER_EVENTS,
            ),
        ),
        errors=(400, 401, 404, 409, 429, 502, 503, 504),
        request=schemas.ChatRequest,
        examples={
            "question": Example(
                "Ask about all videos", {"message": "How long does the battery last?"}
            ),
            "followUp": Example(
                "A follow-up, limited to one video",
                {
                    "message": "And is the keyboard included?",
                    "video_ids": [EXAMPLE_UPLOADED_VIDEO_ID],
                },
            ),
        },
        description="`video_ids` limits the answer to some of the session's videos (404 "
        "`video_not_found` if one is not in the session). A session without videos gets 409.\n\n"
        "Send `Accept: text/event-stream` to receive the answer as it is written: `delta` events "
        '(`{"text"}`), then one `done` event carrying this operation\'s JSON response (its '
        "`answer` is the joined deltas less citation markers naming no source), or an `error` "
        "event (nothing stored). Failures before the answer starts are the JSON errors below.",
    ),
    Operation(
        "GET",
        "/chat/messages",
        "listMessages",
        function="chat_messages",
        tag="chat",
        summary="The session's chat history, oldest first",
        replies=(Reply(200, "The messages, oldest first.", schemas.MessagesResponse),),
        errors=(400, 401, 503),
        query=schemas.MessagesQuery,
    ),
    Operation(
        "DELETE",
        "/chat/messages",
        "clearMessages",
        function="chat_messages",
        tag="chat",
        summary="Clear the chat history (the videos stay)",
        replies=(Reply(204, _NO_CONTENT_DESCRIPTION),),
        errors=(401, 503),
    ),
    Operation(
        "GET",
        "/health",
        "getHealth",
        function="health",
        tag="meta",
        summary="Liveness and readiness",
        replies=(
            Reply(
                200,
                "Ready: database reachable, schema at head, settings valid.",
                schemas.HealthResponse,
            ),
            Reply(503, "Not ready: the report says which check failed.", _HEALTH_UNAVAILABLE),
        ),
        session="none",
    ),
    Operation(
        "GET",
        "/openapi.json",
        "getOpenApi",
        function="openapi",
        tag="meta",
        summary="This OpenAPI document",
        replies=(Reply(200, "The OpenAPI 3.1 document of every route.", _OPENAPI_DOCUMENT),),
        session="none",
    ),
    Operation(
        "GET",
        "/ui",
        "getChatPage",
        function="ui",
        tag="meta",
        summary="The browser chat page",
        replies=(Reply(200, "The chat page, a client of this API.", _HTML_PAGE),),
        session="none",
        query=UiQuery,
    ),
    Operation(
        "POST",
        "/getorcreatesession",
        "legacyGetOrCreateSession",
        function="getorcreatesession",
        tag="legacy",
        summary="Legacy: get or create a session",
        replies=(
            Reply(200, "The live session named in the request.", legacy.LegacySessionResponse),
            Reply(201, "A new session.", legacy.LegacySessionResponse),
        ),
        errors=(400, 429, 503),
        session="legacy",
        request=legacy.GetOrCreateSessionRequest,
        request_required=False,
        query=legacy.SessionLookup,
        examples={
            "new": Example("Create a new session", {"session_id": None}),
            "resume": Example("Resume a live session", {"session_id": EXAMPLE_SESSION_ID}),
        },
        description=_LEGACY_NOTE,
    ),
    Operation(
        "POST",
        "/savevideotranscript",
        "legacySaveVideoTranscript",
        function="savevideotranscript",
        tag="legacy",
        summary="Legacy: add videos by id or URL",
        replies=(
            Reply(
                200,
                "Which inputs became videos of the session and which failed.",
                legacy.SaveVideoTranscriptResponse,
            ),
        ),
        errors=(400, 401, 503),
        session="legacy",
        request=legacy.SaveVideoTranscriptRequest,
        query=legacy.SessionLookup,
        examples={
            "add": Example(
                "Add a video",
                {"session_id": EXAMPLE_SESSION_ID, "video_ids": [EXAMPLE_VIDEO_ID]},
            ),
        },
        description=_LEGACY_NOTE,
    ),
    Operation(
        "POST",
        "/getinference",
        "legacyGetInference",
        function="getinference",
        tag="legacy",
        summary="Legacy: ask a question about the session's videos",
        replies=(
            Reply(
                200, "The answer text with its `[n]` citation markers.", legacy.InferenceResponse
            ),
        ),
        errors=(400, 401, 409, 429, 502, 503, 504),
        session="legacy",
        request=legacy.GetInferenceRequest,
        query=legacy.SessionLookup,
        examples={
            "question": Example(
                "Ask a question",
                {"session_id": EXAMPLE_SESSION_ID, "query": "How long does the battery last?"},
            ),
        },
        description=_LEGACY_NOTE + " `create_date` is accepted and ignored.",
    ),
    Operation(
        "GET",
        "/getchatmessagehistory",
        "legacyGetChatMessageHistory",
        function="getchatmessagehistory",
        tag="legacy",
        summary="Legacy: the session's chat history",
        replies=(
            Reply(
                200,
                "The messages, oldest first; type 1 is the user, 2 the assistant.",
                legacy.ChatMessageHistoryResponse,
            ),
        ),
        errors=(400, 401, 503),
        session="legacy",
        request=legacy.SessionLookup,
        request_required=False,
        query=legacy.SessionLookup,
        description=_LEGACY_GET_NOTE,
    ),
    Operation(
        "GET",
        "/getvideos",
        "legacyGetVideos",
        function="getvideos",
        tag="legacy",
        summary="Legacy: the session's videos",
        replies=(
            Reply(200, "The videos in the order they were added.", legacy.LegacyVideosResponse),
        ),
        errors=(400, 401, 503),
        session="legacy",
        request=legacy.SessionLookup,
        request_required=False,
        query=legacy.SessionLookup,
        description=_LEGACY_GET_NOTE,
    ),
)
"""Every operation of the HTTP API, in the order of docs/API.md."""

OPERATIONS_BY_ID: Mapping[str, Operation] = {op.operation_id: op for op in OPERATIONS}

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
not serve gets 405 `method_not_allowed` with an `Allow` header, and a path no route matches \
gets 404 `not_found` (`components.responses.MethodNotAllowed` and `NotFound`): these are answers \
to requests outside the operations below, so no operation lists them for itself.

**Request ids.** Every response carries `{REQUEST_ID_HEADER}`: the caller's, when it sends a sane \
one, else a new one.
"""


# --- Building the document ---------------------------------------------------------------------


@functools.cache
def build_openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route, built once per process.

    The returned dict is shared: treat it as read-only (copy it before changing it).
    """
    component_schemas, refs = _component_schemas(OPERATIONS)
    parameters: dict[str, dict[str, Any]] = {"RequestId": _REQUEST_ID_PARAMETER}
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(
            operation, refs, parameters
        )
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
    operations: Sequence[Operation],
) -> tuple[dict[str, Any], dict[ModelKey, dict[str, Any]]]:
    """All models' JSON Schemas hoisted into one `components.schemas`, and each model's `$ref`.
    Requests use the validation mode, responses the serialization mode (what goes on the wire).

    In the schemas a request reaches, a `"default": null` is dropped: an optional field is one
    that is not `required`, and a default makes some generators (openapi-typescript) declare the
    field as always present, which a request field that may be left out is not."""
    keys: dict[ModelKey, None] = {(ErrorResponse, "serialization"): None}
    for operation in operations:
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
    operation: Operation,
    refs: Mapping[ModelKey, dict[str, Any]],
    shared: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """The operation object. Its path and query parameters go into `shared` (to become
    `components.parameters`) and are referenced from here."""
    result: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "tags": [operation.tag],
    }
    if operation.description:
        result["description"] = operation.description
    references = []
    header = [_OPTIONAL_SESSION_PARAMETER] if operation.session == "optional" else []
    for parameter in (*_path_parameters(operation), *_query_parameters(operation.query), *header):
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


def _path_parameters(operation: Operation) -> list[dict[str, Any]]:
    names = [part[1:-1] for part in operation.path.split("/") if part.startswith("{")]
    if sorted(names) != sorted(operation.path_parameters):
        raise ValueError(f"{operation.operation_id}: path parameters do not match {operation.path}")
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
