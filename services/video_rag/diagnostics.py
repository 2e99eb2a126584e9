"""Start-up diagnostics and log context.

- Every log line written while an invocation runs carries its id (`[request_id] message`), from
  any logger (ours, SQLAlchemy's, the YouTube client's), so one request can be followed.
- The first invocation logs the resolved configuration once, secrets masked, and every setting
  problem by name.
- With `APPLICATIONINSIGHTS_CONNECTION_STRING` set, logs and traces are also exported through
  azure-monitor-opentelemetry (imported only then).
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from typing import Any

from services.video_rag.settings import Settings

logger = logging.getLogger("video_rag")

_invocation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "invocation_id", default=None
)
_install_lock = threading.Lock()
_installed = False
_configuration_logged = False

# Settings fields whose values are secrets: logged as "set" / "not set" only.
_SECRET_FIELDS = frozenset(
    {
        "openai_api_key",
        "azure_openai_api_key",
        "embedding_api_key",
        "webshare_proxy_username",  # an account name: logged as set or not, like its password
        "webshare_proxy_password",
        "applicationinsights_connection_string",
    }
)


def current_invocation_id() -> str | None:
    """The id of the request or timer run being handled, if any."""
    return _invocation_id.get()


@contextmanager
def invocation(invocation_id: str) -> Iterator[None]:
    """Mark everything logged inside the block with `invocation_id`."""
    install_log_context()
    token = _invocation_id.set(invocation_id)
    try:
        yield
    finally:
        _invocation_id.reset(token)


def bind_invocation(invocation_id: str) -> None:
    """Mark everything logged from here on in the current context (a task that serves one
    request, such as a streamed response's) with `invocation_id`; the context ends with it."""
    install_log_context()
    _invocation_id.set(invocation_id)


def install_log_context() -> None:
    """Make every log record carry the current invocation id (once per process)."""
    global _installed
    if _installed:
        return
    with _install_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            invocation_id = _invocation_id.get()
            record.request_id = invocation_id or "-"
            if invocation_id is not None and isinstance(record.msg, str):
                record.msg = f"[{invocation_id}] {record.msg}"
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


def masked_configuration(settings: Settings) -> dict[str, Any]:
    """The resolved settings as they may be logged: secrets as set/not set, credentials in URLs
    replaced, and the problems by name."""
    resolved: dict[str, Any] = {}
    for field in fields(settings):
        name = field.name
        value = getattr(settings, name)
        if name == "problems":
            continue
        if name in _SECRET_FIELDS:
            resolved[name] = "set" if value else "not set"
        elif name == "database_url":
            resolved[name] = _masked_database_url(value)
        elif isinstance(value, str):
            resolved[name] = _without_credentials(value)
        elif isinstance(value, tuple):
            resolved[name] = list(value)
        else:
            resolved[name] = value
    resolved["problems"] = [f"{p.name}: {p.message}" for p in settings.problems]
    return resolved


def log_configuration_once(settings: Settings) -> None:
    """Log the resolved configuration at the first invocation of this process."""
    global _configuration_logged
    if _configuration_logged:
        return
    _configuration_logged = True
    logger.info("configuration %s", json.dumps(masked_configuration(settings), sort_keys=True))
    for problem in settings.problems:
        logger.warning("setting %s: %s", problem.name, problem.message)


def configure_telemetry(settings: Settings) -> bool:
    """Export logs and traces to Application Insights when its connection string is set.
    Returns whether it was configured; a failure is logged, never raised."""
    connection_string = settings.applicationinsights_connection_string
    if not connection_string:
        return False
    try:
        from azure.monitor.opentelemetry import configure_azure_monitor

        configure_azure_monitor(connection_string=connection_string, logger_name="video_rag")
    except Exception as exc:  # telemetry must never break the app
        logger.warning("Application Insights export not configured: %s", type(exc).__name__)
        return False
    return True


def _without_credentials(value: str) -> str:
    """`value` with the credentials of a URL (everything between `://` and its last `@`, which
    covers unencoded passwords holding `@`, `:` or `/`) replaced by `***`."""
    scheme, separator, rest = value.partition("://")
    if not separator or "@" not in rest:
        return value
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"


def _masked_database_url(url: str | None) -> str | None:
    if url is None:
        return None
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
