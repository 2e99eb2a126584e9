"""Videos: add (from YouTube or uploaded transcripts), list, remove."""

from __future__ import annotations

import azure.functions as func

from services.video_rag.api.http import (
    http_endpoint,
    json_response,
    no_content,
    parse_json,
    request_client,
)
from services.video_rag.api.http import session_token as token_of
from services.video_rag.api.schemas import (
    AddVideoResultOut,
    AddVideosRequest,
    AddVideosResponse,
    VideoOut,
    VideosResponse,
)
from services.video_rag.bootstrap import get_dependencies
from services.video_rag.service import videos as service
from services.video_rag.service.sessions import session_key

bp = func.Blueprint()


def add_videos(req: func.HttpRequest) -> func.HttpResponse:
    deps = get_dependencies()
    session_id = session_key(deps, token_of(req))  # 401 before any work
    body = parse_json(req, AddVideosRequest)
    uploads = [service.UploadInput(**upload.model_dump()) for upload in body.transcripts]
    client = request_client(req)
    results = service.add_requested_videos(
        deps, session_id, body.urls, uploads, body.languages, client
    )
    return json_response(
        AddVideosResponse(
            videos=[AddVideoResultOut.model_validate(r, from_attributes=True) for r in results]
        )
    )


def list_videos(req: func.HttpRequest) -> func.HttpResponse:
    videos = service.list_videos(get_dependencies(), token_of(req))
    return json_response(
        VideosResponse(videos=[VideoOut.model_validate(v, from_attributes=True) for v in videos])
    )


def remove_video(req: func.HttpRequest) -> func.HttpResponse:
    service.remove_video(get_dependencies(), token_of(req), req.route_params.get("video_id", ""))
    return no_content()


videos = bp.route(route="videos", auth_level=func.AuthLevel.ANONYMOUS)(
    http_endpoint("videos", GET=list_videos, POST=add_videos)
)
video = bp.route(route="videos/{video_id}", auth_level=func.AuthLevel.ANONYMOUS)(
    http_endpoint("video", DELETE=remove_video)
)
