"""Readiness: is the database reachable, is its schema at head, are the settings usable."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from services.video_rag.domain.errors import DatabaseNotConfigured
from services.video_rag.settings import SettingProblem

if TYPE_CHECKING:
    from services.video_rag.bootstrap import Dependencies

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HealthReport:
    """The outcome of every readiness check; `ready` is true when all passed."""

    database_ok: bool
    database_message: str
    schema_revision: str | None
    head_revision: str | None
    problems: tuple[SettingProblem, ...]
    provider: dict[str, str | int] = field(default_factory=dict)

    @property
    def schema_ok(self) -> bool:
        return self.database_ok and self.schema_revision == self.head_revision

    @property
    def ready(self) -> bool:
        return self.schema_ok and not self.problems


def check_health(deps: Dependencies) -> HealthReport:
    """Run the readiness checks. Never raises; failures are part of the report."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from services.video_rag.db.migrations import current_revision, head_revision

    settings = deps.settings
    head = head_revision()
    current: str | None = None
    try:
        with deps.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = current_revision(connection)
        database_ok, message = True, "reachable"
    except DatabaseNotConfigured as exc:
        database_ok, message = False, exc.message
    except SQLAlchemyError as exc:
        logger.warning("health check: database unreachable: %s", type(exc).__name__)
        database_ok, message = False, "unreachable"
    provider: dict[str, str | int] = {
        "llm": settings.llm_provider,
        "chat_model": settings.chat_model_label,
        "embeddings": settings.embedding_provider,
        "embedding_model": settings.embedding_model_label,
    }
    if settings.embedding_dimensions is not None:  # else the model's own, known at first use
        provider["embedding_dimensions"] = settings.embedding_dimensions
    return HealthReport(
        database_ok=database_ok,
        database_message=message,
        schema_revision=current,
        head_revision=head,
        problems=settings.problems,
        provider=provider,
    )
