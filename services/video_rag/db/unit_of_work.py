"""One unit of work per invocation: a database session, its repositories, an explicit commit."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from sqlalchemy.orm import Session

from services.video_rag.db.repositories import (
    ChatRepository,
    LimitsRepository,
    MaintenanceRepository,
    SessionRepository,
    VideoRepository,
)
from services.video_rag.db.retrieval import RetrievalRepository


class UnitOfWork:
    """`with uow: ...; uow.commit()`. Leaving the block without a commit rolls everything back."""

    sessions: SessionRepository
    maintenance: MaintenanceRepository
    videos: VideoRepository
    chat: ChatRepository
    limits: LimitsRepository
    retrieval: RetrievalRepository

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self._session_factory = session_factory
        self._db: Session | None = None

    def __enter__(self) -> UnitOfWork:
        self._db = self._session_factory()
        self.sessions = SessionRepository(self._db)
        self.maintenance = MaintenanceRepository(self._db)
        self.videos = VideoRepository(self._db)
        self.chat = ChatRepository(self._db)
        self.limits = LimitsRepository(self._db)
        self.retrieval = RetrievalRepository(self._db)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._db is None:
            return
        try:
            self._db.rollback()
        finally:
            self._db.close()
            self._db = None

    def commit(self) -> None:
        """Make everything done in this unit of work permanent."""
        if self._db is None:
            raise RuntimeError("commit() outside `with uow:`")
        self._db.commit()
