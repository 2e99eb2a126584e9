"""Chat use cases: ask a question (retrieve, generate, cite, store), read and clear the history.

Asking runs in three steps so that no transaction stays open while a model works:
`prepare_question` checks the session, its videos and its rate limit, loads the recent history,
condenses a follow-up into a standalone question and retrieves passages (hybrid, exact, inside the
session); then the answer is generated, all at once (`ask`) or as the model writes
(`stream_answer`); `store_answer` stores the question and the answer together. A failure anywhere
before the store stores nothing, so the client may simply retry.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import zip_longest
from typing import TYPE_CHECKING

from services.video_rag.domain.citations import extract_citations, renumber_citations
from services.video_rag.domain.errors import (
    AppError,
    InvalidRequest,
    LlmError,
    NoVideos,
    RateLimited,
    SessionNotFound,
    UpstreamError,
    UpstreamTimeout,
    VideoNotFound,
)
from services.video_rag.domain.moments import best_excerpt, claims_by_marker
from services.video_rag.domain.prompts import (
    NO_ANSWER,
    HistoryMessage,
    Passage,
    estimate_tokens,
    full_text_query,
    trim_history,
)
from services.video_rag.domain.relevance import question_parts
from services.video_rag.domain.whole_video import (
    title_words_asked,
    videos_named,
    whole_video_kind,
    without_title_words,
)
from services.video_rag.domain.youtube_urls import video_link
from services.video_rag.service.limits import (
    WINDOW_SECONDS,
    add_llm_usage,
    check_llm_budget,
    record_llm_usage,
    retry_after,
    save_llm_usage,
    take_client_slot,
)
from services.video_rag.service.sessions import (
    authenticate,
    authenticated,
    lifetime,
    require_token,
)

if TYPE_CHECKING:
    from services.video_rag.bootstrap import Dependencies
    from services.video_rag.db.models import ChatSession
    from services.video_rag.db.repositories import ChatRepository, MessageRow, TranscriptPassage
    from services.video_rag.db.retrieval import RetrievedChunk
    from services.video_rag.db.unit_of_work import UnitOfWork
    from services.video_rag.domain.sessions import SessionLifetime
    from services.video_rag.providers.chat import Answerer
    from services.video_rag.settings import Settings

logger = logging.getLogger(__name__)

# C0 control characters other than tab and newlines (PostgreSQL text cannot even hold NUL).
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# How many stored messages are read before trimming them to the token budget.
HISTORY_MESSAGES = 20
# Named videos searched one by one (an equal share of RETRIEVAL_K each); more are searched together.
MAX_NAMED_SEARCHES = 3
# Notes on parts of long videos written at the same time (WHOLE_VIDEO_MAX_NOTE_CALLS in all).
NOTE_CALLS_AT_ONCE = 8


@dataclass(frozen=True)
class Source:
    """A cited passage: `id` is the number of its [n] marker in the answer (sources are numbered
    in order of first citation); `at_seconds` is the moment of the sentence that supports the
    claim (None for an untimed transcript), `text` that sentence; `start_seconds`..`end_seconds`
    is the whole passage; `url` opens the video at `at_seconds` (None when it links nowhere)."""

    id: int
    video_id: str
    title: str | None
    start_seconds: float
    end_seconds: float
    at_seconds: float | None
    url: str | None
    text: str


@dataclass(frozen=True)
class ChatAnswer:
    message_id: uuid.UUID
    answer: str
    sources: list[Source]
    model: str


# The steps of a question retrieved passage by passage, in order (a whole-video question has
# `whole_videos` instead of `embed`, `retrieve_tx` and `not_found_check`).
PASSAGE_STAGES = (
    "prepare_tx",
    "condense",
    "embed",
    "retrieve_tx",
    "not_found_check",
    "answer",
    "citations",
    "store_tx",
)


class Stages:
    """Where one question's time went: milliseconds per step (`PASSAGE_STAGES`, or
    `whole_videos`), each `lap` adding the time since the previous one. Reported, when the question
    is stored, to `Dependencies.chat_stage_observer` (the chat benchmark's breakdown) and to the
    DEBUG log."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.ms[stage] = self.ms.get(stage, 0.0) + (now - self._last) * 1000
        self._last = now

    def report(self, deps: Dependencies) -> None:
        observer = deps.chat_stage_observer
        if observer is not None:
            observer(dict(self.ms))
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "chat stages (ms): %s", ", ".join(f"{k} {v:.1f}" for k, v in self.ms.items())
            )


