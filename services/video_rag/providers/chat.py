"""Answer generation behind one interface: any LangChain chat model (OpenAI, Azure OpenAI and
OpenAI-compatible servers through langchain-openai), and an offline extractive answerer that
needs no model and no network.

langchain-core and langchain-openai are imported on first use, never when this module is imported,
so that indexing the function app stays fast.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import threading
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol

from services.video_rag.domain.moments import (
    Moment,
    TextSimilarity,
    WordSimilarity,
    quote_span,
    rank_moments,
    seconds_at,
    sentences,
)
from services.video_rag.domain.prompts import (
    CONDENSE_INSTRUCTIONS,
    NO_ANSWER,
    PART_NOTES_INSTRUCTIONS,
    SYSTEM_INSTRUCTIONS,
    WHOLE_VIDEO_INSTRUCTIONS,
    HistoryMessage,
    Passage,
    content_words,
    follow_up_context,
    format_passages,
    format_timestamp,
    looks_like_follow_up,
    offline_standalone_question,
)
from services.video_rag.domain.whole_video import outline

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage
    from langchain_core.runnables import RunnableConfig

    from services.video_rag.settings import Settings

__all__ = [
    "ANSWER_TEMPLATE",
    "CONDENSE_TEMPLATE",
    "Answerer",
    "ChatFailed",
    "ChatTimeout",
    "LangChainAnswerer",
    "OfflineExtractiveAnswerer",
    "build_answerer",
]

logger = logging.getLogger(__name__)

# The human turn of each prompt; the system turn is SYSTEM_INSTRUCTIONS / CONDENSE_INSTRUCTIONS.
ANSWER_TEMPLATE: Final = "Passages:\n{passages}\n\nQuestion: {question}"
CONDENSE_TEMPLATE: Final = "Conversation:\n{conversation}\n\nFollow-up question: {question}"
NOTES_TEMPLATE: Final = "Transcript part, passages in time order:\n{transcript}"


class ChatFailed(Exception):
    """The language model failed; the message is safe to show a client (no keys, no bodies)."""


class ChatTimeout(Exception):
    """The language model did not answer in time."""


class Answerer(Protocol):
    """What the chat service needs to turn retrieved passages into an answer."""

    model_label: str

    def standalone_question(self, question: str, history: Sequence[HistoryMessage]) -> str:
        """`question` rewritten so that it can be understood without `history`."""
        ...

    context_limited: bool
    """Whether whole transcripts must fit a context budget (a model), or not (offline)."""

    def answer(
        self,
        question: str,
        passages: Sequence[Passage],
        history: Sequence[HistoryMessage],
        whole_videos: bool = False,
    ) -> str:
        """An answer to `question` from `passages`, citing them as ``[n]``, or NO_ANSWER. With
        `whole_videos`, the passages are whole transcripts (or notes on their parts) in time
        order, and the question is about the videos as a whole."""
        ...

    def astream_answer(
        self,
        question: str,
        passages: Sequence[Passage],
        history: Sequence[HistoryMessage],
        whole_videos: bool = False,
    ) -> AsyncIterator[str]:
        """The same answer in pieces, as it is written (no leading or trailing whitespace).
        Closing the iterator early stops the generation."""
        ...

    def part_notes(self, passages: Sequence[Passage]) -> str:
        """Notes on one part of a long transcript (the map step over videos too long to send
        whole)."""
        ...

    def take_tokens_used(self) -> int:
        """The model tokens the provider reported since the last call (then forgotten)."""
        ...


class TokenTally:
    """Adds up the token usage the provider reports for every model call (LangChain's
    `usage_metadata`, streamed calls included when the model is asked for it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens = 0

    def add(self, tokens: int) -> None:
        with self._lock:
            self._tokens += tokens

    def take(self) -> int:
        with self._lock:
            tokens, self._tokens = self._tokens, 0
        return tokens

    def callback(self) -> Any:
        """A LangChain callback handler feeding this tally (langchain-core imported here)."""
        from langchain_core.callbacks import BaseCallbackHandler
        from langchain_core.messages import AIMessage

        tally = self

        class _UsageHandler(BaseCallbackHandler):
            def on_llm_end(self, response: Any, **kwargs: Any) -> None:
                for generations in response.generations:
                    for generation in generations:
                        message = getattr(generation, "message", None)
                        usage = message.usage_metadata if isinstance(message, AIMessage) else None
                        if usage:
                            tally.add(int(usage.get("total_tokens", 0)))

        return _UsageHandler()


# Timeout exception classes by module; a module that was never imported cannot have raised one.
_TIMEOUT_CLASSES: Final = (
    ("openai", "APITimeoutError"),
    ("httpx", "TimeoutException"),
    ("httpx2", "TimeoutException"),
)
_SECRETS: Final = re.compile(
    r"(sk-[A-Za-z0-9_\-]{6,}|(?:api[-_ ]?key|authorization|bearer|token)[\"':=\s]+[^\s,;\"'}]+)",
    re.IGNORECASE,
)


def _is_timeout(error: BaseException) -> bool:
    """Whether `error`, or an exception it was raised from, is a timeout."""
    classes: list[type] = [TimeoutError]
    for module_name, class_name in _TIMEOUT_CLASSES:
        module = sys.modules.get(module_name)
        candidate = getattr(module, class_name, None) if module is not None else None
        if isinstance(candidate, type):
            classes.append(candidate)
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, tuple(classes)):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _status_code(error: BaseException) -> int | None:
    status = getattr(error, "status_code", None)
    return status if isinstance(status, int) else None


