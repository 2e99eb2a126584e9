"""Legacy routes: the original project's function URLs and request/response shapes, on top of the
same services as the modern routes (see "Legacy routes" in docs/API.md).

The session id travels in the request, not in the X-Session-Id header (which these routes ignore):
as `session_id` in the JSON body, or else as `?session_id=` in the query string. When both are
given, the body's wins (when it is a string; a null or absent one falls back to the query string).
GET routes read a JSON body too, because the original front-ends sent one with GET.

Errors keep the JSON error contract of the modern routes; only their messages point to the legacy
routes and fields (`video_ids`, `query`) instead of the modern ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import azure.functions as func

from services.video_rag.api.http import (
    Handler,
    Response,
    error_response,
    json_response,
    request_client,
)
from services.video_rag.api.http import parse_json as parse_body
from services.video_rag.api.legacy_schemas import (
    ChatMessageHistoryResponse,
    GetInferenceRequest,
    GetOrCreateSessionRequest,
    InferenceResponse,
    LegacyChatMessage,
    LegacySessionResponse,
    LegacyVideo,
    LegacyVideosResponse,
    SaveVideoTranscriptRequest,
    SaveVideoTranscriptResponse,
    SessionLookup,
)
from services.video_rag.api.openapi import EXAMPLE_SESSION_ID, EXAMPLE_VIDEO_ID
from services.video_rag.api.routes import Example, Operation, Reply, Route, register
from services.video_rag.api.schemas import MAX_MESSAGES_PER_PAGE
from services.video_rag.bootstrap import get_dependencies
from services.video_rag.domain.errors import AppError, InvalidRequest
from services.video_rag.service import chat as chat_service
from services.video_rag.service import sessions as session_service
from services.video_rag.service import videos as video_service

bp = func.Blueprint()


HUMAN: Final = 1
"""`chat_message_type_id` of a user's message."""
AI: Final = 2
"""`chat_message_type_id` of an assistant's message."""

_GET_ONE = "get one with POST /api/getorcreatesession"
_LEGACY_MESSAGES: Mapping[str, str] = {
    "session_required": "send your session id as `session_id` in the JSON body or the query "
    f"string ({_GET_ONE})",
    "session_not_found": f"no such session; {_GET_ONE}",
    "session_expired": f"this session has expired; {_GET_ONE}",
    "no_videos": "add a video to this session first (POST /api/savevideotranscript)",
}


def get_or_create_session(req: func.HttpRequest) -> func.HttpResponse:
    """The live session named in the request (200), or a new one (201)."""
    _, token = _parse(req, GetOrCreateSessionRequest)
    deps = get_dependencies()
    info, created = session_service.get_or_create_session(deps, token, request_client(req))
    response = LegacySessionResponse(session_id=info.session_id, create_date=info.created_at)
    return json_response(response, 201 if created else 200)


def save_video_transcript(req: func.HttpRequest) -> func.HttpResponse:
    """Add videos (ids or URLs) in the session's default languages; 200 even when some fail."""
    body, token = _parse(req, SaveVideoTranscriptRequest)
    deps = get_dependencies()
    session_id = session_service.session_key(deps, token)
    client = request_client(req)
    results = video_service.add_requested_videos(deps, session_id, body.video_ids, [], None, client)
    present = [r.video_id for r in results if r.status != "failed" and r.video_id is not None]
    return json_response(
        SaveVideoTranscriptResponse(
            successful_video_ids=list(dict.fromkeys(present)),
            failed_video_ids=[r.input for r in results if r.status == "failed"],
        )
    )


def get_inference(req: func.HttpRequest) -> func.HttpResponse:
    """Answer a question from all the session's videos; `create_date` is ignored."""
    body, token = _parse(req, GetInferenceRequest)
    answer = chat_service.ask(get_dependencies(), token, body.query, None, request_client(req))
    return json_response(InferenceResponse(response=answer.answer))


def get_chat_message_history(req: func.HttpRequest) -> func.HttpResponse:
    """The session's chat history (its newest MAX_MESSAGES_PER_PAGE messages), oldest first,
    numbered from 1."""
    _, token = _parse(req, SessionLookup)
    rows = chat_service.list_messages(get_dependencies(), token, MAX_MESSAGES_PER_PAGE)
    messages = [
        LegacyChatMessage(
            chat_message_id=position,
            chat_message_type_id=HUMAN if row.role == "user" else AI,
            content=row.content,
        )
        for position, row in enumerate(rows, start=1)
    ]
    return json_response(ChatMessageHistoryResponse(session_id=str(token), chat_messages=messages))


def get_videos(req: func.HttpRequest) -> func.HttpResponse:
    """The session's videos in the order they were added, numbered from 1."""
    _, token = _parse(req, SessionLookup)
    views = video_service.list_videos(get_dependencies(), token)
    videos = [
        LegacyVideo(
            video_id=position,
            external_video_id=view.video_id,
            session_id=str(token),
            create_date=view.added_at,
        )
        for position, view in enumerate(views, start=1)
    ]
    return json_response(LegacyVideosResponse(videos=videos))


def _parse[LookupT: SessionLookup](
    req: func.HttpRequest, model: type[LookupT]
) -> tuple[LookupT, str | None]:
    """The JSON body as `model` (an empty body counts as `{}`) and the session id: the body's
    when it is a string, else the query string's."""
    body = parse_body(req, model, empty_ok=True)
    # The query string's session id is held to the same rules as the body's (a 400 when invalid),
    # even when the body's wins.
    query = SessionLookup.model_validate({"session_id": req.params.get("session_id")})
    token = body.session_id if body.session_id is not None else query.session_id
    return body, token


