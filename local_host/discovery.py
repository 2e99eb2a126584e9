"""Loading the FunctionApp object and indexing its functions.

``FunctionApp.get_functions()`` may only be called once per app object (a
second call fails on "duplicate" names), so the result is cached per object.
"""

from __future__ import annotations

import importlib
import logging
import sys
import typing
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from azure.functions.decorators.http import HttpTrigger
from azure.functions.decorators.timer import TimerTrigger

logger = logging.getLogger("local_host")

DEFAULT_APP_SPEC = "function_app:app"


class AppLoadError(Exception):
    """The app object named by ``module:attr`` cannot be imported."""


@dataclass(frozen=True)
class HttpFunction:
    """An HTTP-triggered function."""

    name: str
    route: str
    methods: frozenset[str] | None
    arg_name: str
    func: Callable[..., Any]
    auth_level: str | None = None
    streams: bool = False
    """Takes the HTTP-streams request type (a Starlette request) rather than func.HttpRequest."""


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
    """Everything the host serves, plus functions it cannot run locally."""

    http: tuple[HttpFunction, ...] = ()
    timers: tuple[TimerFunction, ...] = ()
    unsupported: tuple[tuple[str, str], ...] = ()


_CACHE: weakref.WeakKeyDictionary[Any, FunctionCatalog] = weakref.WeakKeyDictionary()
_STRONG_CACHE: dict[int, tuple[Any, FunctionCatalog]] = {}


def load_app(spec: str = DEFAULT_APP_SPEC) -> Any:
    """Import ``module:attr`` (attr defaults to ``app``) and return the object."""
    module_name, _, attr_path = spec.partition(":")
    module_name = module_name.strip()
    attr_path = attr_path.strip() or "app"
    if not module_name:
        raise AppLoadError(f"invalid app spec {spec!r}; expected 'module:attr'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise AppLoadError(f"cannot import module '{module_name}': {exc}") from exc
    for attr in attr_path.split("."):
        try:
            obj = getattr(obj, attr)
        except AttributeError as exc:
            raise AppLoadError(f"module '{module_name}' has no attribute '{attr_path}'") from exc
    if not callable(getattr(obj, "get_functions", None)):
        raise AppLoadError(f"'{spec}' is not a FunctionApp (it has no get_functions())")
    return obj


def _method_name(method: Any) -> str:
    if isinstance(method, Enum):
        return str(method.value).upper()
    return str(method).upper()


def _normalize_methods(methods: Any) -> frozenset[str] | None:
    if methods is None:
        return None
    if isinstance(methods, (str, Enum)):
        methods = [methods]
    names = frozenset(_method_name(m) for m in methods)
    return names or None


def _auth_level(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def _index(app: Any) -> FunctionCatalog:
    http: list[HttpFunction] = []
    timers: list[TimerFunction] = []
    unsupported: list[tuple[str, str]] = []
    for function in app.get_functions():
        name = str(function.get_function_name())
        trigger = function.get_trigger()
        user_function = function.get_user_function()
        if isinstance(trigger, HttpTrigger):
            route = trigger.route if trigger.route is not None else name
            http.append(
                HttpFunction(
                    name=name,
                    route=str(route),
                    methods=_normalize_methods(trigger.methods),
                    arg_name=str(trigger.name),
                    func=user_function,
                    auth_level=_auth_level(trigger.auth_level),
                    streams=_takes_streams_request(user_function, str(trigger.name)),
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
            continue
        _warn_about_extra_bindings(function, trigger, name)
    return FunctionCatalog(tuple(http), tuple(timers), tuple(unsupported))


def _takes_streams_request(function: Callable[..., Any], arg_name: str) -> bool:
    """Whether the trigger parameter is annotated with the request type of the HTTP-streams
    extension the app imported (FastAPI's `Request`, for `azurefunctions-extensions-http-fastapi`),
    the worker's own test."""
    extension = sys.modules.get("azurefunctions.extensions.base")
    if extension is None:  # an app that never imported an HTTP-streams extension
        return False
    try:
        annotation = typing.get_type_hints(function).get(arg_name)
    except Exception:  # unresolvable annotations: treat it as a classic function
        return False
    return bool(extension.RequestTrackerMeta.check_type(annotation))


def _warn_about_extra_bindings(function: Any, trigger: Any, name: str) -> None:
    extra = []
    for binding in function.get_bindings():
        if binding is trigger:
            continue
        if getattr(binding, "name", None) == "$return" and binding.get_binding_name() == "http":
            continue
        extra.append(f"{binding.get_binding_name()} '{getattr(binding, 'name', '?')}'")
    if extra:
        logger.warning(
            "Function '%s' declares bindings the local host does not provide: %s.",
            name,
            ", ".join(extra),
        )


def discover_functions(app: Any) -> FunctionCatalog:
    """Index the functions of a FunctionApp, calling ``get_functions()`` once per app."""
    try:
        cached = _CACHE.get(app)
    except TypeError:  # not weak-referenceable
        entry = _STRONG_CACHE.get(id(app))
        cached = entry[1] if entry is not None and entry[0] is app else None
    if cached is not None:
        return cached
    catalog = _index(app)
    try:
        _CACHE[app] = catalog
    except TypeError:
        _STRONG_CACHE[id(app)] = (app, catalog)
    return catalog
