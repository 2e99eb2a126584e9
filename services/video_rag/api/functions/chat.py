"""Chat: ask a question (one JSON answer, or Server-Sent Events as it is written), read the
history, clear it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import azure.functions as func

from services.video_rag.api.http import (
    EVENT_STREAM_MIMETYPE,
    Response,
    accepts_event_stream,
    event_stream,
    json_response,
    no_content,
    parse_json,
    request_client,
    session_first,
    session_token,
)
from services.video_rag.api.openapi import EXAMPLE_UPLOADED_VIDEO_ID
from services.video_rag.api.routes import (
    NO_CONTENT,
    Example,
    Operation,
    RawBody,
    Reply,
    Route,
    register,
)
from services.video_rag.api.schemas import (
    ChatRequest,
    ChatResponse,
    MessageOut,
    MessagesQuery,
    MessagesResponse,
    SourceOut,
)
from services.video_rag.bootstrap import get_dependencies
from services.video_rag.service import chat as service

bp = func.Blueprint()


def ask(req: func.HttpRequest) -> func.HttpResponse | Response:
    deps = get_dependencies()
    token = session_token(req)
    body = session_first(req, lambda: parse_json(req, ChatRequest))
    client = request_client(req)
    if accepts_event_stream(req):
        # Every check (401, 400, 404, 409, 429, 503) happens here, before the stream starts.
        prepared = service.prepare_question(deps, token, body.message, body.video_ids, client)
        return event_stream(_answer_events(service.stream_answer(deps, prepared)))
    answer = service.ask(deps, token, body.message, body.video_ids, client)
    return json_response(_chat_response(answer))


async def _answer_events(
    answer: AsyncIterator[str | service.ChatAnswer],
) -> AsyncIterator[tuple[str, Any]]:
    """`delta` events as the answer is written, then `done` with the stored answer."""
    async for item in answer:
        if isinstance(item, str):
            yield "delta", {"text": item}
        else:
            yield "done", _chat_response(item).model_dump(mode="json")


def _chat_response(answer: service.ChatAnswer) -> ChatResponse:
    return ChatResponse(
        message_id=str(answer.message_id),
        answer=answer.answer,
        sources=[SourceOut(**vars(source)) for source in answer.sources],
        model=answer.model,
    )


def list_messages(req: func.HttpRequest) -> func.HttpResponse:
    query = session_first(req, lambda: MessagesQuery.model_validate(dict(req.params)))
    rows = service.list_messages(get_dependencies(), session_token(req), query.limit)
    messages = [
        MessageOut(
            id=str(row.id),
            role="user" if row.role == "user" else "assistant",
            content=row.content,
            sources=[SourceOut(**source) for source in row.sources],
            created_at=row.created_at,
        )
        for row in rows
    ]
    return json_response(MessagesResponse(messages=messages))


def clear_messages(req: func.HttpRequest) -> func.HttpResponse:
    service.clear_messages(get_dependencies(), session_token(req))
    return no_content()


ANSWER_EVENTS = RawBody(
    EVENT_STREAM_MIMETYPE,
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
"""The streamed form of POST /chat's answer, as the document describes it."""

ROUTES = (
    Route(
        "chat",
        "/chat",
        "chat",
        Operation(
            "POST",
            ask,
            "ask",
            "Ask a question about the session's videos",
            replies=(
                Reply(
                    200,
                    "An answer grounded in the transcripts; `[n]` markers cite `sources[].id`. "
                    "With `Accept: text/event-stream`, the same answer streamed as Server-Sent "
                    "Events.",
                    ChatResponse,
                    alternative=ANSWER_EVENTS,
                ),
            ),
            errors=(400, 401, 404, 409, 429, 502, 503, 504),
            request=ChatRequest,
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
            "`video_not_found` if one is not in the session). A session without videos gets "
            "409.\n\nSend `Accept: text/event-stream` to receive the answer as it is written: "
            '`delta` events (`{"text"}`), then one `done` event carrying this operation\'s JSON '
            "response (its `answer` is the joined deltas less citation markers naming no "
            "source), or an `error` event (nothing stored). Failures before the answer starts "
            "are the JSON errors below.",
        ),
    ),
    Route(
        "chat_messages",
        "/chat/messages",
        "chat",
        Operation(
            "GET",
            list_messages,
            "listMessages",
            "The session's chat history, oldest first",
            replies=(Reply(200, "The messages, oldest first.", MessagesResponse),),
            errors=(400, 401, 503),
            query=MessagesQuery,
        ),
        Operation(
            "DELETE",
            clear_messages,
            "clearMessages",
            "Clear the chat history (the videos stay)",
            replies=(NO_CONTENT,),
            errors=(401, 503),
        ),
    ),
)
register(bp, ROUTES)
