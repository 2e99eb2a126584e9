"""Errors the services raise. Each carries a stable code from the API's error contract; the HTTP
layer maps codes to status codes, so nothing below it knows about HTTP."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class AppError(Exception):
    """An expected failure with a documented error code and a message safe to show a client."""

    code = "internal_error"
    default_message = "internal error"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Sequence[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = list(details) if details is not None else None
        self.headers = dict(headers or {})
        super().__init__(self.message)


class InvalidRequest(AppError):
    """A request that parsed but breaks a rule the schema cannot express (e.g. a limit)."""

    code = "validation_error"
    default_message = "the request is invalid"


class SessionRequired(AppError):
    code = "session_required"
    default_message = (
        "send your session id in the X-Session-Id header (POST /api/sessions gets one)"
    )


class SessionNotFound(AppError):
    code = "session_not_found"
    default_message = "no such session; create one with POST /api/sessions"


class SessionExpired(AppError):
    code = "session_expired"
    default_message = "this session has expired; create a new one with POST /api/sessions"


class DatabaseUnavailable(AppError):
    code = "database_unavailable"
    default_message = "the database is unavailable; try again shortly"


class DatabaseNotConfigured(DatabaseUnavailable):
    """No usable connection string in the settings (the message names the setting)."""


class VideoNotFound(AppError):
    code = "video_not_found"
    default_message = "this session has no such video"


class NoVideos(AppError):
    code = "no_videos"
    default_message = "add a video to this session first (POST /api/videos)"


class RateLimited(AppError):
    code = "rate_limited"
    default_message = "too many questions; wait a moment"

    def __init__(self, retry_after_seconds: int, what: str = "questions in this session") -> None:
        super().__init__(
            f"too many {what}; retry in {retry_after_seconds} s",
            headers={"Retry-After": str(retry_after_seconds)},
        )


class LlmBudgetExhausted(AppError):
    """The deployment spent its daily model tokens (LLM_DAILY_TOKEN_BUDGET)."""

    code = "llm_budget_exhausted"
    default_message = "the service has answered all the questions it can today; retry tomorrow"

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(
            "the service has used up today's budget for answers; "
            f"retry in {retry_after_seconds} s (after midnight UTC)",
            headers={"Retry-After": str(retry_after_seconds)},
        )


class LlmError(AppError):
    code = "llm_error"
    default_message = "the language model failed to answer; retry"


class UpstreamError(AppError):
    code = "upstream_error"
    default_message = "a service this answer depends on failed; retry"


class UpstreamTimeout(AppError):
    code = "upstream_timeout"
    default_message = "the language model took too long to answer; retry"