def _describe(error: BaseException) -> str:
    """Type, HTTP status and a shortened message of `error`, with anything key-like redacted."""
    status = _status_code(error)
    message = _SECRETS.sub("[redacted]", " ".join(str(error).split()))
    if len(message) > 300:
        message = message[:300] + "…"
    return f"{type(error).__name__}" + (f" (HTTP {status})" if status else "") + f": {message}"


def _to_messages(history: Sequence[HistoryMessage]) -> list[BaseMessage]:
    from langchain_core.messages import AIMessage, HumanMessage

    return [HumanMessage(m.content) if m.role == "user" else AIMessage(m.content) for m in history]


def _render_conversation(history: Sequence[HistoryMessage]) -> str:
    return "\n".join(
        f"{'User' if m.role == 'user' else 'Assistant'}: {' '.join(m.content.split())}"
        for m in history
    )


class LangChainAnswerer:
    """Answers with a LangChain chat model, called directly with its messages (an LCEL chain of
    prompt template, model and output parser cost half a millisecond more per call for the same
    messages: a run and callbacks per step).

    The answer prompt is ``SYSTEM_INSTRUCTIONS`` (``WHOLE_VIDEO_INSTRUCTIONS`` for questions about
    whole videos), the history as Human/AI messages, then `ANSWER_TEMPLATE` with the formatted
    passages and the question; the condense prompt is ``CONDENSE_INSTRUCTIONS`` then
    `CONDENSE_TEMPLATE` with the conversation as text; the notes prompt is
    ``PART_NOTES_INSTRUCTIONS`` then `NOTES_TEMPLATE`. Every call reports its token usage to the
    tally (a callback). Provider errors become ChatTimeout or ChatFailed.
    """

    context_limited = True

    def __init__(
        self, model: BaseChatModel, model_label: str, tally: TokenTally | None = None
    ) -> None:
        self.model = model
        self.model_label = model_label
        self._tally = tally or TokenTally()
        self._config: RunnableConfig | None = None

    def take_tokens_used(self) -> int:
        """The tokens the provider reported for this answerer's calls since the last call."""
        return self._tally.take()

    def _run_config(self) -> RunnableConfig:
        """The configuration of every call: the usage callback (built on first use; racing
        threads may both build one, they are equivalent)."""
        if self._config is None:
            self._config = {"callbacks": [self._tally.callback()]}
        return self._config

    @staticmethod
    def _prompt(
        instructions: str, human: str, history: Sequence[HistoryMessage] = ()
    ) -> list[BaseMessage]:
        from langchain_core.messages import HumanMessage, SystemMessage

        return [SystemMessage(instructions), *_to_messages(history), HumanMessage(human)]

    def standalone_question(self, question: str, history: Sequence[HistoryMessage]) -> str:
        """Ask the model to rewrite a follow-up. No call (and no change) without history, nor
        for a question that does not look like a follow-up (`looks_like_follow_up`): the condense
        step is a whole model round trip before the answer can start.

        An empty rewrite falls back to the original question.
        """
        if not history or not looks_like_follow_up(question):
            return question
        human = CONDENSE_TEMPLATE.format(
            conversation=_render_conversation(history), question=question
        )
        messages = self._prompt(CONDENSE_INSTRUCTIONS, human)
        rewritten = self._invoke(messages, "condense").strip()
        if len(rewritten) >= 2 and rewritten[0] == rewritten[-1] and rewritten[0] in "\"'“”":
            rewritten = rewritten[1:-1].strip()
        return rewritten or question

    def answer(
        self,
        question: str,
        passages: Sequence[Passage],
        history: Sequence[HistoryMessage],
        whole_videos: bool = False,
    ) -> str:
        """The model's answer (stripped). With no passages: NO_ANSWER, without calling it."""
        if not passages:
            return NO_ANSWER
        messages = self._answer_prompt(question, passages, history, whole_videos)
        text = self._invoke(messages, "answer")
        if not text.strip():
            raise ChatFailed("the language model returned an empty answer")
        return text.strip()

    async def astream_answer(
        self,
        question: str,
        passages: Sequence[Passage],
        history: Sequence[HistoryMessage],
        whole_videos: bool = False,
    ) -> AsyncIterator[str]:
        """The model's answer as it streams, whitespace at both ends held back. With no passages:
        NO_ANSWER, without calling it. Cancelling the consumer closes the model's stream."""
        if not passages:
            yield NO_ANSWER
            return
        messages = self._answer_prompt(question, passages, history, whole_videos)
        pending = ""  # whitespace not sent yet: dropped if nothing follows it
        started = False
        try:
            async for chunk in self.model.astream(messages, self._run_config()):
                text = pending + chunk.text
                if not started:
                    text = text.lstrip()
                body = text.rstrip()
                pending = text[len(body) :]
                if body:
                    started = True
                    yield body
        except (ChatFailed, ChatTimeout):
            raise
        except Exception as exc:
            raise _provider_error(exc, "answer") from exc
        if not started:
            raise ChatFailed("the language model returned an empty answer")

    def part_notes(self, passages: Sequence[Passage]) -> str:
        """The model's notes on one part of a long transcript."""
        human = NOTES_TEMPLATE.format(transcript=format_passages(passages))
        return self._invoke(self._prompt(PART_NOTES_INSTRUCTIONS, human), "notes").strip()

    def _answer_prompt(
        self,
        question: str,
        passages: Sequence[Passage],
        history: Sequence[HistoryMessage],
        whole_videos: bool,
    ) -> list[BaseMessage]:
        instructions = WHOLE_VIDEO_INSTRUCTIONS if whole_videos else SYSTEM_INSTRUCTIONS
        human = ANSWER_TEMPLATE.format(passages=format_passages(passages), question=question)
        return self._prompt(instructions, human, history)

    def _invoke(self, messages: list[BaseMessage], step: str) -> str:
        try:
            return self.model.invoke(messages, self._run_config()).text
        except (ChatFailed, ChatTimeout):
            raise
        except Exception as exc:
            raise _provider_error(exc, step) from exc


