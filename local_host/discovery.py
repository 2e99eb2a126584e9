"""Loading the FunctionApp object and indexing its functions.

The host serves what this app is made of: HTTP-streams functions (``async def f(req: Request) ->
Response`` with the ``Request`` of the HTTP-streams extension the app imported) on routes of
literal segments and ``{name}`` parameters, and timer functions. Anything else is listed at
startup as not supported and not run. ``FunctionApp.get_functions()`` may only be called once per
app object (a second call fails on "duplicate" names), so the result is cached per object.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
import typing
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from azure.functions.decorators.http import HttpTrigger
from azure.functions.decorators.timer import TimerTrigger

DEFAULT_APP_SPEC = "function_app:app"
_SEGMENT_RE = re.compile(r"[^{}]+|\{[A-Za-z_][A-Za-z0-9_]*\}")


class AppLoadError(Exception):
    """The app object named by ``module:attr`` cannot be imported."""


@dataclass(frozen=True)
class HttpFunction:
    """An HTTP-streams function: it takes the Starlette request and returns a Starlette response."""

    name: str
    route: str
    """The route template without surrounding slashes: literal segments and ``{name}`` ones."""
    methods: frozenset[str] | None
    """Upper-case method names; None accepts every method."""
    arg_name: str
    func: Callable[..., Any]


@dataclass(frozen=True)
class TimerFunction:
    """A timer-triggered function; ``schedule`` is the raw (unresolved) expression."""

    name: str
    schedule: str
    run_on_startup: bool
    arg_name: str
    func: Callable[..., Any]


@dataclass(frozen=True)
class FunctionCatalog:
    """Everything the host serves, plus (name, why) for the functions it does not run."""

    http: tuple[HttpFunction, ...] = ()
    timers: tuple[TimerFunction, ...] = ()
    unsupported: tuple[tuple[str, str], ...] = ()


_CACHE: weakref.WeakKeyDictionary[Any, FunctionCatalog] = weakref.WeakKeyDictionary()


def load_app(spec: str = DEFAULT_APP_SPEC) -> Any:
    """Import ``module:attr`` (attr defaults to ``app``) and return the object."""
    module_name, _, attr = spec.partition(":")
    module_name, attr = module_name.strip(), attr.strip() or "app"
    if not module_name:
        raise AppLoadError(f"invalid app spec {spec!r}; expected 'module:attr'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AppLoadError(f"cannot import module '{module_name}': {exc}") from exc
    app = getattr(module, attr, None)
    if app is None:
        raise AppLoadError(f"module '{module_name}' has no attribute '{attr}'")
    if not callable(getattr(app, "get_functions", None)):
        raise AppLoadError(f"'{spec}' is not a FunctionApp (it has no get_functions())")
    return app


def discover_functions(app: Any) -> FunctionCatalog:
    """Index the functions of a FunctionApp, calling ``get_functions()`` once per app."""
    cached = _CACHE.get(app)
    if cached is None:
        cached = _CACHE[app] = _index(app)
    return cached


def _index(app: Any) -> FunctionCatalog:
    http: list[HttpFunction] = []
    timers: list[TimerFunction] = []
    unsupported: list[tuple[str, str]] = []
    for function in app.get_functions():
        name = str(function.get_function_name())
        trigger = function.get_trigger()
        user_function = function.get_user_function()
        if isinstance(trigger, HttpTrigger):
            route = str(trigger.route if trigger.route is not None else name).strip().strip("/")
            problem = _http_problem(user_function, str(trigger.name), route)
            if problem:
                unsupported.append((name, f"httpTrigger ({problem})"))
                continue
            methods = trigger.methods
            http.append(
                HttpFunction(
                    name=name,
                    route=route,
                    methods=frozenset(_method(m) for m in methods) if methods else None,
                    arg_name=str(trigger.name),
                    func=user_function,
                )
            )
        elif isinstance(trigger, TimerTrigger):
            timers.append(
                TimerFunction(
                    name=name,
                    schedule=str(trigger.schedule),
                    run_on_startup=bool(trigger.run_on_startup),
                    arg_name=str(trigger.name),
                    func=user_function,
                )
            )
        else:
            kind = trigger.get_binding_name() if trigger is not None else "no trigger"
            unsupported.append((name, str(kind)))
    return FunctionCatalog(tuple(http), tuple(timers), tuple(unsupported))


def _method(method: Any) -> str:
    return str(method.value if isinstance(method, Enum) else method).upper()


def _http_problem(function: Callable[..., Any], arg_name: str, route: str) -> str | None:
    """Why the host cannot serve this HTTP function, or None when it can."""
    if route and not all(_SEGMENT_RE.fullmatch(segment) for segment in route.split("/")):
        return f"route '{route}': only literal segments and {{name}} parameters are served"
    if not (inspect.iscoroutinefunction(function) and _takes_streams_request(function, arg_name)):
        return "not an HTTP-streams function: async def f(req: Request) -> Response"
    return None


def _takes_streams_request(function: Callable[..., Any], arg_name: str) -> bool:
    """Whether the trigger parameter is annotated with the request type of the HTTP-streams
    extension the app imported (FastAPI's `Request`, for `azurefunctions-extensions-http-fastapi`),
    the worker's own test."""
    extension = sys.modules.get("azurefunctions.extensions.base")
    if extension is None:  # an app that never imported an HTTP-streams extension
        return False
    try:
        annotation = typing.get_type_hints(function).get(arg_name)
    except Exception:  # unresolvable annotations: not an HTTP-streams function
        return False
    return bool(extension.RequestTrackerMeta.check_type(annotation))
