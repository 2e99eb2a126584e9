"""Fixtures of the browser tests: the real local host against a fresh migrated database with the
offline provider, a second origin that serves the page as a plain static file, and headless
Chromium (Debian's, driven by Playwright's sync API). Nothing leaves the machine: every request
the browser makes to a host other than the loopback address is aborted, and YouTube is answered
with a local stand-in page."""

from __future__ import annotations

import functools
import http.server
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import PROJECT_ROOT
from tests.http import conftest as http_fixtures
from tests.http.conftest import clean_environment, free_port, running_host

if TYPE_CHECKING:
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        ConsoleMessage,
        Dialog,
        Error,
        Page,
        Route,
    )

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
PAGE_FILE = PROJECT_ROOT / "services" / "video_rag" / "api" / "static" / "chat.html"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
LOOPBACK = "127.0.0.1"
LOCAL_HOSTS = frozenset({LOOPBACK, "localhost"})
YOUTUBE_STAND_IN = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>YouTube stand-in</title>"
    "</head><body><p>YouTube stand-in page</p></body></html>"
)
TIMEOUT_MS = 20_000
PLAYER_STAND_IN = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Player stand-in</title>"
    "</head><body style='background:#222;color:#eee'><p>YouTube player stand-in</p></body></html>"
)
SCREENS = Path("/tmp/screens")  # noqa: S108 - screenshots for people to look at, outside the repo


def _thumbnail_png() -> bytes:
    """A 16x9 grey PNG standing in for YouTube's thumbnails."""
    width, height = 16, 9
    rows = b"".join(b"\x00" + b"\x90\xa0\xb4" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


THUMBNAIL = _thumbnail_png()

# The HTTP tests' fixture (a fresh migrated database of its own), made available to this folder.
host_database_url = http_fixtures.host_database_url


def browser_unavailable_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM.exists():
        return (
            f"browser tests need Debian's Chromium at {CHROMIUM} "
            "(as root: apt-get update && apt-get install -y chromium)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "browser tests need the playwright package (pip install -r requirements-dev.txt)"
    return None


@pytest.fixture(scope="module")
def other_origin_port() -> int:
    """The port of the second origin that serves the page; the host allows it through CORS."""
    return free_port()


@pytest.fixture(scope="module")
def ui_host(
    host_database_url: str, other_origin_port: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The function app served by the local host (offline provider) on a free port; yields the
    API base URL (…/api). Fails, naming the fix, when the app does not serve the chat page."""
    env = clean_environment(PG_VECTOR_CONNECTION_STRING=host_database_url, LLM_PROVIDER="offline")
    log = tmp_path_factory.mktemp("browser-host") / "host.log"
    cors = f"http://{LOOPBACK}:{other_origin_port}"
    with running_host(env, "--no-migrate", "--cors", cors, log=log) as base:
        probe = httpx.get(f"{base}/ui", timeout=10)
        if probe.status_code != 200:
            pytest.fail(
                f"GET /api/ui answered {probe.status_code}: function_app.py must register "
                "the chat page's blueprint (app.register_blueprint(ui.bp))"
            )
        yield base


class _PageOnlyHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the static folder of the page, quietly."""

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output clean."""


@pytest.fixture(scope="module")
def other_origin(other_origin_port: int) -> Iterator[str]:
    """`http://127.0.0.1:<port>` serving chat.html as a plain file (no CSP, no app)."""
    handler = functools.partial(_PageOnlyHandler, directory=str(PAGE_FILE.parent))
    server = http.server.ThreadingHTTPServer((LOOPBACK, other_origin_port), handler)
    thread = threading.Thread(target=server.serve_forever, name="other-origin", daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{other_origin_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium, launched once per module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield launched
        finally:
            launched.close()


def _leaves_the_machine(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOCAL_HOSTS


def _abort(route: Route) -> None:
    route.abort("blockedbyclient")


def _youtube_stand_in(route: Route) -> None:
    route.fulfill(status=200, content_type="text/html; charset=utf-8", body=YOUTUBE_STAND_IN)


def _player_stand_in(route: Route) -> None:
    route.fulfill(status=200, content_type="text/html; charset=utf-8", body=PLAYER_STAND_IN)


def _thumbnail_stand_in(route: Route) -> None:
    route.fulfill(status=200, content_type="image/png", body=THUMBNAIL)


def open_context(browser: Browser, width: int = 1280, height: int = 900) -> BrowserContext:
    """A fresh browser profile (empty storage, clipboard allowed) with a `width` x `height`
    viewport. Routes registered later win: YouTube's watch page, its privacy-enhanced player and
    its thumbnails get local stand-ins, everything else off the loopback address is aborted."""
    fresh = browser.new_context(
        viewport={"width": width, "height": height},
        locale="en-US",
        timezone_id="UTC",
        permissions=["clipboard-read", "clipboard-write"],
    )
    fresh.set_default_timeout(TIMEOUT_MS)
    fresh.route(_leaves_the_machine, _abort)
    fresh.route("https://www.youtube.com/**", _youtube_stand_in)
    fresh.route("https://www.youtube-nocookie.com/**", _player_stand_in)
    fresh.route("https://i.ytimg.com/**", _thumbnail_stand_in)
    return fresh


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh desktop-sized browser profile (see `open_context`)."""
    fresh = open_context(browser)
    try:
        yield fresh
    finally:
        fresh.close()


@pytest.fixture
def console_messages() -> list[str]:
    """What the page logged to its console (`type: text`), for CSP and script errors."""
    return []


@pytest.fixture
def page(context: BrowserContext, console_messages: list[str]) -> Page:
    """A tab in the fresh profile (see `open_page`)."""
    return open_page(context, console_messages)


def open_page(context: BrowserContext, console_messages: list[str]) -> Page:
    """A tab in `context`; its console messages go to `console_messages`, and its confirmation
    dialogs are accepted."""
    tab = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        console_messages.append(f"{message.type}: {message.text}")

    def on_page_error(error: Error) -> None:
        console_messages.append(f"pageerror: {error}")

    def on_dialog(dialog: Dialog) -> None:
        dialog.accept()

    tab.on("console", on_console)
    tab.on("pageerror", on_page_error)
    tab.on("dialog", on_dialog)
    return tab
