"""Sessions: get-or-create, read, end."""

from __future__ import annotations

import azure.functions as func

from services.video_rag.api.http import (
    SESSION_HEADER,
    http_endpoint,
    json_response,
    no_content,
    parse_json,
    request_client,
    session_token,
)
from services.video_rag.api.schemas import CreateSessionRequest, SessionResponse
from services.video_rag.bootstrap import get_dependencies
from services.video_rag.service import sessions as service

bp = func.Blueprint()


def create_session(req: func.HttpRequest) -> func.HttpResponse:
    body = parse_json(req, CreateSessionRequest, empty_ok=True)
    deps = get_dependencies()
    token = session_token(req) or body.session_id
    info, created = service.get_or_create_session(deps, token, request_client(req))
    response = SessionResponse(**vars(info))
    return json_response(response, 201 if created else 200, {SESSION_HEADER: info.session_id})


def get_current_session(req: func.HttpRequest) -> func.HttpResponse:
    info = service.describe_session(get_dependencies(), session_token(req))
    return json_response(SessionResponse(**vars(info)))


def end_current_session(req: func.HttpRequest) -> func.HttpResponse:
    service.end_session(get_dependencies(), session_token(req))
    return no_content()


sessions = bp.route(route="sessions", auth_level=func.AuthLevel.ANONYMOUS)(
    http_endpoint("sessions", POST=create_session)
)
sessions_current = bp.route(route="sessions/current", auth_level=func.AuthLevel.ANONYMOUS)(
    http_endpoint("sessions_current", GET=get_current_session, DELETE=end_current_session)
)
