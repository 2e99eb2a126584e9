"""Calling user functions: arguments, invocation context, sync/async dispatch."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import secrets
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from azure.functions import _abc as azf_abc
from starlette.concurrency import run_in_threadpool


class _TraceContext(azf_abc.TraceContext):
    def __init__(self) -> None:
        self._parent = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"

    @property
    def trace_state(self) -> str:
        return ""

    @property
    def trace_parent(self) -> str:
        return self._parent

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _RetryContext(azf_abc.RetryContext):
    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> azf_abc.RpcException:
        raise AttributeError("no retry exception: this invocation is not a retry")


class InvocationContext(azf_abc.Context):
    """A minimal ``func.Context`` for functions that take a ``context`` argument."""

    def __init__(self, invocation_id: str, function_name: str, function_directory: str) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._function_directory = function_directory
        self._trace_context = _TraceContext()
        self._retry_context = _RetryContext()
        self._thread_local = threading.local()
        self._thread_local.invocation_id = invocation_id

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> type[threading.local]:
        # The abstract annotation says "type", the real worker returns an instance.
        return self._thread_local  # type: ignore[return-value]

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> azf_abc.TraceContext:
        return self._trace_context

    @property
    def retry_context(self) -> azf_abc.RetryContext:
        return self._retry_context


def _signature_names(func: Callable[..., Any]) -> frozenset[str]:
    try:
        return frozenset(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return frozenset()


_cached_signature_names = lru_cache(maxsize=256)(_signature_names)


def _parameter_names(func: Callable[..., Any]) -> frozenset[str]:
    try:
        return _cached_signature_names(func)
    except TypeError:  # unhashable callable
        return _signature_names(func)


def build_kwargs(
    func: Callable[..., Any], arg_name: str, trigger_value: Any, context: azf_abc.Context
) -> dict[str, Any]:
    """Keyword arguments for a call: the trigger value, plus ``context`` if accepted."""
    kwargs: dict[str, Any] = {arg_name: trigger_value}
    if arg_name != "context" and "context" in _parameter_names(func):
        kwargs["context"] = context
    return kwargs


def is_async(func: Callable[..., Any]) -> bool:
    """Whether calling ``func`` returns a coroutine (``async def``)."""
    return inspect.iscoroutinefunction(func)


async def call_in_threadpool(func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """Await an async function, or run a sync one in Starlette's threadpool."""
    if is_async(func):
        return await func(**kwargs)
    result = await run_in_threadpool(func, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


async def call_in_daemon_thread(func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """Await an async function, or run a sync one in a fresh daemon thread.

    Used for timers: a stuck timer function must never keep the process alive
    at shutdown, so it does not use a (non-daemon) pool thread.
    """
    if is_async(func):
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
    result = await future
    if inspect.isawaitable(result):
        result = await result
    return result
