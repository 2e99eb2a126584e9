"""Limits that span sessions: requests per client address per minute (a new session does not
reset them) and the model tokens the deployment may spend per UTC day."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from services.video_rag.domain.clients import client_hash
from services.video_rag.domain.errors import LlmBudgetExhausted, RateLimited

if TYPE_CHECKING:
    from services.video_rag.bootstrap import Dependencies
    from services.video_rag.db.unit_of_work import UnitOfWork
    from services.video_rag.providers.chat import Answerer

WINDOW_SECONDS = 60
STORAGE_WINDOW_SECONDS = 3600
ClientRequest = Literal["chat", "session", "passages"]
_WHAT: dict[ClientRequest, str] = {
    "chat": "questions from your address",
    "session": "new sessions from your address",
    "passages": "passages stored from your address this hour",
}


def retry_after(window_started: datetime, now: datetime, window_seconds: int) -> int:
    """Whole seconds until a fixed window that started at `window_started` ends (at least 1)."""
    remaining = (window_started - now).total_seconds() + window_seconds
    return max(1, math.ceil(remaining))


def take_client_slot(
    uow: UnitOfWork,
    kind: ClientRequest,
    client: str | None,
    now: datetime,
    limit: int,
    amount: int = 1,
) -> None:
    """Count `amount` of `kind` for `client` (an address from `domain.clients`) in its current
    window (an hour for passages, else a minute), inside the caller's unit of work (it counts
    once that commits). Raises RateLimited past `limit`; `0` means no limit."""
    if limit == 0:
        return
    window = STORAGE_WINDOW_SECONDS if kind == "passages" else WINDOW_SECONDS
    started, count = uow.limits.take_client_slot(kind, client_hash(client), now, window, amount)
    if count > limit:
        raise RateLimited(retry_after(started, now, window), _WHAT[kind])


def check_llm_budget(uow: UnitOfWork, now: datetime, budget: int) -> None:
    """Raise LlmBudgetExhausted when the deployment has spent `budget` model tokens today (UTC);
    `0` means no budget."""
    if budget == 0:
        return
    utc = now.astimezone(UTC)
    if uow.limits.tokens_spent(utc.date()) >= budget:
        midnight = datetime.combine(utc.date() + timedelta(days=1), datetime.min.time(), UTC)
        raise LlmBudgetExhausted(max(1, math.ceil((midnight - utc).total_seconds())))


def add_llm_usage(uow: UnitOfWork, now: datetime, tokens: int) -> None:
    """Add `tokens` to the tally of `now`'s UTC day inside the caller's unit of work (they count
    once it commits): the chat stores them with the answer, in the same transaction. Nothing is
    written for no tokens."""
    if tokens:
        uow.limits.add_tokens(now.astimezone(UTC).date(), tokens)


def save_llm_usage(deps: Dependencies, tokens: int) -> None:
    """Add `tokens` to today's tally in a short transaction of their own (when there is no
    exchange to store them with: a question whose answer failed)."""
    if tokens:
        with deps.uow() as uow:
            add_llm_usage(uow, deps.clock(), tokens)
            uow.commit()


def record_llm_usage(deps: Dependencies, answerer: Answerer) -> None:
    """Add the tokens `answerer` reported since the last call to today's tally. Tokens of a call
    that failed or was abandoned stay with the answerer and are added by the next question."""
    save_llm_usage(deps, answerer.take_tokens_used())
