"""Timer functions: startup runs, schedule runs, failures, settings resolution."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.functions.timer import TimerRequest

from local_host.discovery import TimerFunction, discover_functions
from local_host.timers import ScheduledTimer, TimerScheduler, prepare_timers
from tests.local_host import toy_app

EVERY_SECOND = "* * * * * *"
BOUND_SECONDS = 10.0


def _timer(
    function: Callable[..., Any],
    schedule: str = EVERY_SECOND,
    run_on_startup: bool = False,
    arg_name: str = "timer",
) -> ScheduledTimer:
    definition = TimerFunction(function.__name__, schedule, run_on_startup, arg_name, function)
    (prepared,) = prepare_timers([definition], {})
    return prepared


async def _wait_for(condition: Callable[[], bool], bound: float = BOUND_SECONDS) -> None:
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def _run(coroutine: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(coroutine(), timeout=BOUND_SECONDS * 2))


def test_run_on_startup_fires_immediately() -> None:
    calls: list[TimerRequest] = []

    def on_start(timer: TimerRequest) -> None:
        calls.append(timer)

    async def scenario() -> None:
        scheduler = TimerScheduler([_timer(on_start, "0 0 0 1 1 *", run_on_startup=True)])
        scheduler.start()
        try:
            await _wait_for(lambda: len(calls) == 1)
        finally:
            await scheduler.stop()

    _run(scenario)
    assert isinstance(calls[0], TimerRequest)
    assert calls[0].past_due is False


def test_fires_on_schedule_in_a_thread_and_logs_next_run(caplog: pytest.LogCaptureFixture) -> None:
    threads: list[str] = []

    def every_second(mytimer: TimerRequest) -> None:
        threads.append(threading.current_thread().name)

    main_thread = threading.current_thread().name

    async def scenario() -> None:
        scheduler = TimerScheduler([_timer(every_second, arg_name="mytimer")])
        scheduler.start()
        try:
            await _wait_for(lambda: len(threads) >= 2)
            # The next run is in the future once the scheduler has moved past the one that just
            # fired (an immediate check raced it at the second's boundary).
            await _wait_for(lambda: scheduler.next_runs["every_second"] > datetime.now(UTC))
        finally:
            await scheduler.stop()

    with caplog.at_level("INFO", logger="local_host"):
        _run(scenario)
    assert main_thread not in threads
    assert "next run at" in caplog.text
    assert "Executed 'Functions.every_second' (Succeeded" in caplog.text


def test_an_async_timer_runs_on_the_loop() -> None:
    threads: list[str] = []

    async def async_timer(timer: TimerRequest) -> None:
        await asyncio.sleep(0)
        threads.append(threading.current_thread().name)

    async def scenario() -> None:
        scheduler = TimerScheduler([_timer(async_timer, run_on_startup=True)])
        scheduler.start()
        try:
            await _wait_for(lambda: len(threads) >= 2)
        finally:
            await scheduler.stop()

    _run(scenario)
    assert set(threads) == {threading.main_thread().name}


def test_failing_timer_keeps_running(caplog: pytest.LogCaptureFixture) -> None:
    attempts: list[int] = []

    def failing(timer: TimerRequest) -> None:
        attempts.append(1)
        raise ValueError("timer exploded")

    async def scenario() -> None:
        scheduler = TimerScheduler([_timer(failing, run_on_startup=True)])
        scheduler.start()
        try:
            await _wait_for(lambda: len(attempts) >= 2)
        finally:
            await scheduler.stop()

    _run(scenario)
    assert "timer exploded" in caplog.text
    assert "(Failed" in caplog.text


def test_stop_does_not_wait_for_a_stuck_sync_timer() -> None:
    release = threading.Event()
    started = threading.Event()

    def stuck(timer: TimerRequest) -> None:
        started.set()
        release.wait(30)

    async def scenario() -> None:
        scheduler = TimerScheduler([_timer(stuck, run_on_startup=True)])
        scheduler.start()
        await _wait_for(started.is_set)
        began = time.monotonic()
        await scheduler.stop()
        assert time.monotonic() - began < 2

    try:
        _run(scenario)
    finally:
        release.set()


def test_prepare_timers_resolves_and_skips(caplog: pytest.LogCaptureFixture) -> None:
    def noop(timer: TimerRequest) -> None:
        return None

    definitions = [
        TimerFunction("from_env", "%A_SCHEDULE%", False, "timer", noop),
        TimerFunction("from_defaults", "%B_SCHEDULE%", False, "timer", noop),
        TimerFunction("unresolved", "%C_SCHEDULE%", False, "timer", noop),
        TimerFunction("invalid", "every day", False, "timer", noop),
    ]
    defaults = {"B_SCHEDULE": "0 0 0 * * *"}.get
    prepared = prepare_timers(definitions, {"A_SCHEDULE": "*/5 * * * * *"}, defaults)
    assert [(t.function.name, t.expression) for t in prepared] == [
        ("from_env", "*/5 * * * * *"),
        ("from_defaults", "0 0 0 * * *"),
    ]
    assert "C_SCHEDULE" in caplog.text
    assert "'unresolved' is disabled" in caplog.text
    assert "'invalid' is disabled" in caplog.text


def test_toy_app_timer_is_discovered_and_runs_with_its_arg_name() -> None:
    (timer,) = discover_functions(toy_app.app).timers
    assert (timer.name, timer.schedule, timer.run_on_startup, timer.arg_name) == (
        "toy_timer",
        "%TOY_TIMER_SCHEDULE%",
        True,
        "mytimer",
    )
    (prepared,) = prepare_timers([timer], {"TOY_TIMER_SCHEDULE": EVERY_SECOND})
    before = len(toy_app.TIMER_CALLS)

    async def scenario() -> None:
        scheduler = TimerScheduler([prepared])
        scheduler.start()
        try:
            await _wait_for(lambda: len(toy_app.TIMER_CALLS) >= before + 2)
        finally:
            await scheduler.stop()

    _run(scenario)
