"""`/` and `/api` on the local host point at the chat page: a browser lands on it, a client that
does not follow redirects gets a 302 with a JSON body naming the page, the OpenAPI document and
the health check. Other methods and paths keep the host's JSON 404/405."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from tests.browser.conftest import browser_unavailable_reason

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.db]

_UNAVAILABLE = browser_unavailable_reason()


@pytest.mark.parametrize("path", ["/", "/api", "/api/", "/API"])
def test_the_root_and_the_prefix_redirect_to_the_page(ui_host: str, path: str) -> None:
    origin = ui_host.removesuffix("/api")
    response = httpx.get(origin + path, follow_redirects=False, timeout=10)
    assert response.status_code == 302
    assert response.headers["location"] == "/api/ui"
    assert response.json() == {
        "ui": "/api/ui",
        "openapi": "/api/openapi.json",
        "health": "/api/health",
    }
    head = httpx.head(origin + path, timeout=10)
    assert (head.status_code, head.headers["location"], head.content) == (302, "/api/ui", b"")
    landed = httpx.get(origin + path, follow_redirects=True, timeout=10)
    assert landed.url.path == "/api/ui"
    assert landed.headers["content-type"] == "text/html; charset=utf-8"


def test_other_methods_and_paths_keep_the_hosts_json_errors(ui_host: str) -> None:
    origin = ui_host.removesuffix("/api")
    posted = httpx.post(origin + "/api", timeout=10)
    assert (posted.status_code, posted.json()["error"]["code"]) == (404, "not_found")
    elsewhere = httpx.get(origin + "/apis", timeout=10)
    assert (elsewhere.status_code, elsewhere.json()["error"]["code"]) == (404, "not_found")


@pytest.mark.skipif(_UNAVAILABLE is not None, reason=_UNAVAILABLE or "")
def test_a_browser_opening_the_host_lands_on_the_chat_page(ui_host: str, page: Page) -> None:
    origin = ui_host.removesuffix("/api")
    page.goto(origin + "/")
    assert page.url == f"{ui_host}/ui"
    assert page.title() == "Video chat"
    page.get_by_role("button", name="Start a session").wait_for()
