"""Request and response bodies of the legacy routes: the original project's function URLs and
shapes, kept for the front-ends written against it (see "Legacy routes" in docs/API.md).

Unlike the modern request bodies, these allow unknown fields: old front-ends send extras, and a
route that used to accept them must keep doing so. Wrong types are still a 400 validation_error.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.video_rag.api.schemas import ITEMS_PER_REQUEST, MESSAGE_TEXT, UtcDateTime

SessionId = Annotated[str, Field(max_length=256)]


class LegacyRequest(BaseModel):
    """A legacy request body: unknown fields are allowed (and ignored)."""

    model_config = ConfigDict(extra="allow")


class SessionLookup(LegacyRequest):
    """Any legacy request: the session id, from the JSON body or else the query string."""

    session_id: SessionId | None = None


class GetOrCreateSessionRequest(SessionLookup):
    """POST getorcreatesession: a live session id to find, or none (null) for a new session."""


class SaveVideoTranscriptRequest(SessionLookup):
    """POST savevideotranscript: YouTube video ids or URLs, in any mix."""

    video_ids: list[Annotated[str, Field(max_length=2048)]] = Field(
        json_schema_extra=ITEMS_PER_REQUEST
    )


class GetInferenceRequest(SessionLookup):
    """POST getinference: a question about the session's videos.

    `create_date` is accepted in any form and ignored: the original front-ends sent the session's
    creation date so the server could check expiry, which the server now does from its own record.
    """

    query: Annotated[str, Field(max_length=100_000, json_schema_extra=MESSAGE_TEXT)]
    create_date: Any = None


class LegacySessionResponse(BaseModel):
    """A found or created session."""

    session_id: str
    create_date: UtcDateTime


class SaveVideoTranscriptResponse(BaseModel):
    """Which inputs became (or already were) videos of the session, and which did not."""

    successful_video_ids: list[str]
    failed_video_ids: list[str]


class InferenceResponse(BaseModel):
    """The answer text, with its [n] citation markers."""

    response: str


class LegacyChatMessage(BaseModel):
    """One message: `chat_message_id` is its 1-based position in the history (oldest = 1);
    `chat_message_type_id` is 1 for the user ("human") and 2 for the assistant ("AI")."""

    chat_message_id: int
    chat_message_type_id: Literal[1, 2]
    content: str


class ChatMessageHistoryResponse(BaseModel):
    """The session's chat history, oldest first."""

    session_id: str
    chat_messages: list[LegacyChatMessage]


class LegacyVideo(BaseModel):
    """One video of the session: `video_id` is its 1-based position in the order the videos were
    added, `external_video_id` the YouTube id, `create_date` when it was added."""

    video_id: int
    external_video_id: str
    session_id: str
    create_date: UtcDateTime
    is_active: bool = True


class LegacyVideosResponse(BaseModel):
    """The session's videos, in the order they were added."""

    videos: list[LegacyVideo]