def _provider_error(exc: Exception, step: str) -> ChatFailed | ChatTimeout:
    """The ChatTimeout or ChatFailed (safe to show) that a provider's exception stands for."""
    if _is_timeout(exc):
        logger.warning("chat %s timed out: %s", step, _describe(exc))
        return ChatTimeout("the language model did not answer in time")
    logger.warning("chat %s failed: %s", step, _describe(exc))
    status = _status_code(exc)
    reason = f"HTTP {status}" if status else type(exc).__name__
    return ChatFailed(f"the language model request failed ({reason})")


_WORD_PIECES: Final = re.compile(r"\s*\S+")
_ANNOTATION: Final = re.compile(r"\[[^\]]*\]|【[^】]*】|[♪♫]")
_OFFLINE_WIDTH: Final = 256
# A second quote when it holds at least this share of what the first one matches.
_RUNNER_UP_SHARE: Final = 0.5
# Below this share of the question's words (weighted, `Moment.matched`), the best caption may not
# answer the question: the answer says so before quoting it.
WEAK_MATCH: Final = 0.5
WEAK_MATCH_NOTE: Final = "The videos may not answer this exactly; the closest they come:"


def _offline_similarities() -> tuple[WordSimilarity | None, TextSimilarity | None]:
    """Word and text similarities from the offline embedding model's vectors; none when its
    package is missing (then only words of the same stem match)."""
    from services.video_rag.providers.embeddings import load_offline_model

    try:
        model = load_offline_model()
    except RuntimeError:
        return None, None
    import numpy as np

    def words_similarity(left: Sequence[str], right: Sequence[str]) -> Any:
        vectors = np.asarray(model.embed([*left, *right], _OFFLINE_WIDTH))
        return vectors[: len(left)] @ vectors[len(left) :].T

    def text_similarity(text: str, others: Sequence[str]) -> Any:
        vectors = np.asarray(model.embed([text, *others], _OFFLINE_WIDTH))
        return vectors[1:] @ vectors[0]

    return words_similarity, text_similarity


