"""Session tokens: unguessable bearer secrets, of which only a hash is ever stored."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

TOKEN_BYTES = 32  # 256 random bits
_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")


def new_session_token() -> str:
    """A fresh session id: 32 bytes from `secrets`, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def is_well_formed_token(token: str) -> bool:
    """Whether `token` could be a session id at all; anything else is rejected without a query."""
    return _TOKEN_PATTERN.fullmatch(token) is not None


def hash_token(token: str) -> bytes:
    """The SHA-256 of a token: what the database stores and looks sessions up by."""
    return hashlib.sha256(token.encode("ascii")).digest()


@dataclass(frozen=True)
class SessionLifetime:
    """How long a session lives: `idle` after its last authenticated request, and never longer
    than `longest` after it was created."""

    idle: timedelta
    longest: timedelta

    @classmethod
    def of(cls, idle_minutes: int, max_hours: int) -> SessionLifetime:
        return cls(timedelta(minutes=idle_minutes), timedelta(hours=max_hours))

    def expiry(self, created_at: datetime, now: datetime) -> datetime:
        """When a session created at `created_at` and used at `now` expires."""
        return min(now + self.idle, created_at + self.longest)


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (the default clock)."""
    return datetime.now(UTC)