def _legacy(handler: Handler, **field_names: str) -> Handler:
    """Wrap a handler so that its errors speak in legacy terms: session and no-videos messages
    name the legacy routes, and validation details of the services name the legacy fields
    (`field_names` maps a service's field name to the legacy one)."""

    def legacy_handler(req: func.HttpRequest) -> func.HttpResponse | Response:
        try:
            return handler(req)
        except InvalidRequest as exc:
            details = [_renamed(detail, field_names) for detail in exc.details or []]
            return error_response(exc.code, _summary(details) or exc.message, details, exc.headers)
        except AppError as exc:
            if exc.code not in _LEGACY_MESSAGES:
                raise
            return error_response(exc.code, _LEGACY_MESSAGES[exc.code], exc.details, exc.headers)

    return legacy_handler


def _renamed(detail: Any, field_names: Mapping[str, str]) -> Any:
    if not isinstance(detail, dict) or "field" not in detail:
        return detail
    return {**detail, "field": field_names.get(detail["field"], detail["field"])}


def _summary(details: list[Any]) -> str:
    """`field: problem; ...` of the details that name both (the services' own messages name the
    modern fields)."""
    return "; ".join(
        f"{d['field']}: {d['message']}"
        for d in details
        if isinstance(d, dict) and "field" in d and "message" in d
    )


_NOTE = (
    "Legacy route of the original project: the session id travels as `session_id` in the JSON "
    "body, or else in the query string (`X-Session-Id` is ignored)."
)
_GET_NOTE = (
    "Legacy route of the original project: the session id travels in the query string "
    '(`?session_id=`; `X-Session-Id` is ignored). A JSON body `{"session_id": ...}` is accepted '
    "too, as the original front-ends sent one, but is not declared here: most HTTP clients and "
    "generators cannot send a body with GET."
)


def _lookup(
    function: str, handler: Handler, operation_id: str, summary: str, reply: Reply
) -> Route:
    """A legacy GET route that reads the session named in the query string (or the body)."""
    operation = Operation(
        "GET",
        handler,
        operation_id,
        summary,
        replies=(reply,),
        errors=(400, 401, 503),
        session="legacy",
        query=SessionLookup,
        description=_GET_NOTE,
    )
    return Route(function, "/" + function, "legacy", operation)


ROUTES = (
    Route(
        "getorcreatesession",
        "/getorcreatesession",
        "legacy",
        Operation(
            "POST",
            _legacy(get_or_create_session),
            "legacyGetOrCreateSession",
            "Legacy: get or create a session",
            replies=(
                Reply(200, "The live session named in the request.", LegacySessionResponse),
                Reply(201, "A new session.", LegacySessionResponse),
            ),
            errors=(400, 429, 503),
            session="legacy",
            request=GetOrCreateSessionRequest,
            request_required=False,
            query=SessionLookup,
            examples={
                "new": Example("Create a new session", {"session_id": None}),
                "resume": Example("Resume a live session", {"session_id": EXAMPLE_SESSION_ID}),
            },
            description=_NOTE,
        ),
    ),
    Route(
        "savevideotranscript",
        "/savevideotranscript",
        "legacy",
        Operation(
            "POST",
            _legacy(save_video_transcript, urls="video_ids"),
            "legacySaveVideoTranscript",
            "Legacy: add videos by id or URL",
            replies=(
                Reply(
                    200,
                    "Which inputs became videos of the session and which failed.",
                    SaveVideoTranscriptResponse,
                ),
            ),
            errors=(400, 401, 503),
            session="legacy",
            request=SaveVideoTranscriptRequest,
            query=SessionLookup,
            examples={
                "add": Example(
                    "Add a video",
                    {"session_id": EXAMPLE_SESSION_ID, "video_ids": [EXAMPLE_VIDEO_ID]},
                ),
            },
            description=_NOTE,
        ),
    ),
    Route(
        "getinference",
        "/getinference",
        "legacy",
        Operation(
            "POST",
            _legacy(get_inference, message="query"),
            "legacyGetInference",
            "Legacy: ask a question about the session's videos",
            replies=(
                Reply(200, "The answer text with its `[n]` citation markers.", InferenceResponse),
            ),
            errors=(400, 401, 409, 429, 502, 503, 504),
            session="legacy",
            request=GetInferenceRequest,
            query=SessionLookup,
            examples={
                "question": Example(
                    "Ask a question",
                    {"session_id": EXAMPLE_SESSION_ID, "query": "How long does the battery last?"},
                ),
            },
            description=_NOTE + " `create_date` is accepted and ignored.",
        ),
    ),
    _lookup(
        "getchatmessagehistory",
        _legacy(get_chat_message_history),
        "legacyGetChatMessageHistory",
        "Legacy: the session's chat history",
        Reply(
            200,
            "The messages, oldest first; type 1 is the user, 2 the assistant.",
            ChatMessageHistoryResponse,
        ),
    ),
    _lookup(
        "getvideos",
        _legacy(get_videos),
        "legacyGetVideos",
        "Legacy: the session's videos",
        Reply(200, "The videos in the order they were added.", LegacyVideosResponse),
    ),
)
register(bp, ROUTES)
