"""The one seam where dependencies are built: lazily, once per process, replaceable by tests.

Nothing here runs at import time. The first request that needs a dependency builds it; a missing
or broken setting therefore fails that request (and shows in /api/health), never the indexing of
the function app.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from services.video_rag.domain.errors import DatabaseNotConfigured
from services.video_rag.domain.sessions import utc_now
from services.video_rag.settings import DATABASE_URL_SETTINGS, Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from services.video_rag.db.unit_of_work import UnitOfWork
    from services.video_rag.providers.chat import Answerer
    from services.video_rag.providers.embeddings import CheckedEmbedder, Embedder
    from services.video_rag.providers.youtube import TranscriptSource

Clock = Callable[[], datetime]


@dataclass
class Dependencies:
    """What the services need from the outside world."""

    settings: Settings
    clock: Clock = utc_now
    engine_factory: Callable[[str], Engine] | None = None
    transcript_source: TranscriptSource | None = None
    embedder: Embedder | None = None
    answerer: Answerer | None = None
    chat_stage_observer: Callable[[dict[str, float]], None] | None = None
    """Called with each stored question's milliseconds per step (`service.chat.Stages`): the
    chat benchmark's breakdown. None (the default) costs nothing."""
    _engine: Engine | None = field(default=None, init=False, repr=False)
    _session_factory: sessionmaker[Session] | None = field(default=None, init=False, repr=False)
    _checked_embedder: CheckedEmbedder | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _embedder_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _answerer_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def engine(self) -> Engine:
        """The database engine, created on first use."""
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = self._create_engine()
        return self._engine

    def _create_engine(self) -> Engine:
        url = self.settings.database_url
        if url is None:
            names = " or ".join(DATABASE_URL_SETTINGS)
            raise DatabaseNotConfigured(f"no database is configured: set {names}")
        if self.engine_factory is not None:
            return self.engine_factory(url)
        from services.video_rag.db.engine import create_database_engine

        return create_database_engine(url)

    def uow(self) -> UnitOfWork:
        """A new unit of work on the app's database. Nothing connects until it is entered."""
        from services.video_rag.db.unit_of_work import UnitOfWork

        return UnitOfWork(self._new_db_session)

    def _new_db_session(self) -> Session:
        if self._session_factory is None:
            from services.video_rag.db.engine import create_session_factory

            self._session_factory = create_session_factory(self.engine)
        return self._session_factory()

    def get_transcript_source(self) -> TranscriptSource:
        """Where transcripts come from: YouTube (through the configured proxy), unless replaced."""
        if self.transcript_source is None:
            from services.video_rag.providers.youtube import ProxySettings, YouTubeTranscriptSource

            settings = self.settings
            self.transcript_source = YouTubeTranscriptSource(
                ProxySettings(
                    http_url=settings.youtube_proxy_http_url,
                    https_url=settings.youtube_proxy_https_url,
                    webshare_username=settings.webshare_proxy_username,
                    webshare_password=settings.webshare_proxy_password,
                )
            )
        return self.transcript_source

    def get_embedder(self) -> CheckedEmbedder:
        """The embedding provider the settings name (offline when none is configured), wrapped so
        that its failures and wrong-sized vectors become EmbeddingFailed. Built once, shared by
        every thread; a model that chooses its own width has it checked from its first answer."""
        if self._checked_embedder is None:
            with self._embedder_lock:
                if self._checked_embedder is None:
                    self._checked_embedder = self._build_embedder()
        return self._checked_embedder

    def _build_embedder(self) -> CheckedEmbedder:
        from services.video_rag.providers.embeddings import (
            CheckedEmbedder,
            build_embedder,
            failure_hint,
        )

        if self.embedder is not None:
            # A provider put in place of the configured one (tests, benchmarks) is held to the
            # width of its own first answer, not to the configured model's.
            return CheckedEmbedder(self.embedder, None)
        return CheckedEmbedder(
            build_embedder(self.settings),
            self.settings.embedding_dimensions,
            hint=failure_hint(self.settings),
        )

    def get_answerer(self) -> Answerer:
        """What writes answers: an LLM through langchain, or the offline extractive answerer.
        Built once and shared by every thread, so that the process keeps one model client (one
        pool of kept-alive connections to the provider), even when the first questions arrive
        together."""
        if self.answerer is None:
            with self._answerer_lock:
                if self.answerer is None:
                    from services.video_rag.providers.chat import build_answerer

                    self.answerer = build_answerer(
                        self.settings, timeout_seconds=float(self.settings.llm_timeout_seconds)
                    )
        return self.answerer

    def close(self) -> None:
        """Release pooled connections (tests, shutdown)."""
        if self._engine is not None:
            self._engine.dispose()


_current: Dependencies | None = None
_current_lock = threading.Lock()


def get_dependencies() -> Dependencies:
    """The process-wide dependencies, built from the environment on first call."""
    global _current
    if _current is None:
        with _current_lock:
            if _current is None:
                from services.video_rag.diagnostics import (
                    configure_telemetry,
                    log_configuration_once,
                )

                settings = load_settings()
                log_configuration_once(settings)
                configure_telemetry(settings)
                _current = Dependencies(settings=settings)
    return _current


def set_dependencies(dependencies: Dependencies | None) -> None:
    """Replace the process-wide dependencies (tests), or drop them so the next call rebuilds."""
    global _current
    with _current_lock:
        previous, _current = _current, dependencies
    if previous is not None and previous is not dependencies:
        previous.close()
