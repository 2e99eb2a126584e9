"""Session use cases: get-or-create, authenticate, describe, end."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from services.video_rag.domain.errors import SessionExpired, SessionNotFound, SessionRequired
from services.video_rag.domain.sessions import (
    expiry_for,
    hash_token,
    is_well_formed_token,
    new_session_token,
)

if TYPE_CHECKING:
    from services.video_rag.db.models import ChatSession
    from services.video_rag.db.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class SessionInfo:
    """What a client sees of its session."""

    session_id: str
    created_at: datetime
    expires_at: datetime
    videos: int
    messages: int


def require_token(token: str | None) -> bytes:
    """The lookup hash of a session id, checked before any work is done.

    Raises SessionRequired (no token) or SessionNotFound (a malformed one, which cannot exist).
    """
    if not token:
        raise SessionRequired()
    if not is_well_formed_token(token):
        raise SessionNotFound()
    return hash_token(token)


def authenticate(uow: UnitOfWork, token_hash: bytes, now: datetime) -> ChatSession:
    """The live session whose id hashes to `token_hash` (from `require_token`), inside an open
    unit of work. Raises SessionNotFound or SessionExpired."""
    session = uow.sessions.get_by_token_hash(token_hash)
    if session is None:
        raise SessionNotFound()
    if session.expires_at <= now:
        raise SessionExpired()
    return session


def session_key(uow: UnitOfWork, token: str | None, now: datetime) -> uuid.UUID:
    """Authenticate `token` in its own short unit of work; the session's internal key."""
    token_hash = require_token(token)
    with uow:
        return authenticate(uow, token_hash, now).id


def get_or_create_session(
    uow: UnitOfWork, token: str | None, now: datetime, lifetime_minutes: int
) -> tuple[SessionInfo, bool]:
    """Return the live session named by `token`, or create a new one. The flag says it is new.

    A missing, unknown, malformed or expired token gets a brand-new session with a new token:
    a client can never choose its own session id.
    """
    with uow:
        if token and is_well_formed_token(token):
            existing = uow.sessions.get_by_token_hash(hash_token(token))
            if existing is not None and existing.expires_at > now:
                return _describe(uow, existing, token), False
        new_token = new_session_token()
        session = uow.sessions.create(
            token_hash=hash_token(new_token),
            created_at=now,
            expires_at=expiry_for(now, lifetime_minutes),
        )
        uow.commit()
        return SessionInfo(new_token, session.created_at, session.expires_at, 0, 0), True


def describe_session(uow: UnitOfWork, token: str | None, now: datetime) -> SessionInfo:
    """The caller's session with its counts of videos and messages."""
    token_hash = require_token(token)
    with uow:
        session = authenticate(uow, token_hash, now)
        return _describe(uow, session, str(token))


def end_session(uow: UnitOfWork, token: str | None, now: datetime) -> None:
    """Delete the caller's session now, and with it everything it owns."""
    token_hash = require_token(token)
    with uow:
        session = authenticate(uow, token_hash, now)
        uow.sessions.delete(session.id)
        uow.commit()


def _describe(uow: UnitOfWork, session: ChatSession, token: str) -> SessionInfo:
    return SessionInfo(
        session_id=token,
        created_at=session.created_at,
        expires_at=session.expires_at,
        videos=uow.sessions.count_videos(session.id),
        messages=uow.sessions.count_messages(session.id),
    )
