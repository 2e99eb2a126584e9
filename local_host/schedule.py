"""Timer schedules: NCRONTAB / cron expressions, TimeSpans and ``%NAME%`` settings."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from croniter import croniter  # type: ignore[import-untyped,unused-ignore]

logger = logging.getLogger("local_host")

SettingProvider = Callable[[str], "str | None"]

_BINDING_RE = re.compile(r"%([^%\s]+)%")
_TIMESPAN_RE = re.compile(r"(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,7}))?)?")
DEFAULTS_MODULE = "services.video_rag.settings"


class ScheduleError(ValueError):
    """The schedule expression is not a valid NCRONTAB, cron or TimeSpan."""


class UnresolvedSettingError(LookupError):
    """A ``%NAME%`` binding expression names a setting with no value."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


class Schedule:
    """Base class: computes the next occurrence strictly after a moment."""

    description: str

    def next_after(self, moment: datetime) -> datetime:
        """Next occurrence strictly after ``moment`` (aware UTC datetimes)."""
        raise NotImplementedError


class CronSchedule(Schedule):
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
        self.description = self.expression

    def next_after(self, moment: datetime) -> datetime:
        """Next occurrence strictly after ``moment``."""
        iterator = croniter(
            self.expression,
            moment.astimezone(UTC),
            second_at_beginning=self.has_seconds,
            day_or=False,
        )
        result: datetime = iterator.get_next(datetime)
        return result.astimezone(UTC)


class TimeSpanSchedule(Schedule):
    """A fixed interval such as ``00:05:00`` or ``1.00:00:00`` (first run after one interval)."""

    def __init__(self, expression: str) -> None:
        match = _TIMESPAN_RE.fullmatch(expression.strip())
        if match is None:
            raise ScheduleError(f"'{expression}' is not a TimeSpan")
        days, hours, minutes, seconds, fraction = match.groups()
        if int(hours) > 23 or int(minutes) > 59 or int(seconds or 0) > 59:
            raise ScheduleError(f"'{expression}' is not a valid TimeSpan")
        self.interval = timedelta(
            days=int(days or 0),
            hours=int(hours),
            minutes=int(minutes),
            seconds=int(seconds or 0),
            microseconds=int((fraction or "0").ljust(7, "0")) // 10,
        )
        if self.interval <= timedelta(0):
            raise ScheduleError(f"'{expression}' must be a positive interval")
        self.description = f"every {self.interval}"

    def next_after(self, moment: datetime) -> datetime:
        """``moment`` plus the interval."""
        return moment.astimezone(UTC) + self.interval


def parse_schedule(expression: str) -> Schedule:
    """Parse a resolved schedule: TimeSpan if it looks like one, else cron."""
    text = expression.strip()
    if ":" in text and _TIMESPAN_RE.fullmatch(text):
        return TimeSpanSchedule(text)
    return CronSchedule(text)


def resolve_binding_expressions(
    text: str,
    environ: Mapping[str, str],
    defaults: SettingProvider | None = None,
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


def load_setting_defaults() -> SettingProvider | None:
    """``services.video_rag.settings.setting_default`` when importable, else None."""
    try:
        from services.video_rag.settings import (  # type: ignore[import-not-found,unused-ignore]
            setting_default,
        )
    except ImportError as exc:
        logger.debug("No setting defaults provider (%s): %s", DEFAULTS_MODULE, exc)
        return None
    except Exception:
        logger.exception("Importing %s failed; setting defaults are unavailable.", DEFAULTS_MODULE)
        return None
    provider: SettingProvider = setting_default
    return provider