@dataclass(frozen=True)
class PreparedQuestion:
    """A question that passed every check, with what answering it needs: the passages retrieved
    for it (numbered from 1) and the trimmed history. Nothing of it is stored yet."""

    token_hash: bytes
    question: str
    history: list[HistoryMessage]
    passages: list[Passage]
    answerer: Answerer
    whole_videos: bool = False
    """The question is about whole videos: the passages are their transcripts, in time order."""
    stages: Stages = field(default_factory=Stages, compare=False, repr=False)


def ask(
    deps: Dependencies,
    token: str | None,
    question: str,
    video_ids: Sequence[str] | None,
    client: str | None = None,
) -> ChatAnswer:
    """Answer `question` from the caller's videos (or only `video_ids`), with citations."""
    prepared = prepare_question(deps, token, question, video_ids, client)
    answerer = prepared.answerer
    try:
        if prepared.passages:
            raw = _call_model(
                lambda: answerer.answer(
                    prepared.question, prepared.passages, prepared.history, prepared.whole_videos
                )
            )
        else:
            raw = NO_ANSWER
    except BaseException:
        record_llm_usage(deps, answerer)  # what the failed call spent
        raise
    prepared.stages.lap("answer")
    return store_answer(deps, prepared, raw)  # with the tokens spent, in the same transaction


async def stream_answer(
    deps: Dependencies, prepared: PreparedQuestion
) -> AsyncIterator[str | ChatAnswer]:
    """Answer a prepared question as the model writes: the answer's text in pieces, then the
    stored `ChatAnswer` (whose `answer` is the pieces joined, less unknown citation markers).

    A model failure raises LlmError / UpstreamTimeout, and a consumer that stops early (a client
    that went away) cancels the model call: in both cases nothing is stored.
    """
    from services.video_rag.providers.chat import ChatFailed, ChatTimeout

    pieces: list[str] = []
    if prepared.passages:
        stream = prepared.answerer.astream_answer(
            prepared.question, prepared.passages, prepared.history, prepared.whole_videos
        )
        try:
            async for piece in stream:
                pieces.append(piece)
                yield piece
        except ChatTimeout:
            raise UpstreamTimeout() from None
        except ChatFailed as exc:
            raise LlmError(str(exc) or None) from None
    else:
        pieces.append(NO_ANSWER)
        yield NO_ANSWER
    prepared.stages.lap("answer")
    yield await asyncio.to_thread(store_answer, deps, prepared, "".join(pieces))


def prepare_question(
    deps: Dependencies,
    token: str | None,
    question: str,
    video_ids: Sequence[str] | None,
    client: str | None = None,
) -> PreparedQuestion:
    """Check the session, the question, the videos, the deployment's daily token budget and the
    rate limits of the session and of the `client` address (the question counts against them
    from here on, even if answering fails); condense a follow-up into a standalone question and
    retrieve its passages. Raises the documented errors; stores no message.

    The session's renewal and every check share one short transaction; when a check fails, the
    renewal alone is committed in another one (so that any authenticated request renews the
    session, as `sessions.authenticate` does), and the counts taken are not."""
    token_hash = require_token(token)
    settings = deps.settings
    now = deps.clock()
    span = lifetime(settings)
    stages = Stages()
    with deps.uow() as uow:
        session = _renewed(uow, token_hash, now, span)
        try:
            question = _valid_question(question, settings.max_message_chars)
            titles = uow.chat.session_video_titles(session.id)
            if not titles:
                raise NoVideos()
            if video_ids is not None and not set(video_ids) <= set(titles):
                raise VideoNotFound("this session has no video with some of the given video_ids")
            if settings.llm_provider != "offline":  # the offline answerer spends nothing
                check_llm_budget(uow, now, settings.llm_daily_token_budget)
            _take_slot(uow.chat, session.id, now, settings.chat_rate_limit_per_minute)
            take_client_slot(uow, "chat", client, now, settings.client_chat_rate_limit_per_minute)
            history = _history(uow.chat.messages(session.id, HISTORY_MESSAGES))
        except AppError as exc:
            refused: AppError | None = exc
        else:
            refused = None
            uow.commit()
    if refused is not None:
        with deps.uow() as uow:
            _renewed(uow, token_hash, now, span)
            uow.commit()
        raise refused
    stages.lap("prepare_tx")

    history = trim_history(history, settings.history_token_budget)
    answerer = deps.get_answerer()
    standalone = _call_model(lambda: answerer.standalone_question(question, history))
    stages.lap("condense")
    in_scope = {v: titles[v] for v in (video_ids if video_ids is not None else titles)}
    kind = whole_video_kind(standalone, len(in_scope))
    if kind is None:
        passages = _retrieve_named(deps, session.id, standalone, in_scope, stages)
        if not passages:
            passages = _retrieve(deps, session.id, standalone, [video_ids], stages)
        if passages and not _supported(settings, standalone, passages):
            passages = []  # not in the videos: the not-found answer, and no model call
        stages.lap("not_found_check")
        return PreparedQuestion(token_hash, question, history, passages, answerer, stages=stages)
    named = videos_named(standalone, in_scope)
    chosen = named if named and (kind == "summary" or len(named) >= 2) else list(in_scope)
    passages = _whole_videos(deps, session.id, chosen, answerer)
    stages.lap("whole_videos")
    return PreparedQuestion(
        token_hash, question, history, passages, answerer, whole_videos=True, stages=stages
    )


