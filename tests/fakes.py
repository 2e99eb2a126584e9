"""Fakes for the providers (fakes over patching): a transcript source and a failing embedder."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult

from services.video_rag.domain.captions import Caption
from services.video_rag.domain.prompts import HistoryMessage, Passage
from services.video_rag.providers.chat import OfflineExtractiveAnswerer
from services.video_rag.providers.youtube import (
    FetchedTranscript,
    TranscriptFetchError,
    VideoMetadata,
)


def captions_about(topic: str, count: int = 12, seconds: float = 5.0) -> list[Caption]:
    """Distinctive captions: sentences mentioning `topic`, one every `seconds`."""
    return [
        Caption(f"Sentence {index} talks about {topic} in some detail.", index * seconds, seconds)
        for index in range(count)
    ]


@dataclass
class FakeTranscriptSource:
    """Serves configured transcripts (or errors) per video id, counting fetches."""

    transcripts: dict[str, FetchedTranscript | TranscriptFetchError] = field(default_factory=dict)
    delay_seconds: float = 0.0
    fetches: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(
        self, video_id: str, topic: str, *, language: str = "en", is_generated: bool = False
    ) -> None:
        self.transcripts[video_id] = FetchedTranscript(
            video_id=video_id,
            language=language,
            language_name=language,
            is_generated=is_generated,
            captions=captions_about(topic),
        )

    def fail(self, video_id: str, code: str, message: str = "failed") -> None:
        self.transcripts[video_id] = TranscriptFetchError(code, message)  # type: ignore[arg-type]

    def fetch(self, video_id: str, languages: Sequence[str]) -> FetchedTranscript:
        with self._lock:
            self.fetches.append(video_id)
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        found = self.transcripts.get(video_id)
        if found is None:
            raise TranscriptFetchError("video_unavailable", "no such video")
        if isinstance(found, TranscriptFetchError):
            raise found
        return found

    def metadata(self, video_id: str) -> VideoMetadata:
        return VideoMetadata(title=f"Title of {video_id}", channel="Fake channel")


class FailingEmbeddings:
    """An embedding provider that is down."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise ConnectionError("embedding service unreachable")

    def embed_query(self, text: str) -> list[float]:
        raise ConnectionError("embedding service unreachable")


class RecordingChatModel(GenericFakeChatModel):
    """langchain-core's fake chat model that also remembers the messages it was sent."""

    received: list[list[BaseMessage]] = []  # noqa: RUF012  (a pydantic field, copied per instance)

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.received.append(list(messages))
        return super()._generate(messages, *args, **kwargs)


class RecordingAnswerer(OfflineExtractiveAnswerer):
    """The offline answerer, remembering the passages retrieval handed it. (It quotes only
    passages that share a word with the question, so its sources alone would not show what
    the embedder found.)"""

    def __init__(self) -> None:
        self.passages: list[Passage] = []

    def answer(
        self,
        question: str,
        passages: Sequence[Passage],
        history: Sequence[HistoryMessage],
        whole_videos: bool = False,
    ) -> str:
        self.passages = list(passages)
        return super().answer(question, passages, history, whole_videos)