class OfflineExtractiveAnswerer:
    """Answers without a model by quoting the captions that best answer the question.

    Every caption of the passages is scored by `domain.moments.rank_moments` (the question's
    words it holds, weighted by rarity, with similar words matching through the offline model's
    vectors; a follow-up's previous question counts less). The best caption is quoted with its
    sentence, the video, the moment and the citation marker; so is the best caption of another
    passage (preferably of another video, for comparisons) when it matches at least half as
    much of the question::

        From "Surface Go Review" at 1:24: "The battery lasts about nine hours." [1]

    (A question naming videos by their titles' words got passages of those videos only: see
    `service.chat`.) NO_ANSWER when no caption shares a word (or a similar one) with the
    question, nor belongs to a video it names. Deterministic.
    """

    model_label: str = "offline-extractive"
    context_limited = False

    def take_tokens_used(self) -> int:
        """Nothing: no model, no tokens."""
        return 0

    def standalone_question(self, question: str, history: Sequence[HistoryMessage]) -> str:
        """The offline follow-up rule: `offline_standalone_question`."""
        return offline_standalone_question(question, history)

    def answer(
        self,
        question: str,
        passages: Sequence[Passage],
        history: Sequence[HistoryMessage],
        whole_videos: bool = False,
    ) -> str:
        """Quote the best one or two captions with their markers, or NO_ANSWER. About whole
        videos: an extractive outline of each (`whole_video.outline`)."""
        if whole_videos:
            return outline(passages) or NO_ANSWER
        words, meaning = _offline_similarities()
        leans_on = follow_up_context(question, history)
        previous = [
            m.content for m in history if leans_on and m.role == "user" and content_words(m.content)
        ]
        ranked = rank_moments(
            question,
            passages,
            previous[-1] if previous else "",
            words_similarity=words,
            text_similarity=meaning,
        )
        matched = [moment for moment in ranked if moment.matched > 0] or [
            moment for moment in ranked[:1] if moment.named
        ]
        if not matched:
            return NO_ANSWER
        best = matched[0]
        chosen = [best]
        others = [
            m
            for m in matched[1:]
            if m.passage.number != best.passage.number
            and m.matched >= _RUNNER_UP_SHARE * best.matched
            and not (m.passage.video_id == best.passage.video_id and m.text == best.text)
        ]
        elsewhere = [m for m in others if m.passage.video_id != best.passage.video_id]
        chosen += (elsewhere or others)[:1]
        quotes = [self._cite(moment) for moment in chosen]
        if best.matched < WEAK_MATCH:  # say so rather than pass a loose match off as the answer
            quotes.insert(0, WEAK_MATCH_NOTE)
        return "\n".join(quotes)

    async def astream_answer(
        self,
        question: str,
        passages: Sequence[Passage],
        history: Sequence[HistoryMessage],
        whole_videos: bool = False,
    ) -> AsyncIterator[str]:
        """The same answer, word by word (each piece a word with the spaces before it), so that
        a front-end streams offline answers with the same code as a model's."""
        # Ranking captions is CPU work: off the event loop that serves the other requests.
        answer = await asyncio.to_thread(self.answer, question, passages, history, whole_videos)
        for piece in _WORD_PIECES.findall(answer):
            yield piece
            await asyncio.sleep(0)  # let the server send each piece on its own

    def part_notes(self, passages: Sequence[Passage]) -> str:
        """An outline of the part (never needed offline: nothing limits the context)."""
        return outline(passages)

    @staticmethod
    def _cite(moment: Moment) -> str:
        """``From "<title>" at <m:ss>: "<quote>" [n]``: the caption's sentence (`quote_span`),
        annotations such as ``[Music]`` left out, with an ellipsis where it is cut."""
        passage = moment.passage
        text = passage.text
        start, end = quote_span(moment)
        quote = " ".join(_ANNOTATION.sub(" ", text[start:end]).split()).replace('"', "'")
        bounds = [(o, o + len(s)) for o, s in sentences(text)]
        if not any(o == start for o, _ in bounds):
            quote = "…" + quote
        if not any(e == end for _, e in bounds):
            quote += "…"
        video = f'"{passage.title}"' if passage.title else f"video {passage.video_id}"
        at = seconds_at(passage.moments, start) if passage.timed else None
        if at is None and not passage.timed:
            return f'From {video}: "{quote}" [{passage.number}]'
        when = format_timestamp(passage.start_seconds if at is None else at)
        return f'From {video} at {when}: "{quote}" [{passage.number}]'