def _renewed(
    uow: UnitOfWork, token_hash: bytes, now: datetime, span: SessionLifetime
) -> ChatSession:
    """The live session of `token_hash`, renewed inside `uow` (not committed); SessionNotFound
    or SessionExpired as `sessions.authenticate` raises them."""
    session = uow.sessions.renew(token_hash, now, span.idle, span.longest)
    return session if session is not None else authenticate(uow, token_hash, now)


def store_answer(deps: Dependencies, prepared: PreparedQuestion, raw: str) -> ChatAnswer:
    """Keep the citations of `raw` that name retrieved passages, number them in order of first
    citation, find the moment each one cites, and store the exchange, with the model tokens
    spent since the last record (LLM_DAILY_TOKEN_BUDGET) in the same transaction; when storing
    fails, the tokens are still recorded, on their own."""
    stages = prepared.stages
    answer, cited = extract_citations(raw, {p.number for p in prepared.passages})
    numbers = {passage: number for number, passage in enumerate(cited, start=1)}
    answer = renumber_citations(answer, numbers)
    claims = claims_by_marker(answer)
    by_number = {p.number: p for p in prepared.passages}
    sources = [
        _source(number, by_number[passage], claims.get(number, ""), prepared.question)
        for passage, number in numbers.items()
    ]
    stages.lap("citations")
    tokens = prepared.answerer.take_tokens_used()
    try:
        with deps.uow() as uow:
            session = authenticate(uow, prepared.token_hash, deps.clock())
            # One exchange at a time per session, so that its two rows take consecutive
            # positions even when questions of the same session are answered at the same
            # moment; a session ended meanwhile stores nothing.
            if not uow.sessions.lock(session.id):
                raise SessionNotFound()
            message_id = uow.chat.add_exchange(
                session.id, prepared.question, answer, [vars(s) for s in sources], deps.clock()
            )
            add_llm_usage(uow, deps.clock(), tokens)
            uow.commit()
    except BaseException:
        save_llm_usage(deps, tokens)
        raise
    stages.lap("store_tx")
    stages.report(deps)
    return ChatAnswer(message_id, answer, sources, prepared.answerer.model_label)


def list_messages(deps: Dependencies, token: str | None, newest: int) -> list[MessageRow]:
    """The newest `newest` messages of the caller's chat history, oldest first."""
    with authenticated(deps, token) as (uow, session):
        return uow.chat.messages(session.id, newest)


def clear_messages(deps: Dependencies, token: str | None) -> None:
    """Delete the caller's chat history; its videos stay."""
    with authenticated(deps, token) as (uow, session):
        uow.chat.clear(session.id)
        uow.commit()


def _valid_question(question: str, max_chars: int) -> str:
    stripped = _CONTROL_CHARACTERS.sub("", question).strip()
    problem = None
    if not stripped:
        problem = "must not be empty"
    elif len(stripped) > max_chars:
        problem = f"must be at most {max_chars} characters (got {len(stripped)})"
    if problem is not None:
        raise InvalidRequest(
            "the message is invalid",
            details=[{"field": "message", "message": problem, "type": "message"}],
        )
    return stripped


