"""The chat page in headless Chromium against the real local host (offline provider): a session,
a transcript upload, a cited answer whose citation opens YouTube at the right second, history
after a reload, the API's errors as the page shows them, and the page served from another
origin. The whole module is skipped, with the reason shown, when Chromium or Playwright is
missing."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.browser.conftest import ARTIFACTS, LOOPBACK, browser_unavailable_reason

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

_UNAVAILABLE = browser_unavailable_reason()
if _UNAVAILABLE is not None:
    pytest.skip(_UNAVAILABLE, allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not importable")
expect = sync_api.expect
expect.set_options(timeout=20_000)

pytestmark = [pytest.mark.db]

VIDEO_ID = "bAtT3ryL1fE"
TITLE = "Surface Go Review"
# Short enough to be one passage, so every citation points at its first cue: 1:24.
VTT = (
    "WEBVTT\n\n"
    "00:01:24.000 --> 00:01:29.000\nIn my test the battery lasts about nine hours.\n\n"
    "00:01:29.000 --> 00:01:34.000\nThe keyboard cover is sold separately.\n\n"
    "00:01:34.000 --> 00:01:40.000\nThe kickstand opens to almost any angle.\n"
)
QUESTION = "How long does the battery last?"
CITED_URL = f"https://www.youtube.com/watch?v={VIDEO_ID}&t=84s"
SCREENSHOT = ARTIFACTS / "chat-page.png"


def start_session(page: Page) -> None:
    """Click the start button and wait for the session's expiry to show."""
    page.get_by_role("button", name="Start a session").click()
    expect(page.locator("#session-info")).to_contain_text("Session expires at")
    expect(page.get_by_role("button", name="End session")).to_be_visible()


def upload_transcript(page: Page, *, urls: str = "") -> Locator:
    """Add the test transcript through the form (and `urls`, if any); returns the results list."""
    page.get_by_label("YouTube URLs or video ids").fill(urls)
    page.get_by_label("Transcript file").set_input_files(
        {"name": "review.vtt", "mimeType": "text/vtt", "buffer": VTT.encode("utf-8")}
    )
    page.get_by_label(re.compile(r"^Video id")).fill(VIDEO_ID)
    page.get_by_label("Title").fill(TITLE)
    page.get_by_role("button", name="Add videos").click()
    return page.locator("#add-results li")


def ask(page: Page, question: str) -> None:
    page.get_by_label("Your question").fill(question)
    page.get_by_role("button", name="Ask", exact=True).click()


def assert_no_policy_violations(console_messages: list[str]) -> None:
    """The CSP (script/style hashes, connect-src, Trusted Types) blocked nothing the page does."""
    blocked = [
        message
        for message in console_messages
        if re.search(r"Content Security Policy|Trusted ?Type|pageerror", message, re.IGNORECASE)
    ]
    assert blocked == []


def test_upload_a_transcript_ask_and_follow_a_citation(
    ui_host: str, page: Page, console_messages: list[str]
) -> None:
    page.goto(f"{ui_host}/ui")
    expect(page).to_have_title("Video chat")
    expect(page.locator("#api-base")).to_have_text(ui_host)
    start_session(page)

    results = upload_transcript(page, urls="https://example.com/not-a-video")
    expect(results).to_have_count(2)
    expect(results.nth(0).locator(".badge")).to_have_text("failed")
    expect(results.nth(0)).to_contain_text("invalid_url: not a YouTube video URL")
    expect(results.nth(1).locator(".badge")).to_have_text("added")
    expect(results.nth(1)).to_contain_text(f"{TITLE} ({VIDEO_ID}) · 1 passage")
    # What failed stays in the form to retry; the uploaded transcript's fields are cleared.
    expect(page.get_by_label("YouTube URLs or video ids")).to_have_value(
        "https://example.com/not-a-video"
    )
    expect(page.get_by_label(re.compile(r"^Video id"))).to_have_value("")
    videos = page.locator("#video-list li")
    expect(videos).to_have_count(1)
    expect(videos.first).to_contain_text(TITLE)
    expect(videos.first.get_by_role("link", name=TITLE)).to_have_attribute(
        "href", f"https://www.youtube.com/watch?v={VIDEO_ID}"
    )

    ask(page, QUESTION)
    answer = page.locator("#messages .message-assistant").last
    expect(answer).to_contain_text("the battery lasts about nine hours")
    citation = answer.locator("a.cite").first
    expect(citation).to_have_text("[1]")
    expect(citation).to_have_attribute("href", CITED_URL)
    expect(citation).to_have_attribute("target", "_blank")
    expect(citation).to_have_attribute("rel", "noopener noreferrer")
    source = answer.locator(".sources li").first
    expect(source).to_contain_text(f"{TITLE} · 1:24")
    expect(source.locator("a.source-link")).to_have_attribute("href", CITED_URL)
    expect(page.get_by_label("Your question")).to_have_value("")
    expect(page.locator("#messages .message-user")).to_have_text(re.compile(QUESTION))

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOT, full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000

    with page.expect_popup() as opened:
        citation.click()
    popup = opened.value
    popup.wait_for_load_state()
    assert popup.url == CITED_URL
    expect(popup.locator("body")).to_contain_text("YouTube stand-in page")
    popup.close()
    expect(page.locator("#error-area")).to_be_empty()
    assert_no_policy_violations(console_messages)