def build_answerer(settings: Settings, *, timeout_seconds: float = 30.0) -> Answerer:
    """The answerer the settings ask for. langchain-openai is imported only here."""
    if settings.llm_provider == "offline":
        return OfflineExtractiveAnswerer()
    if settings.llm_provider == "azure_openai":
        from langchain_openai import AzureChatOpenAI

        azure = AzureChatOpenAI(
            azure_endpoint=settings.azure_openai_endpoint,
            azure_deployment=settings.azure_openai_chat_deployment or settings.chat_model,
            api_version=settings.azure_openai_api_version,
            api_key=settings.azure_openai_api_key,  # type: ignore[arg-type]
            timeout=timeout_seconds,
            max_retries=1,
            temperature=0,
            stream_usage=True,  # usage in streams too, for LLM_DAILY_TOKEN_BUDGET
        )
        return LangChainAnswerer(azure, settings.chat_model_label)
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(
        model=settings.chat_model,
        api_key=settings.openai_api_key or "not-needed",  # type: ignore[arg-type]
        base_url=settings.openai_base_url,
        timeout=timeout_seconds,
        max_retries=1,
        temperature=0,
        stream_usage=True,  # usage in streams too, for LLM_DAILY_TOKEN_BUDGET
    )
    return LangChainAnswerer(model, settings.chat_model_label)