def _take_slot(chat: ChatRepository, session_id: uuid.UUID, now: datetime, limit: int) -> None:
    if limit == 0:
        return
    started, count = chat.take_question_slot(session_id, now, WINDOW_SECONDS)
    if count > limit:
        raise RateLimited(retry_after(started, now, WINDOW_SECONDS))


def _history(rows: Sequence[MessageRow]) -> list[HistoryMessage]:
    return [
        HistoryMessage("user" if row.role == "user" else "assistant", row.content) for row in rows
    ]


def _call_model(call: Callable[[], str]) -> str:
    from services.video_rag.providers.chat import ChatFailed, ChatTimeout

    try:
        return str(call())
    except ChatTimeout:
        raise UpstreamTimeout() from None
    except ChatFailed as exc:
        raise LlmError(str(exc) or None) from None


def _retrieve(
    deps: Dependencies,
    session_id: uuid.UUID,
    query: str,
    scopes: Sequence[Sequence[str] | None],
    stages: Stages,
) -> list[Passage]:
    """RETRIEVAL_K passages for `query`: searched in each scope (some videos; None: all of
    them) and taken from each in turn, best first, in one transaction."""
    from services.video_rag.providers.embeddings import EmbeddingFailed

    try:
        embedding = deps.get_embedder().embed_query(query)
    except EmbeddingFailed as exc:
        raise UpstreamError(str(exc)) from None
    stages.lap("embed")
    k = deps.settings.retrieval_k
    with deps.uow() as uow:
        found = [
            uow.retrieval.hybrid_search(
                session_id,
                embedding,
                full_text_query(query),
                k=math.ceil(k / len(scopes)),
                video_ids=scope,
                embedding_model=deps.settings.embedding_model_label,
            )
            for scope in scopes
        ]
    stages.lap("retrieve_tx")
    in_turns = [chunk for turn in zip_longest(*found) for chunk in turn if chunk is not None]
    return [_passage(number, chunk) for number, chunk in enumerate(in_turns[:k], start=1)]


def _passage(number: int, row: RetrievedChunk | TranscriptPassage) -> Passage:
    """A stored chunk as the answerer's numbered passage."""
    return Passage(
        number,
        row.video_id,
        row.title,
        row.start_seconds,
        row.end_seconds,
        row.text,
        row.moments,
        row.link_url,
        row.timed,
    )


def _retrieve_named(
    deps: Dependencies,
    session_id: uuid.UUID,
    question: str,
    in_scope: Mapping[str, str | None],
    stages: Stages,
) -> list[Passage]:
    """The passages of the videos a one-part question names: by a word of their title that no
    other title has and no other video's transcript says ("the Aerolite", not "tested"). They
    are searched with their title words left out (said in many of their passages, those would
    only blur which one answers), an equal share from each of up to MAX_NAMED_SEARCHES videos
    ("which lasts longer, X or Y?"). None when the question names no video or asks several
    things."""
    if len(question_parts(question)) > 1:
        return []
    candidates = title_words_asked(question, in_scope)
    if not candidates:
        return []
    with deps.uow() as uow:
        saying = uow.chat.videos_saying(session_id, list(candidates))
    named_by = {
        video_id for word, video_id in candidates.items() if saying.get(word, set()) <= {video_id}
    }
    named = [video_id for video_id in in_scope if video_id in named_by]
    if not named:
        return []
    query = without_title_words(question, [in_scope[video_id] for video_id in named])
    scopes = [[video_id] for video_id in named] if len(named) <= MAX_NAMED_SEARCHES else [named]
    return _retrieve(deps, session_id, query, scopes, stages)


