"""Reading ``host.json`` and ``local.settings.json`` the way Core Tools does.

Only the parts the local host needs are read: the HTTP route prefix from
``host.json`` and ``Values`` / ``Host`` from ``local.settings.json``. Keys are
matched case-insensitively, as the .NET host does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger("local_host")

DEFAULT_ROUTE_PREFIX = "api"
DEFAULT_PORT = 7071
HOST_JSON = "host.json"
LOCAL_SETTINGS_JSON = "local.settings.json"


class ConfigError(Exception):
    """A configuration file or option is unusable; the host cannot start."""


@dataclass(frozen=True)
class CorsSettings:
    """CORS configuration: allowed origins (``*`` allowed) and credentials flag."""

    origins: tuple[str, ...]
    allow_credentials: bool = False


@dataclass(frozen=True)
class LocalSettings:
    """The useful content of ``local.settings.json``.

    ``path`` is None when no usable file was loaded.
    """

    values: Mapping[str, str] = field(default_factory=dict)
    local_http_port: int | None = None
    cors: CorsSettings | None = None
    path: Path | None = None


def get_ci(mapping: Any, key: str) -> Any:
    """Return ``mapping[key]`` matching the key case-insensitively (None if absent)."""
    if not isinstance(mapping, Mapping):
        return None
    if key in mapping:
        return mapping[key]
    lowered = key.lower()
    for name, value in mapping.items():
        if isinstance(name, str) and name.lower() == lowered:
            return value
    return None


def load_route_prefix(root: Path) -> str:
    """Read ``extensions.http.routePrefix`` from ``<root>/host.json``.

    Returns ``"api"`` when the file or the key is missing; an empty string means
    "no prefix". Raises :class:`ConfigError` when host.json is not valid JSON.
    """
    path = root / HOST_JSON
    if not path.is_file():
        logger.warning(
            "No %s found in %s; using defaults (routePrefix '%s').",
            HOST_JSON,
            root,
            DEFAULT_ROUTE_PREFIX,
        )
        return DEFAULT_ROUTE_PREFIX
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"Cannot read {path}: {exc}") from exc
    prefix = get_ci(get_ci(get_ci(data, "extensions"), "http"), "routePrefix")
    if prefix is None:
        return DEFAULT_ROUTE_PREFIX
    if not isinstance(prefix, str):
        raise ConfigError(f"{path}: extensions.http.routePrefix must be a string")
    return prefix.strip().strip("/")


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return False


def _as_setting_string(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    return json.dumps(value)


def parse_cors(origins: str | None, allow_credentials: bool = False) -> CorsSettings | None:
    """Turn a comma-separated origin list into :class:`CorsSettings` (None if empty)."""
    if not origins:
        return None
    items = tuple(item.strip() for item in origins.split(",") if item.strip())
    if not items:
        return None
    return CorsSettings(origins=items, allow_credentials=allow_credentials)


def load_local_settings(root: Path) -> LocalSettings:
    """Load ``<root>/local.settings.json``; never raises.

    A missing file is normal (debug log); an unreadable or invalid file is
    reported with a warning and ignored, as are individual bad entries.
    """
    path = root / LOCAL_SETTINGS_JSON
    if not path.is_file():
        logger.debug("No %s in %s.", LOCAL_SETTINGS_JSON, root)
        return LocalSettings()
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        logger.warning("Ignoring %s: it is not valid JSON (%s).", path, exc)
        return LocalSettings()
    if not isinstance(data, Mapping):
        logger.warning("Ignoring %s: the top level must be a JSON object.", path)
        return LocalSettings()

    values: dict[str, str] = {}
    raw_values = get_ci(data, "Values")
    if _as_bool(get_ci(data, "IsEncrypted")):
        logger.warning("%s is encrypted; its Values are ignored by the local host.", path)
    elif isinstance(raw_values, Mapping):
        for name, raw in raw_values.items():
            text = _as_setting_string(raw)
            if isinstance(name, str) and name and text is not None:
                values[name] = text
    elif raw_values is not None:
        logger.warning("Ignoring %s: 'Values' must be an object.", path)

    host = get_ci(data, "Host")
    port: int | None = None
    raw_port = get_ci(host, "LocalHttpPort")
    if raw_port not in (None, ""):
        try:
            port = _parse_port(raw_port)
        except ConfigError as exc:
            logger.warning("Ignoring Host.LocalHttpPort in %s: %s", path, exc)
    raw_cors = get_ci(host, "CORS")
    cors = parse_cors(
        raw_cors if isinstance(raw_cors, str) else None,
        _as_bool(get_ci(host, "CORSCredentials")),
    )
    return LocalSettings(values=values, local_http_port=port, cors=cors, path=path)


def apply_values(values: Mapping[str, str], environ: MutableMapping[str, str]) -> list[str]:
    """Export settings to ``environ`` without overriding variables already set.

    Returns the names that were exported.
    """
    applied: list[str] = []
    for name, value in values.items():
        if name in environ:
            continue
        environ[name] = value
        applied.append(name)
    return applied


def _parse_port(value: Any) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"invalid port {value!r}")
    try:
        port = int(str(value).strip())
    except ValueError as exc:
        raise ConfigError(f"invalid port {value!r}") from exc
    if not 0 <= port <= 65535:
        raise ConfigError(f"port {port} is out of range")
    return port


def resolve_port(
    cli_port: int | None,
    environ: Mapping[str, str],
    settings_port: int | None,
) -> int:
    """Pick the port: ``--port`` > ``PORT`` env var > ``Host.LocalHttpPort`` > 7071.

    Raises :class:`ConfigError` for an invalid ``PORT`` value.
    """
    if cli_port is not None:
        return _parse_port(cli_port)
    env_port = environ.get("PORT", "").strip()
    if env_port:
        try:
            return _parse_port(env_port)
        except ConfigError as exc:
            raise ConfigError(f"PORT environment variable: {exc}") from exc
    if settings_port is not None:
        return settings_port
    return DEFAULT_PORT
