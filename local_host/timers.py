"""Timer functions: NCRONTAB schedules (``%NAME%`` resolved from the settings) run in asyncio
background tasks, a synchronous function in a daemon thread of its own."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.functions.timer import TimerRequest
from croniter import croniter  # type: ignore[import-untyped,unused-ignore]

from .discovery import TimerFunction

logger = logging.getLogger("local_host")

SettingProvider = Callable[[str], "str | None"]

PAST_DUE_TOLERANCE = timedelta(seconds=1)
_MAX_SLEEP_SECONDS = 30.0
_BINDING_RE = re.compile(r"%([^%\s]+)%")


class ScheduleError(ValueError):
    """The schedule expression is not a valid NCRONTAB (or 5-field cron) expression."""


class UnresolvedSettingError(LookupError):
    """A ``%NAME%`` binding expression names a setting with no value."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


class CronSchedule:
    """A 6-field NCRONTAB (``sec min hour day month dow``) or 5-field cron, in UTC.

    Like NCRONTAB, a restricted day-of-month and day-of-week must both match.
    """

    def __init__(self, expression: str) -> None:
        fields = expression.split()
        if len(fields) not in (5, 6):
            raise ScheduleError(
                f"'{expression}' has {len(fields)} fields; expected 6 (NCRONTAB) or 5 (cron)"
            )
        self.expression = " ".join(fields)
        self.has_seconds = len(fields) == 6
        if not croniter.is_valid(self.expression, second_at_beginning=self.has_seconds):
            raise ScheduleError(f"'{expression}' is not a valid cron expression")

    def next_after(self, moment: datetime) -> datetime:
        """Next occurrence strictly after ``moment`` (aware datetimes; the result in UTC)."""
        iterator = croniter(
            self.expression,
            moment.astimezone(UTC),
            second_at_beginning=self.has_seconds,
            day_or=False,
        )
        result: datetime = iterator.get_next(datetime)
        return result.astimezone(UTC)


def resolve_binding_expressions(
    text: str, environ: Mapping[str, str], defaults: SettingProvider | None = None
) -> str:
    """Replace every ``%NAME%`` with the environment value, else ``defaults(NAME)``.

    Raises :class:`UnresolvedSettingError` when neither has a value.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        value = environ.get(name)
        if value is None and defaults is not None:
            value = defaults(name)
        if value is None:
            raise UnresolvedSettingError(name)
        return value

    return _BINDING_RE.sub(replace, text)


def app_setting_default(name: str) -> str | None:
    """The app's documented default of a setting (``services.video_rag.settings``), if any."""
    try:
        from services.video_rag.settings import (  # type: ignore[import-not-found,unused-ignore]
            setting_default,
        )
    except ImportError:
        return None
    value = setting_default(name)
    return None if value is None else str(value)


@dataclass(frozen=True)
class ScheduledTimer:
    """A timer function with its resolved expression and parsed schedule."""

    function: TimerFunction
    expression: str
    schedule: CronSchedule


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
            prepared.append(ScheduledTimer(timer, expression, CronSchedule(expression)))
        except UnresolvedSettingError as exc:
            logger.error(
                "Timer function '%s' is disabled: app setting '%s' (used in schedule '%s') "
                "is not set.",
                timer.name,
                exc.name,
                timer.schedule,
            )
        except ScheduleError as exc:
            logger.error("Timer function '%s' is disabled: %s", timer.name, exc)
    return prepared


class TimerScheduler:
    """Runs each timer on its schedule (and once at startup when requested).

    Invocations of one timer never overlap; after a run the next occurrence is
    computed from the current time, so occurrences missed while the function
    was running are skipped. Exceptions are logged and never stop the timer.
    """

    def __init__(
        self, timers: Iterable[ScheduledTimer], *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.timers = list(timers)
        self._clock = clock
        self._tasks: list[asyncio.Task[None]] = []
        self.next_runs: dict[str, datetime] = {}

    def start(self) -> None:
        """Start one background task per timer (call from a running event loop)."""
        loop = asyncio.get_running_loop()
        for timer in self.timers:
            self._tasks.append(loop.create_task(self._run(timer), name=timer.function.name))

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
            while (remaining := (due - self._clock()).total_seconds()) > 0:
                await asyncio.sleep(min(remaining, _MAX_SLEEP_SECONDS))
            late = self._clock() - due
            await self.invoke(timer, past_due=late > PAST_DUE_TOLERANCE, reason="Timer fired")
            last = max(due, self._clock())

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
        started = asyncio.get_running_loop().time()
        try:
            await _call_in_daemon_thread(function.func, {function.arg_name: request})
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


async def _call_in_daemon_thread(func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """Await an async function, or run a sync one in a fresh daemon thread: a stuck timer
    function must never keep the process alive at shutdown."""
    if inspect.iscoroutinefunction(func):
        return await func(**kwargs)
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():
            outcome()

    def target() -> None:
        try:
            result = context.run(func, **kwargs)
        except BaseException as exc:  # handed to the awaiting task
            error = exc
            with contextlib.suppress(RuntimeError):  # the loop may be closed already
                loop.call_soon_threadsafe(settle, lambda: future.set_exception(error))
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, lambda: future.set_result(result))

    name = f"local_host timer {getattr(func, '__name__', 'function')}"
    threading.Thread(target=target, name=name, daemon=True).start()
    return await future


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
