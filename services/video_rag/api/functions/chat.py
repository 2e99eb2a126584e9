"""Chat: ask a question (one JSON answer, or Server-Sent Events as it is written), read the
history, clear it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import azure.functions as func

from services.video_rag.api.http import (
    Response,
    accepts_event_stream,
    event_stream,
    http_endpoint,
    json_response,
    no_content,
    parse_json,
    request_client,
    session_token,
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
from services.video_rag.service.sessions import require_token

bp = func.Blueprint()


def ask(req: func.HttpRequest) -> func.HttpResponse | Response:
    deps = get_dependencies()
    token = session_token(req)
    require_token(token)  # 401 for a missing or malformed id before the body is read
    body = parse_json(req, ChatRequest)
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
    query = MessagesQuery.model_validate(dict(req.params))
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


chat = bp.route(route="chat", auth_level=func.AuthLevel.ANONYMOUS)(http_endpoint("chat", POST=ask))
chat_messages = bp.route(route="chat/messages", auth_level=func.AuthLevel.ANONYMOUS)(
    http_endpoint("chat_messages", GET=list_messages, DELETE=clear_messages)
)
