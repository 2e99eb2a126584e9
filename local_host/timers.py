"""Running timer-triggered functions in asyncio background tasks."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from azure.functions.timer import TimerRequest

from .discovery import TimerFunction
from .invoke import InvocationContext, build_kwargs, call_in_daemon_thread
from .schedule import (
    Schedule,
    ScheduleError,
    SettingProvider,
    UnresolvedSettingError,
    parse_schedule,
    resolve_binding_expressions,
    utcnow,
)

logger = logging.getLogger("local_host")

PAST_DUE_TOLERANCE = timedelta(seconds=1)
_MAX_SLEEP_SECONDS = 30.0


@dataclass(frozen=True)
class ScheduledTimer:
    """A timer function with its resolved expression and parsed schedule."""

    function: TimerFunction
    expression: str
    schedule: Schedule


def prepare_timers(
    timers: Iterable[TimerFunction],
    environ: Mapping[str, str],
    defaults: SettingProvider | None = None,
) -> list[ScheduledTimer]:
    """Resolve ``%NAME%`` settings and parse each timer's schedule.

    A timer whose setting is missing or whose schedule is invalid is logged as
    an error and left out (as the Functions host fails that one function).
    """
    prepared: list[ScheduledTimer] = []
    for timer in timers:
        try:
            expression = resolve_binding_expressions(timer.schedule, environ, defaults)
            schedule = parse_schedule(expression)
        except UnresolvedSettingError as exc:
            logger.error(
                "Timer function '%s' is disabled: app setting '%s' (used in schedule '%s') "
                "is not set.",
                timer.name,
                exc.name,
                timer.schedule,
            )
            continue
        except ScheduleError as exc:
            logger.error("Timer function '%s' is disabled: %s", timer.name, exc)
            continue
        except Exception:
            logger.exception("Timer function '%s' is disabled: its schedule failed.", timer.name)
            continue
        prepared.append(ScheduledTimer(timer, expression, schedule))
    return prepared


class TimerScheduler:
    """Runs each timer on its schedule (and once at startup when requested).

    Invocations of one timer never overlap; after a run the next occurrence is
    computed from the current time, so occurrences missed while the function
    was running are skipped. Exceptions are logged and never stop the timer.
    """

    def __init__(
        self,
        timers: Iterable[ScheduledTimer],
        *,
        clock: Callable[[], datetime] = utcnow,
        function_directory: str | None = None,
    ) -> None:
        self.timers = list(timers)
        self._clock = clock
        self._tasks: list[asyncio.Task[None]] = []
        self._directory = function_directory or os.getcwd()
        self.next_runs: dict[str, datetime] = {}

    def start(self) -> None:
        """Start one background task per timer (call from a running event loop)."""
        for timer in self.timers:
            task = asyncio.get_running_loop().create_task(
                self._run(timer), name=f"timer {timer.function.name}"
            )
            self._tasks.append(task)

    async def stop(self, timeout: float = 5.0) -> None:
        """Cancel the timer tasks and wait (at most ``timeout`` s) for them to end."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=timeout)
            if pending:
                logger.warning("%d timer task(s) ignored cancellation.", len(pending))
        self._tasks.clear()

    async def _run(self, timer: ScheduledTimer) -> None:
        name = timer.function.name
        if timer.function.run_on_startup:
            await self.invoke(timer, past_due=False, reason="RunOnStartup")
        last = self._clock()
        while True:
            due = timer.schedule.next_after(last)
            self.next_runs[name] = due
            logger.info("Timer '%s': next run at %s", name, _iso(due))
            await self._sleep_until(due)
            late = self._clock() - due
            await self.invoke(timer, past_due=late > PAST_DUE_TOLERANCE, reason="Timer fired")
            last = max(due, self._clock())

    async def _sleep_until(self, moment: datetime) -> None:
        while True:
            remaining = (moment - self._clock()).total_seconds()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, _MAX_SLEEP_SECONDS))

    async def invoke(self, timer: ScheduledTimer, *, past_due: bool, reason: str) -> bool:
        """Call the timer function once; returns False (after logging) if it failed."""
        function = timer.function
        invocation_id = str(uuid.uuid4())
        now = self._clock()
        logger.info(
            "Executing 'Functions.%s' (Reason='%s at %s', Id=%s)",
            function.name,
            reason,
            _iso(now),
            invocation_id,
        )
        request = TimerRequest(
            past_due=past_due,
            schedule_status={"Last": _iso(now), "LastUpdated": _iso(now)},
            schedule={"AdjustForDST": False},
        )
        context = InvocationContext(invocation_id, function.name, self._directory)
        started = asyncio.get_running_loop().time()
        try:
            kwargs = build_kwargs(function.func, function.arg_name, request, context)
            await call_in_daemon_thread(function.func, kwargs)
        except (Exception, SystemExit):
            logger.exception("Timer function '%s' raised an exception.", function.name)
            outcome = "Failed"
        else:
            outcome = "Succeeded"
        elapsed = (asyncio.get_running_loop().time() - started) * 1000
        log = logger.info if outcome == "Succeeded" else logger.error
        log(
            "Executed 'Functions.%s' (%s, Id=%s, Duration=%dms)",
            function.name,
            outcome,
            invocation_id,
            elapsed,
        )
        return outcome == "Succeeded"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
