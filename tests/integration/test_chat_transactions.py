"""What one question costs the database, and the per-step timings the chat benchmark prints:
three short transactions per answered question (prepare with the session's renewal, retrieval,
store with the tokens spent), a refused question still renewing its session without counting,
and the tokens of an answer that could not be stored still recorded."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from services.video_rag.bootstrap import Dependencies
from services.video_rag.db.models import ChatMessage, ChatSession, LlmUsage
from services.video_rag.domain.errors import SessionNotFound
from services.video_rag.providers.chat import LangChainAnswerer
from services.video_rag.service import chat
from services.video_rag.service.sessions import end_session
from tests.conftest import FakeClock
from tests.helpers import BATTERY_TRANSCRIPT, QUESTION, body_of, invoke

pytestmark = [pytest.mark.db]

TRANSCRIPT = BATTERY_TRANSCRIPT
STAGES = set(chat.PASSAGE_STAGES)


def reply(text: str, tokens: int) -> AIMessage:
    usage = {"input_tokens": tokens - 5, "output_tokens": 5, "total_tokens": tokens}
    return AIMessage(text, usage_metadata=usage)


@pytest.fixture
def app(deps: Dependencies) -> Dependencies:
    """A model that reports 15 tokens per answer; the relevance threshold off."""
    model = GenericFakeChatModel(messages=iter([reply("Nine hours [1].", 15)] * 10))
    deps.answerer = LangChainAnswerer(model, "fake-model")
    deps.settings = replace(deps.settings, not_found_threshold=0, model_not_found_threshold=0)
    return deps


def session_with_video() -> str:
    created = invoke("POST", "sessions")
    session = str(body_of(created)["session_id"])
    added = invoke(
        "POST", "videos", headers={"X-Session-Id": session}, json_body={"transcripts": [TRANSCRIPT]}
    )
    assert body_of(added)["videos"][0]["status"] == "added"
    return session


def ask(session: str, message: str = QUESTION) -> Any:
    return invoke("POST", "chat", headers={"X-Session-Id": session}, json_body={"message": message})


@pytest.fixture
def checkouts(app: Dependencies) -> Iterator[list[str]]:
    """One entry per connection taken from the pool (one per transaction here)."""
    taken: list[str] = []

    def note(*_: Any) -> None:
        taken.append("checkout")

    event.listen(app.engine, "checkout", note)
    yield taken
    event.remove(app.engine, "checkout", note)


def tokens_spent(db: Session) -> int:
    db.rollback()  # a new snapshot
    return sum(db.scalars(select(LlmUsage.tokens)))


def test_an_answered_question_takes_three_transactions_with_its_tokens_in_the_last(
    app: Dependencies, checkouts: list[str], db: Session
) -> None:
    session = session_with_video()
    checkouts.clear()
    response = ask(session)
    assert response.status_code == 200, response.get_body()
    # Prepare (renewal, checks, history), retrieval, store (the exchange and the tokens).
    assert len(checkouts) == 3
    assert tokens_spent(db) == 15
    assert len(db.scalars(select(ChatMessage)).all()) == 2


def test_a_refused_question_renews_the_session_but_does_not_count(
    app: Dependencies, clock: FakeClock, db: Session
) -> None:
    app.settings = replace(app.settings, chat_rate_limit_per_minute=1)
    session = session_with_video()
    assert ask(session).status_code == 200
    clock.advance(seconds=30)
    refused = ask(session)
    assert refused.status_code == 429, refused.get_body()
    db.rollback()
    row = db.scalars(select(ChatSession)).one()
    assert row.expires_at == clock() + timedelta(minutes=15)  # renewed by the refused request
    assert row.chat_window_count == 1  # the refused question did not count

    empty = str(body_of(invoke("POST", "sessions"))["session_id"])
    clock.advance(minutes=5)
    assert body_of(ask(empty))["error"]["code"] == "no_videos"
    db.rollback()
    rows = {r.id: r.expires_at for r in db.scalars(select(ChatSession))}
    assert sorted(rows.values())[-1] == clock() + timedelta(minutes=15)


def test_tokens_of_an_answer_that_could_not_be_stored_are_still_recorded(
    app: Dependencies, db: Session
) -> None:
    session = session_with_video()
    prepared = chat.prepare_question(app, session, QUESTION, None)
    raw = prepared.answerer.answer(prepared.question, prepared.passages, prepared.history)
    end_session(app, session)  # the visitor ended the session while the model was writing
    with pytest.raises(SessionNotFound):
        chat.store_answer(app, prepared, raw)
    assert tokens_spent(db) == 15
    assert db.scalars(select(ChatMessage)).all() == []


def test_each_stored_question_reports_its_steps(app: Dependencies) -> None:
    reported: list[dict[str, float]] = []
    app.chat_stage_observer = reported.append
    session = session_with_video()
    assert ask(session).status_code == 200
    streamed = invoke(
        "POST",
        "chat",
        headers={"X-Session-Id": session, "Accept": "text/event-stream"},
        json_body={"message": QUESTION},
    )
    assert b"event: done" in streamed.get_body()
    assert len(reported) == 2
    for stages in reported:
        assert set(stages) == STAGES
        assert all(ms >= 0 for ms in stages.values())
    assert ask(session, "").status_code == 400  # refused: nothing stored, nothing reported
    assert len(reported) == 2
