"""Sessions: get-or-create, read, end."""

from __future__ import annotations

import azure.functions as func

from services.video_rag.api.http import (
    SESSION_HEADER,
    json_response,
    no_content,
    parse_json,
    request_client,
    session_token,
)
from services.video_rag.api.openapi import EXAMPLE_SESSION_ID
from services.video_rag.api.routes import NO_CONTENT, Example, Operation, Reply, Route, register
from services.video_rag.api.schemas import CreateSessionRequest, SessionResponse
from services.video_rag.bootstrap import get_dependencies
from services.video_rag.service import sessions as service

bp = func.Blueprint()


def create_session(req: func.HttpRequest) -> func.HttpResponse:
    body = parse_json(req, CreateSessionRequest, empty_ok=True)
    token = session_token(req) or body.session_id
    info, created = service.get_or_create_session(get_dependencies(), token, request_client(req))
    response = SessionResponse.model_validate(info, from_attributes=True)
    return json_response(response, 201 if created else 200, {SESSION_HEADER: info.session_id})


def get_current_session(req: func.HttpRequest) -> func.HttpResponse:
    info = service.describe_session(get_dependencies(), session_token(req))
    return json_response(SessionResponse.model_validate(info, from_attributes=True))


def end_current_session(req: func.HttpRequest) -> func.HttpResponse:
    service.end_session(get_dependencies(), session_token(req))
    return no_content()


ROUTES = (
    Route(
        "sessions",
        "/sessions",
        "sessions",
        Operation(
            "POST",
            create_session,
            "createSession",
            "Get or create a session",
            replies=(
                Reply(
                    200,
                    "The live session named by X-Session-Id or the body.",
                    SessionResponse,
                    (SESSION_HEADER,),
                ),
                Reply(201, "A new session.", SessionResponse, (SESSION_HEADER,)),
            ),
            errors=(400, 429, 503),
            session="optional",
            request=CreateSessionRequest,
            request_required=False,
            examples={
                "new": Example("Create a new session", {}),
                "resume": Example("Resume a live session", {"session_id": EXAMPLE_SESSION_ID}),
            },
            description="If `X-Session-Id` (or the body's `session_id`) names a live session, "
            "return it (200); otherwise create a new one (201). An empty body is allowed.",
        ),
    ),
    Route(
        "sessions_current",
        "/sessions/current",
        "sessions",
        Operation(
            "GET",
            get_current_session,
            "getCurrentSession",
            "The caller's session",
            replies=(Reply(200, "The session.", SessionResponse),),
            errors=(401, 503),
        ),
        Operation(
            "DELETE",
            end_current_session,
            "endCurrentSession",
            "End the session and delete everything that belongs to it",
            replies=(NO_CONTENT,),
            errors=(401, 503),
        ),
    ),
)
register(bp, ROUTES)
