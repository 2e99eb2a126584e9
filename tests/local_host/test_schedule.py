"""NCRONTAB / cron schedules and %NAME% binding expressions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from local_host.timers import (
    CronSchedule,
    ScheduleError,
    UnresolvedSettingError,
    app_setting_default,
    resolve_binding_expressions,
)

START = datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)  # a Monday


def _at(year: int, month: int, day: int, hour: int, minute: int, second: int) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("*/5 * * * * *", _at(2024, 1, 1, 0, 0, 5)),
        ("0 */5 * * * *", _at(2024, 1, 1, 0, 5, 0)),
        ("0 0 0 * * *", _at(2024, 1, 2, 0, 0, 0)),
        ("30 15 9 * * Mon-Fri", _at(2024, 1, 1, 9, 15, 30)),
        ("0 0 12 * * 6", _at(2024, 1, 6, 12, 0, 0)),
        ("* * * * * *", _at(2024, 1, 1, 0, 0, 1)),
    ],
)
def test_six_field_ncrontab(expression: str, expected: datetime) -> None:
    schedule = CronSchedule(expression)
    assert schedule.next_after(START) == expected


def test_five_field_cron_runs_at_second_zero() -> None:
    schedule = CronSchedule("*/15 * * * *")
    assert schedule.next_after(START) == _at(2024, 1, 1, 0, 15, 0)


def test_next_occurrence_is_strictly_after() -> None:
    schedule = CronSchedule("0 * * * * *")
    assert schedule.next_after(_at(2024, 1, 1, 0, 1, 0)) == _at(2024, 1, 1, 0, 2, 0)


def test_successive_occurrences() -> None:
    schedule = CronSchedule("0 0 */6 * * *")
    moment = START
    seen = []
    for _ in range(4):
        moment = schedule.next_after(moment)
        seen.append(moment.hour)
    assert seen == [6, 12, 18, 0]


def test_day_of_month_and_day_of_week_must_both_match() -> None:
    # NCRONTAB: the 13th that is also a Friday (September 2024).
    schedule = CronSchedule("0 0 0 13 * Fri")
    assert schedule.next_after(START) == _at(2024, 9, 13, 0, 0, 0)


def test_non_utc_input_is_converted() -> None:
    from datetime import timezone

    plus_two = timezone(timedelta(hours=2))
    moment = datetime(2024, 1, 1, 2, 0, 0, tzinfo=plus_two)  # 00:00 UTC
    assert CronSchedule("0 30 0 * * *").next_after(moment) == _at(2024, 1, 1, 0, 30, 0)


@pytest.mark.parametrize("bad", ["", "* * * *", "* * * * * * * *", "61 * * * * *", "nonsense"])
def test_invalid_cron(bad: str) -> None:
    with pytest.raises(ScheduleError):
        CronSchedule(bad)


def test_binding_expression_from_environment() -> None:
    assert resolve_binding_expressions("%SCHED%", {"SCHED": "0 0 * * * *"}) == "0 0 * * * *"
    assert resolve_binding_expressions("0 %M% * * * *", {"M": "15"}) == "0 15 * * * *"
    assert resolve_binding_expressions("0 0 * * * *", {}) == "0 0 * * * *"


def test_binding_expression_falls_back_to_defaults() -> None:
    asked: list[str] = []

    def defaults(name: str) -> str | None:
        asked.append(name)
        return "0 0 0 * * *" if name == "KNOWN" else None

    assert resolve_binding_expressions("%KNOWN%", {}, defaults) == "0 0 0 * * *"
    assert resolve_binding_expressions("%KNOWN%", {"KNOWN": "env wins"}, defaults) == "env wins"
    with pytest.raises(UnresolvedSettingError) as raised:
        resolve_binding_expressions("%UNKNOWN%", {}, defaults)
    assert raised.value.name == "UNKNOWN"
    assert asked == ["KNOWN", "UNKNOWN"]


def test_binding_expression_without_defaults() -> None:
    with pytest.raises(UnresolvedSettingError):
        resolve_binding_expressions("%MISSING%", {})


def test_the_apps_documented_schedule_is_the_default() -> None:
    from services.video_rag.settings import setting_default

    assert app_setting_default("SESSION_CLEANUP_SCHEDULE") == setting_default(
        "SESSION_CLEANUP_SCHEDULE"
    )
    assert CronSchedule(app_setting_default("SESSION_CLEANUP_SCHEDULE") or "")
    assert app_setting_default("NO_SUCH_SETTING_XYZ") is None
