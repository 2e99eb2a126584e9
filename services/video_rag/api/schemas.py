"""Request and response bodies of the HTTP API (pydantic models)."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, PlainSerializer

from services.video_rag.domain.youtube_urls import ANY_VIDEO_ID
from services.video_rag.settings import Settings


def _iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


UtcDateTime = Annotated[datetime, PlainSerializer(_iso_utc, return_type=str)]


class RequestBody(BaseModel):
    """Request bodies reject unknown fields, so that a typo is an error rather than ignored."""

    model_config = ConfigDict(extra="forbid")


class CreateSessionRequest(RequestBody):
    session_id: Annotated[str, Field(max_length=256)] | None = None


class SessionResponse(BaseModel):
    session_id: str
    created_at: UtcDateTime
    expires_at: UtcDateTime
    videos: int
    messages: int


class HealthCheck(BaseModel):
    ok: bool
    message: str


class MigrationCheck(BaseModel):
    ok: bool
    current: str | None
    head: str | None


class SettingProblemOut(BaseModel):
    setting: str
    message: str


class SettingsCheck(BaseModel):
    ok: bool
    problems: list[SettingProblemOut]


class HealthChecks(BaseModel):
    database: HealthCheck
    migrations: MigrationCheck
    settings: SettingsCheck


class HealthResponse(BaseModel):
    status: str
    checks: HealthChecks
    provider: dict[str, str | int]


VideoId = Annotated[
    str,
    Field(
        pattern=f"^{ANY_VIDEO_ID}$",
        description="a video id: YouTube's (11 characters), or an upload's own (1 to 64 of "
        "letters, digits, `_` and `-`)",
    ),
]
LinkUrl = Annotated[
    str,
    Field(
        pattern=r"^https?://[^\s]+$",
        max_length=2048,
        description="http(s) link where the video can be watched; citations add `#t=<seconds>`",
    ),
]
LanguageCode = Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=35)]


def _printable(value: str | None) -> str | None:
    """Drop control characters (NUL cannot even be stored); None when nothing is left."""
    if value is None:
        return None
    cleaned = "".join(ch for ch in value if ch in "\t" or (ch >= " " and ch != "\x7f")).strip()
    return cleaned or None


class TranscriptUploadIn(RequestBody):
    video_id: VideoId | None = Field(
        default=None, description="the video's id; the server assigns one when omitted"
    )
    url: LinkUrl | None = None
    title: Annotated[str | None, Field(max_length=500), AfterValidator(_printable)] = None
    language: LanguageCode | None = None
    format: Literal["vtt", "srt", "segments", "text"]
    content: str | list[dict[str, Any]] = Field(
        description="WebVTT or SRT text, plain text (`text`: no timings), or for `segments` a "
        "list of {text, start, duration}"
    )


def _default(setting: str) -> int:
    """The declared default of an integer setting (services.video_rag.settings): the bound the
    documents publish; a deployment's own value is the one its service enforces."""
    value = next(field.default for field in fields(Settings) if field.name == setting)
    if not isinstance(value, int):
        raise TypeError(f"{setting} is not an integer setting")
    return value


MAX_ITEMS: Final = _default("max_videos_per_request")
ITEMS_PER_REQUEST: dict[str, JsonValue] = {"minItems": 1, "maxItems": MAX_ITEMS}
"""MAX_VIDEOS_PER_REQUEST (default 10) items in all, enforced by the service."""


class AddVideosRequest(RequestBody):
    """`urls`, `transcripts` and `languages` are each optional, but at least one of `urls` and
    `transcripts` must be non-empty: 1 to MAX_VIDEOS_PER_REQUEST (default 10) items in the two
    lists together."""

    # "Not both lists absent or empty", as one object schema (no anyOf of alternative objects,
    # which client generators turn into one class per branch).
    model_config = ConfigDict(
        json_schema_extra={
            "not": {"properties": {"urls": {"maxItems": 0}, "transcripts": {"maxItems": 0}}}
        }
    )

    urls: list[Annotated[str, Field(max_length=2048)]] = Field(
        default_factory=list, json_schema_extra={"maxItems": MAX_ITEMS}
    )
    languages: Annotated[list[LanguageCode], Field(min_length=1, max_length=10)] | None = None
    transcripts: list[TranscriptUploadIn] = Field(
        default_factory=list, json_schema_extra={"maxItems": MAX_ITEMS}
    )


class ItemErrorOut(BaseModel):
    code: str
    message: str


class AddVideoResultOut(BaseModel):
    input: str
    video_id: str | None
    status: Literal["added", "already_added", "failed"]
    title: str | None = None
    channel: str | None = None
    language: str | None = None
    is_generated: bool | None = None
    duration_seconds: float | None = None
    chunks: int | None = None
    error: ItemErrorOut | None = None


class AddVideosResponse(BaseModel):
    videos: list[AddVideoResultOut]


class VideoOut(BaseModel):
    video_id: str
    url: str | None = Field(
        description="YouTube's watch page, an upload's own `url`, or null when it links nowhere"
    )
    title: str | None
    channel: str | None
    language: str
    is_generated: bool
    duration_seconds: float
    chunks: int
    added_at: UtcDateTime


class VideosResponse(BaseModel):
    videos: list[VideoOut]


MESSAGE_TEXT: dict[str, JsonValue] = {
    "minLength": 1,
    "maxLength": _default("max_message_chars"),
    "pattern": r"[^\s\x00-\x1f\x7f\x85]|\ufeff",
}
"""At least one character that is neither white space nor a control character, at most
MAX_MESSAGE_CHARS (default 2000), as the chat service checks; the model keeps its 100000 cap."""


class ChatRequest(RequestBody):
    message: Annotated[str, Field(max_length=100_000, json_schema_extra=MESSAGE_TEXT)]
    video_ids: Annotated[list[VideoId], Field(min_length=1, max_length=100)] | None = None


class SourceOut(BaseModel):
    id: int
    video_id: str
    title: str | None
    start_seconds: float
    end_seconds: float
    at_seconds: float | None = Field(
        default=None,
        description="the moment of the sentence that supports the claim (null: no timings)",
    )
    url: str | None = Field(description="opens the video at `at_seconds`; null: links nowhere")
    text: str


class ChatResponse(BaseModel):
    message_id: str
    answer: str
    sources: list[SourceOut]
    model: str


class MessageOut(BaseModel):
    id: str
    role: Literal["user", "assistant"]
    content: str
    sources: list[SourceOut]
    created_at: UtcDateTime


class MessagesResponse(BaseModel):
    messages: list[MessageOut]


MAX_MESSAGES_PER_PAGE = 1000


class MessagesQuery(BaseModel):
    # The newest `limit` messages; at most MAX_MESSAGES_PER_PAGE, also without `limit`, so that a
    # long-lived busy session (up to 14,400 exchanges a day at the chat rate limit) is never read
    # whole into memory and one response.
    limit: Annotated[int, Field(ge=1, le=MAX_MESSAGES_PER_PAGE)] = MAX_MESSAGES_PER_PAGE