def test_history_and_session_survive_a_reload_then_clear_remove_and_end(
    ui_host: str, page: Page, console_messages: list[str]
) -> None:
    page.goto(f"{ui_host}/ui")
    start_session(page)
    expect(upload_transcript(page).locator(".badge")).to_have_text("added")
    ask(page, QUESTION)
    expect(page.locator("#messages .message-assistant")).to_have_count(1)
    session_id = page.evaluate("() => Object.values(window.sessionStorage)[0]")

    page.reload()
    expect(page.locator("#status")).to_have_text("Session resumed.")
    assert page.evaluate("() => Object.values(window.sessionStorage)[0]") == session_id
    expect(page.locator("#messages .message-user")).to_have_text(re.compile(QUESTION))
    expect(page.locator("#messages a.cite").first).to_have_attribute("href", CITED_URL)
    expect(page.locator("#video-list li")).to_have_count(1)

    page.get_by_role("button", name="Clear history").click()
    expect(page.locator("#messages li")).to_have_count(0)
    expect(page.locator("#messages-empty")).to_be_visible()
    page.get_by_role("button", name=f"Remove {TITLE}").click()
    expect(page.locator("#video-list li")).to_have_count(0)
    expect(page.locator("#videos-empty")).to_be_visible()

    page.get_by_role("button", name="End session").click()
    expect(page.get_by_role("button", name="Start a session")).to_be_visible()
    expect(page.locator("#session-info")).to_have_text("No session yet.")
    expect(page.get_by_label("Your question")).to_be_disabled()
    assert page.evaluate("() => window.sessionStorage.length") == 0
    gone = httpx.get(f"{ui_host}/sessions/current", headers={"X-Session-Id": session_id})
    assert (gone.status_code, gone.json()["error"]["code"]) == (401, "session_not_found")
    assert_no_policy_violations(console_messages)


def test_asking_before_adding_videos_shows_the_api_error(ui_host: str, page: Page) -> None:
    page.goto(f"{ui_host}/ui")
    start_session(page)
    ask(page, QUESTION)

    error = page.locator("#error-area")
    expect(error).to_contain_text("no_videos")
    expect(error.locator(".error-request-id")).to_have_text(re.compile(r"^[0-9a-f]{32}$"))
    expect(page.locator("#messages li")).to_have_count(0)
    expect(page.get_by_label("Your question")).to_have_value(QUESTION)
    page.get_by_role("button", name="Dismiss the error").click()
    expect(error).to_be_empty()


def test_the_page_served_from_another_origin_uses_the_api_through_cors(
    ui_host: str, other_origin: str, page: Page
) -> None:
    page.goto(f"{other_origin}/chat.html?api={ui_host}")
    expect(page.locator("#api-base")).to_have_text(ui_host)
    start_session(page)
    expect(page.locator("#status")).to_have_text("Session started.")
    expect(page.locator("#videos-empty")).to_be_visible()
    expect(page.locator("#error-area")).to_be_empty()


def test_an_origin_the_api_does_not_allow_gets_a_visible_network_error(
    ui_host: str, other_origin: str, page: Page
) -> None:
    not_allowed = other_origin.replace(LOOPBACK, "localhost")
    page.goto(f"{not_allowed}/chat.html?api={ui_host}")
    page.get_by_role("button", name="Start a session").click()
    expect(page.locator("#error-area")).to_contain_text("network_error")
    expect(page.locator("#error-area")).to_contain_text("CORS")
    expect(page.get_by_role("button", name="Start a session")).to_be_enabled()


def test_the_page_response_headers(ui_host: str) -> None:
    response = httpx.get(f"{ui_host}/ui", headers={"X-Request-Id": "page-1"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-request-id"] == "page-1"
    policy = response.headers["content-security-policy"]
    assert "unsafe-inline" not in policy
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/]{43}='", policy)
    assert "connect-src 'self';" in policy

    pointed = httpx.get(f"{ui_host}/ui", params={"api": "https://api.example.test:8443/api"})
    assert (
        "connect-src 'self' https://api.example.test:8443;"
        in pointed.headers["content-security-policy"]
    )
    for bad in ("javascript:alert(1)", "https://x.test; script-src *", "ftp://x.test/api", "/api"):
        ignored = httpx.get(f"{ui_host}/ui", params={"api": bad})
        assert "connect-src 'self';" in ignored.headers["content-security-policy"], bad

    wrong = httpx.post(f"{ui_host}/ui")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (405, "method_not_allowed")
    assert wrong.headers["allow"] == "GET"
