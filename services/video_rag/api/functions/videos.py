"""Videos: add (from YouTube or uploaded transcripts), list, remove."""

from __future__ import annotations

import azure.functions as func

from services.video_rag.api.http import (
    json_response,
    no_content,
    parse_json,
    request_client,
    session_first,
)
from services.video_rag.api.http import session_token as token_of
from services.video_rag.api.openapi import (
    EXAMPLE_UPLOADED_VIDEO_ID,
    EXAMPLE_VIDEO_ID,
    EXAMPLE_VTT,
)
from services.video_rag.api.routes import NO_CONTENT, Example, Operation, Reply, Route, register
from services.video_rag.api.schemas import (
    AddVideoResultOut,
    AddVideosRequest,
    AddVideosResponse,
    VideoId,
    VideoOut,
    VideosResponse,
)
from services.video_rag.bootstrap import get_dependencies
from services.video_rag.service import videos as service
from services.video_rag.service.sessions import session_key

bp = func.Blueprint()


def add_videos(req: func.HttpRequest) -> func.HttpResponse:
    deps = get_dependencies()
    body = session_first(req, lambda: parse_json(req, AddVideosRequest))
    session_id = session_key(deps, token_of(req))
    uploads = [service.UploadInput(**upload.model_dump()) for upload in body.transcripts]
    client = request_client(req)
    results = service.add_requested_videos(
        deps, session_id, body.urls, uploads, body.languages, client
    )
    return json_response(AddVideosResponse(videos=[_result_out(r) for r in results]))


def _result_out(result: service.AddResult) -> AddVideoResultOut:
    """An item of the response: the outcome, with the video's description when it was added."""
    described = vars(result.video) if result.video is not None else {}
    return AddVideoResultOut.model_validate({**described, **vars(result)}, from_attributes=True)


def list_videos(req: func.HttpRequest) -> func.HttpResponse:
    videos = service.list_videos(get_dependencies(), token_of(req))
    return json_response(
        VideosResponse(videos=[VideoOut.model_validate(v, from_attributes=True) for v in videos])
    )


def remove_video(req: func.HttpRequest) -> func.HttpResponse:
    service.remove_video(get_dependencies(), token_of(req), req.route_params.get("video_id", ""))
    return no_content()


ROUTES = (
    Route(
        "videos",
        "/videos",
        "videos",
        Operation(
            "POST",
            add_videos,
            "addVideos",
            "Add videos: fetch (or take uploaded) transcripts, chunk, embed, store",
            replies=(
                Reply(
                    200,
                    "One result per input item, in input order (also when items fail).",
                    AddVideosResponse,
                ),
            ),
            errors=(400, 401, 503),
            request=AddVideosRequest,
            examples={
                "byUrl": Example(
                    "Add a YouTube video by URL",
                    {
                        "urls": [f"https://www.youtube.com/watch?v={EXAMPLE_VIDEO_ID}"],
                        "languages": ["en"],
                    },
                ),
                "upload": Example(
                    "Upload a WebVTT transcript",
                    {
                        "transcripts": [
                            {
                                "video_id": EXAMPLE_UPLOADED_VIDEO_ID,
                                "title": "Surface Go review (uploaded transcript)",
                                "language": "en",
                                "format": "vtt",
                                "content": EXAMPLE_VTT,
                            }
                        ]
                    },
                ),
            },
            description="Any mix of `urls` (every common YouTube URL form, or a bare video id) "
            "and uploaded `transcripts` (`vtt`, `srt`, `segments` or plain `text`). Every field "
            "is optional, but at least one of `urls` and `transcripts` non-empty: 1 to "
            "MAX_VIDEOS_PER_REQUEST (default 10) items in all, else 400 `validation_error`. "
            "`languages` (optional) is the transcript language preference for `urls`. Item "
            "failures are reported per item with status `failed` and an error code.",
        ),
        Operation(
            "GET",
            list_videos,
            "listVideos",
            "The session's videos",
            replies=(Reply(200, "The session's videos.", VideosResponse),),
            errors=(401, 503),
        ),
    ),
    Route(
        "video",
        "/videos/{video_id}",
        "videos",
        Operation(
            "DELETE",
            remove_video,
            "removeVideo",
            "Remove one video from the session",
            replies=(NO_CONTENT,),
            errors=(401, 404, 503),
            path_parameters={"video_id": VideoId},
        ),
    ),
)
register(bp, ROUTES)
