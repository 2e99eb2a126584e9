"""Session use cases: get-or-create, authenticate, describe, end.

A session lives while it is used: every authenticated request renews it to
`SESSION_EXPIRE_MINUTES` from now, capped at `SESSION_MAX_HOURS` after its creation.

Every use case has the call shape `(deps, token, ...)`, and every one that needs the caller's
session gets it, with its unit of work, from `authenticated(deps, token)`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from services.video_rag.domain.errors import SessionExpired, SessionNotFound, SessionRequired
from services.video_rag.domain.sessions import (
    SessionLifetime,
    hash_token,
    is_well_formed_token,
    new_session_token,
)
from services.video_rag.service.limits import take_client_slot

if TYPE_CHECKING:
    from services.video_rag.bootstrap import Dependencies
    from services.video_rag.db.models import ChatSession
    from services.video_rag.db.unit_of_work import UnitOfWork
    from services.video_rag.settings import Settings


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


def lifetime(settings: Settings) -> SessionLifetime:
    """The session lifetime the settings ask for."""
    return SessionLifetime.of(settings.session_expire_minutes, settings.session_max_hours)


def authenticate(
    uow: UnitOfWork, token_hash: bytes, now: datetime, renew_for: SessionLifetime | None = None
) -> ChatSession:
    """The live session whose id hashes to `token_hash` (from `require_token`), inside an open
    unit of work. With `renew_for`, the session is renewed and the renewal committed at once, so
    that every authenticated request renews it whatever it does next (the unit of work goes on in
    a new transaction). Raises SessionNotFound or SessionExpired."""
    if renew_for is not None:
        renewed = uow.sessions.renew(token_hash, now, renew_for.idle, renew_for.longest)
        if renewed is not None:
            uow.commit()
            return renewed
    session = uow.sessions.get_by_token_hash(token_hash)
    if session is None:
        raise SessionNotFound()
    if session.expires_at <= now:
        raise SessionExpired()
    return session


@contextmanager
def authenticated(
    deps: Dependencies, token: str | None, *, renew: bool = True
) -> Iterator[tuple[UnitOfWork, ChatSession]]:
    """`with authenticated(deps, token) as (uow, session):` an open unit of work and the caller's
    live session in it, renewed (and the renewal committed) unless `renew` is False.

    The token is checked before the database is touched: SessionRequired or SessionNotFound for
    a missing or malformed one, then SessionNotFound or SessionExpired from the lookup."""
    token_hash = require_token(token)
    with deps.uow() as uow:
        span = lifetime(deps.settings) if renew else None
        yield uow, authenticate(uow, token_hash, deps.clock(), span)


def session_key(deps: Dependencies, token: str | None) -> uuid.UUID:
    """Authenticate (and renew) `token` in its own short unit of work; the session's key."""
    with authenticated(deps, token) as (_, session):
        return session.id


def get_or_create_session(
    deps: Dependencies, token: str | None, client: str | None = None
) -> tuple[SessionInfo, bool]:
    """Return the live session named by `token` (renewed), or create a new one. The flag says it
    is new.

    A missing, unknown, malformed or expired token gets a brand-new session with a new token:
    a client can never choose its own session id. Creating one counts against the `client`
    address's CLIENT_SESSION_RATE_LIMIT_PER_MINUTE (RateLimited past it).
    """

    now = deps.clock()
    span = lifetime(deps.settings)
    with deps.uow() as uow:
        if token and is_well_formed_token(token):
            existing = uow.sessions.renew(hash_token(token), now, span.idle, span.longest)
            if existing is not None:
                info = _describe(uow, existing, token)
                uow.commit()
                return info, False
        limit = deps.settings.client_session_rate_limit_per_minute
        take_client_slot(uow, "session", client, now, limit)
        new_token = new_session_token()
        session = uow.sessions.create(
            token_hash=hash_token(new_token), created_at=now, expires_at=span.expiry(now, now)
        )
        uow.commit()
        return SessionInfo(new_token, session.created_at, session.expires_at, 0, 0), True


def describe_session(deps: Dependencies, token: str | None) -> SessionInfo:
    """The caller's session (renewed) with its counts of videos and messages."""
    with authenticated(deps, token) as (uow, session):
        return _describe(uow, session, str(token))


def end_session(deps: Dependencies, token: str | None) -> None:
    """Delete the caller's session now, and with it everything it owns."""
    with authenticated(deps, token, renew=False) as (uow, session):
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