def _whole_videos(
    deps: Dependencies, session_id: uuid.UUID, video_ids: Sequence[str], answerer: Answerer
) -> list[Passage]:
    """The whole transcripts of `video_ids` as numbered passages in time order; when they do not
    fit WHOLE_VIDEO_TOKEN_BUDGET for a model, notes on consecutive parts of each video instead
    (map-reduce: the model writes the notes, then answers from them). At most
    WHOLE_VIDEO_MAX_NOTE_CALLS notes per question: beyond that, passages are sampled evenly, so
    that one question's model spend stays bounded however long the videos are."""
    with deps.uow() as uow:
        rows = uow.chat.whole_transcripts(session_id, video_ids)
    passages = [_passage(number, row) for number, row in enumerate(rows, start=1)]
    budget = deps.settings.whole_video_token_budget
    if not answerer.context_limited or sum(estimate_tokens(p.text) for p in passages) <= budget:
        return passages
    per_part = budget // 4  # room for several videos' notes in one answer
    limit = deps.settings.whole_video_max_note_calls
    parts = _parts(passages, per_part)
    if len(parts) > limit:
        parts = _parts(passages[:: math.ceil(len(parts) / limit)], per_part)[:limit]
    notes = _write_notes(answerer, parts, deps.settings.llm_timeout_seconds)
    return [
        Passage(
            i,
            part[0].video_id,
            part[0].title,
            part[0].start_seconds,
            part[-1].end_seconds,
            note,
            moments=[[0, part[0].start_seconds]],  # a note stands for its part: cite its start
            link_url=part[0].link_url,
            timed=part[0].timed,
        )
        for i, (part, note) in enumerate(zip(parts, notes, strict=True), start=1)
    ]


def _write_notes(answerer: Answerer, parts: Sequence[list[Passage]], timeout: float) -> list[str]:
    """The model's notes on each part, written NOTE_CALLS_AT_ONCE at a time, all of them within
    twice `timeout` (a call and its retry): UpstreamTimeout beyond, so that a whole-video
    question never runs past the platform's HTTP limit (230 s on Azure) before its answer
    starts. The first failure (LlmError, UpstreamTimeout) is raised; calls not yet started are
    dropped."""
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    pool = ThreadPoolExecutor(min(len(parts), NOTE_CALLS_AT_ONCE), "whole-video-notes")
    try:
        # Each call in a copy of this context: its log lines keep the invocation's request id.
        futures = [
            pool.submit(
                contextvars.copy_context().run,
                _call_model,
                functools.partial(answerer.part_notes, part),
            )
            for part in parts
        ]
        done, pending = wait(futures, timeout=2 * timeout, return_when=FIRST_EXCEPTION)
        for future in done:
            if (error := future.exception()) is not None:
                raise error
        if pending:
            raise UpstreamTimeout()
        return [future.result() for future in futures]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _parts(passages: Sequence[Passage], tokens_per_part: int) -> list[list[Passage]]:
    """Consecutive passages of one video at a time, each group within `tokens_per_part`."""
    parts: list[list[Passage]] = []
    used = 0
    for passage in passages:
        cost = estimate_tokens(passage.text)
        same_video = bool(parts) and parts[-1][0].video_id == passage.video_id
        if same_video and used + cost <= tokens_per_part:
            parts[-1].append(passage)
            used += cost
        else:
            parts.append([passage])
            used = cost
    return parts


def _source(number: int, passage: Passage, claim: str, question: str) -> Source:
    excerpt = best_excerpt(passage.text, passage.moments, claim, question, passage.timed)
    at = excerpt.at_seconds
    if at is None and passage.timed:  # a chunk stored before moments were kept: its start
        at = passage.start_seconds
    return Source(
        id=number,
        video_id=passage.video_id,
        title=passage.title,
        start_seconds=passage.start_seconds,
        end_seconds=passage.end_seconds,
        at_seconds=at,
        url=video_link(passage.video_id, passage.link_url, at),
        text=excerpt.text,
    )


def _supported(settings: Settings, question: str, passages: Sequence[Passage]) -> bool:
    """Whether some sentence of `passages` is close enough to `question` to support an answer
    (`domain.relevance.support` with the offline model's vectors, against NOT_FOUND_THRESHOLD,
    or MODEL_NOT_FOUND_THRESHOLD with a model; 0 turns the check off)."""
    offline = settings.llm_provider == "offline"
    threshold = settings.not_found_threshold if offline else settings.model_not_found_threshold
    if threshold == 0:
        return True
    from services.video_rag.domain.relevance import support
    from services.video_rag.providers.embeddings import load_offline_model
    from services.video_rag.settings import OFFLINE_EMBEDDING_DIMENSIONS

    try:
        model = load_offline_model()
    except RuntimeError:  # the offline model's package is missing: let the answerer decide
        return True
    width = OFFLINE_EMBEDDING_DIMENSIONS
    score = support(question, [p.text for p in passages], lambda texts: model.embed(texts, width))
    return score * 100 >= threshold
