"""The nightly timer that deletes expired sessions and what nobody uses any more."""

from __future__ import annotations

import logging
import uuid

import azure.functions as func

from services.video_rag.bootstrap import get_dependencies
from services.video_rag.diagnostics import invocation
from services.video_rag.service.maintenance import cleanup_expired_sessions
from services.video_rag.settings import run_on_startup_from_environment

bp = func.Blueprint()
logger = logging.getLogger(__name__)


@bp.timer_trigger(
    arg_name="timer",
    schedule="%SESSION_CLEANUP_SCHEDULE%",
    run_on_startup=run_on_startup_from_environment(),
    use_monitor=True,
)
def session_expire_timer(timer: func.TimerRequest) -> None:
    with invocation(f"timer-{uuid.uuid4().hex[:12]}"):
        if timer.past_due:
            logger.info("session cleanup is running late")
        deps = get_dependencies()
        cleanup_expired_sessions(deps.uow, deps.clock(), deps.settings.session_cleanup_batch_size)
