"""Request and response bodies of the HTTP API (pydantic models)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer


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
