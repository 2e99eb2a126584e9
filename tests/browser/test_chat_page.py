"""The chat page in headless Chromium against the real local host (offline provider): a session,
transcript uploads, a cited answer whose citation plays the video at the cited moment in the
embedded privacy-enhanced player, the video picker, the conversation and its model label after a
reload, errors beside the action that caused them, keyboard-only use, narrow screens (375 and
320 px), the session's expiry (on the clock and on the server) and the page served from another
origin. The whole module is skipped, with the reason shown, when Chromium or Playwright is
missing."""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import sqlalchemy as sa

from tests.browser.conftest import (
    ARTIFACTS,
    LOOPBACK,
    SCREENS,
    browser_unavailable_reason,
    open_context,
    open_page,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page, Request, Route

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
PLAYER_SRC = re.compile(rf"^https://www\.youtube-nocookie\.com/embed/{VIDEO_ID}\?start=84(&|$)")
SCREENSHOT = ARTIFACTS / "chat-page.png"
OFFLINE = "offline-extractive"


def start_session(page: Page) -> None:
    """Click the start button; the countdown shows and the question box has the focus."""
    page.get_by_role("button", name="Start a session").click()
    expect(page.locator("#session-info")).to_contain_text(re.compile(r"Session ends in \d+:\d\d"))
    expect(page.get_by_role("button", name="End session")).to_be_visible()
    expect(page.get_by_label("Your question")).to_be_focused()


def upload_transcript(
    page: Page,
    *,
    urls: str = "",
    video_id: str = VIDEO_ID,
    title: str = TITLE,
    url: str = "",
    pasted: str | None = None,
) -> Locator:
    """Add a transcript through the form (the test VTT as a file, or `pasted` text) and `urls`;
    returns the results list."""
    page.get_by_label("YouTube URLs or video ids").fill(urls)
    if pasted is None:
        page.get_by_label("Transcript file").set_input_files(
            {"name": "review.vtt", "mimeType": "text/vtt", "buffer": VTT.encode("utf-8")}
        )
    else:
        page.get_by_label("or paste it").fill(pasted)
    page.get_by_label(re.compile(r"^Video id")).fill(video_id)
    page.get_by_label(re.compile(r"^Title")).fill(title)
    page.get_by_label(re.compile(r"^Watch URL")).fill(url)
    page.get_by_role("button", name="Add videos").click()
    return page.locator("#add-results li")


def ask(page: Page, question: str) -> None:
    page.get_by_label("Your question").fill(question)
    page.get_by_role("button", name="Ask", exact=True).click()


def assert_no_policy_violations(console_messages: list[str]) -> None:
    """The CSP (script/style hashes, connect-src, frame-src, img-src, Trusted Types) blocked
    nothing the page does."""
    blocked = [
        message
        for message in console_messages
        if re.search(r"Content Security Policy|Trusted ?Type|pageerror", message, re.IGNORECASE)
    ]
    assert blocked == []


def assert_no_horizontal_overflow(page: Page) -> None:
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth,"
        " Math.max(...[...document.querySelectorAll('body *')]"
        ".map((e) => e.getBoundingClientRect().right))]"
    )
    scroll_width, inner_width, rightmost = widths
    assert scroll_width <= inner_width, widths
    assert rightmost <= inner_width + 0.5, widths


def chat_requests(page: Page) -> list[dict[str, Any]]:
    """The bodies of the page's POST /chat requests, as they are sent."""
    sent: list[dict[str, Any]] = []

    def on_request(request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/chat"):
            sent.append(json.loads(request.post_data or "{}"))

    page.on("request", on_request)
    return sent


def test_upload_ask_and_play_the_cited_moment_in_the_embedded_player(
    ui_host: str, page: Page, console_messages: list[str]
) -> None:
    page.goto(f"{ui_host}/ui")
    expect(page).to_have_title("Video chat")
    expect(page.locator("#api-base")).to_have_text(ui_host)
    banner = page.locator("#offline-banner")
    expect(banner).to_be_visible()  # from GET /health, before any answer
    expect(banner).to_contain_text(OFFLINE)
    banner.get_by_text("Why, and how to get real answers").click()
    expect(banner.get_by_text("OPENAI_API_KEY")).to_be_visible()
    start_session(page)

    results = upload_transcript(page, urls="https://example.com/not-a-video")
    expect(results).to_have_count(2)
    expect(results.nth(0).locator(".badge")).to_have_text("failed")
    expect(results.nth(0)).to_contain_text("This is not a YouTube link or video id.")
    expect(results.nth(0).locator(".fine")).to_contain_text("invalid_url · not a YouTube video URL")
    expect(results.nth(1).locator(".badge")).to_have_text("added")
    expect(results.nth(1)).to_contain_text(f"{TITLE} ({VIDEO_ID}) · 1 passage")
    expect(page.get_by_label("Your question")).to_be_focused()
    # What failed stays in the form to retry; the uploaded transcript's fields are cleared.
    expect(page.get_by_label("YouTube URLs or video ids")).to_have_value(
        "https://example.com/not-a-video"
    )
    expect(page.get_by_label(re.compile(r"^Video id"))).to_have_value("")
    videos = page.locator("#video-list li")
    expect(videos).to_have_count(1)
    expect(videos.first.locator("img.thumb")).to_have_attribute(
        "src", f"https://i.ytimg.com/vi/{VIDEO_ID}/mqdefault.jpg"
    )
    expect(page.locator("#videos-summary")).to_have_text("Videos (1)")
    expect(page.locator("#scope")).to_have_text("Asking about the video.")

    ask(page, QUESTION)
    answer = page.locator("#messages .message-assistant").last
    expect(answer).to_contain_text("the battery lasts about nine hours")
    expect(answer.locator(".message-model")).to_have_text(f"Answered by {OFFLINE}")
    expect(page.get_by_label("Your question")).to_have_value("")
    expect(page.get_by_label("Your question")).to_be_focused()
    expect(page.locator("#messages .message-user")).to_have_text(re.compile(QUESTION))
    source = answer.locator(".sources li").first
    expect(source).to_contain_text(f"{TITLE} · 1:24")
    expect(source.get_by_role("link", name=re.compile("on YouTube"))).to_have_attribute(
        "href", CITED_URL
    )

    player = page.locator("#player")
    expect(player).to_be_hidden()
    citation = answer.locator(".cite").first
    expect(citation).to_have_text("[1]")
    citation.click()
    expect(player).to_be_visible()
    expect(page.locator("#player-frame")).to_have_attribute("src", PLAYER_SRC)
    expect(page.locator("#player-title")).to_have_text(f"{TITLE} · 1:24")
    frame = page.frame_locator("#player-frame")
    expect(frame.locator("body")).to_contain_text("YouTube player stand-in")

    ARTIFACTS.mkdir(exist_ok=True)
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOT)
    page.screenshot(path=SCREENS / "desktop-1280.png")
    assert SCREENSHOT.stat().st_size > 10_000

    page.get_by_role("button", name="Close player").click()
    expect(player).to_be_hidden()
    for slot in ("#session-error", "#videos-error", "#chat-error"):
        expect(page.locator(slot)).to_be_empty()
    assert_no_policy_violations(console_messages)


def test_uploads_link_to_their_own_url_or_nowhere_and_the_picker_sends_video_ids(
    ui_host: str, page: Page, console_messages: list[str]
) -> None:
    sent = chat_requests(page)
    page.goto(f"{ui_host}/ui")
    start_session(page)
    watch = "https://media.example.org/talk.mp4"
    added = upload_transcript(page, video_id="talk-1", title="Own talk", url=watch)
    expect(added.locator(".badge")).to_have_text("added")
    pasted = "The garden needs water every morning in summer.\n\nTomatoes like the sun."
    added = upload_transcript(page, video_id="", title="Garden notes", pasted=pasted)
    expect(added.locator(".badge")).to_have_text("added")

    videos = page.locator("#video-list li")
    expect(videos).to_have_count(2)
    own = videos.filter(has_text="Own talk")
    expect(own.get_by_role("link", name="Own talk")).to_have_attribute("href", watch)
    expect(own.locator("img")).to_have_count(0)  # not a YouTube video: no thumbnail
    garden = videos.filter(has_text="Garden notes")
    expect(garden.locator("a")).to_have_count(0)  # no url: links nowhere
    expect(page.locator("#scope")).to_have_text("Asking about all 2 videos.")

    page.get_by_label("Ask about Garden notes").uncheck()
    expect(page.locator("#scope")).to_have_text("Asking about 1 of 2 videos.")
    ask(page, QUESTION)
    answer = page.locator("#messages .message-assistant").last
    expect(answer).to_contain_text("battery")
    citation = answer.locator("a.cite").first
    expect(citation).to_have_attribute("href", f"{watch}#t=84")
    expect(citation).to_have_attribute("target", "_blank")
    expect(citation).to_have_attribute("rel", "noopener noreferrer")
    expect(answer.locator(".sources li")).to_have_count(1)
    expect(answer.locator(".sources")).not_to_contain_text("Garden notes")
    assert [body.get("video_ids") for body in sent] == [["talk-1"]]

    page.get_by_label("Ask about Garden notes").check()
    page.get_by_label("Ask about Own talk").uncheck()
    ask(page, "Which plants like the sun?")
    answer = page.locator("#messages .message-assistant").nth(1)
    expect(answer).to_contain_text("Tomatoes like the sun")
    expect(answer.locator(".sources li").first).to_contain_text("Garden notes")
    expect(answer.locator(".sources a, .sources button")).to_have_count(0)  # no url, no moment
    garden_ids = sent[-1]["video_ids"]
    assert len(garden_ids) == 1
    assert garden_ids[0].startswith("upload-")  # the id the server gave the pasted transcript

    page.get_by_label("Ask about Garden notes").uncheck()
    ask(page, QUESTION)
    error = page.locator("#chat-error")
    expect(error).to_contain_text("Tick at least one video to ask about.")
    expect(error.locator(".error-code")).to_have_text("no_videos_chosen")
    assert len(sent) == 2  # nothing was sent
    expect(page.get_by_label("Your question")).to_have_value(QUESTION)
    page.get_by_label("Ask about Own talk").check()
    page.get_by_label("Ask about Garden notes").check()
    ask(page, QUESTION)
    expect(page.locator("#messages .message-assistant")).to_have_count(3)
    assert "video_ids" not in sent[-1]  # everything ticked: the API's default, all videos
    assert_no_policy_violations(console_messages)


def test_the_conversation_its_model_and_the_session_survive_a_reload(
    ui_host: str, page: Page, console_messages: list[str]
) -> None:
    page.goto(f"{ui_host}/ui")
    start_session(page)
    expect(upload_transcript(page).locator(".badge")).to_have_text("added")
    ask(page, QUESTION)
    expect(page.locator("#messages .message-assistant .message-model")).to_have_text(
        f"Answered by {OFFLINE}"
    )
    stored = page.evaluate(f"() => localStorage.getItem('videoRag.session:{ui_host}')")
    session_id = json.loads(stored)["id"]

    page.reload()
    expect(page.locator("#status")).to_have_text("Session resumed.")
    expect(page.locator("#session-info")).to_contain_text(re.compile(r"Session ends in \d+:\d\d"))
    expect(page.locator("#messages .message-user")).to_have_text(re.compile(QUESTION))
    answer = page.locator("#messages .message-assistant")
    expect(answer.locator(".message-model")).to_have_text(f"Answered by {OFFLINE}")
    expect(answer.locator(".cite").first).to_have_text("[1]")
    expect(page.locator("#video-list li")).to_have_count(1)
    expect(page.get_by_label("Your question")).to_be_focused()

    # A new tab of the same browser picks the same session up.
    other = page.context.new_page()
    other.goto(f"{ui_host}/ui")
    expect(other.locator("#messages .message-assistant .message-model")).to_have_text(
        f"Answered by {OFFLINE}"
    )
    other.close()

    page.get_by_role("button", name="Copy the answer").click()
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert "the battery lasts about nine hours" in copied
    assert f"[1] {TITLE} at 1:24 {CITED_URL}" in copied

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
    assert page.evaluate(f"() => localStorage.getItem('videoRag.session:{ui_host}')") is None
    gone = httpx.get(f"{ui_host}/sessions/current", headers={"X-Session-Id": session_id})
    assert (gone.status_code, gone.json()["error"]["code"]) == (401, "session_not_found")
    assert_no_policy_violations(console_messages)


def test_errors_show_beside_the_action_in_words_with_the_code_in_small_print(
    ui_host: str, page: Page
) -> None:
    page.goto(f"{ui_host}/ui")
    start_session(page)

    ask(page, QUESTION)
    error = page.locator("#chat-error")
    expect(error.locator(".error-human")).to_have_text(
        "Add a video first: there is nothing to answer from yet."
    )
    expect(error.locator(".error-code")).to_have_text("no_videos")
    expect(error.locator(".error-request-id")).to_have_text(re.compile(r"^[0-9a-f]{32}$"))
    expect(page.locator("#messages li")).to_have_count(0)
    expect(page.get_by_label("Your question")).to_have_value(QUESTION)
    error.get_by_role("button", name="Add a video").click()
    expect(page.get_by_label("YouTube URLs or video ids")).to_be_focused()
    error.get_by_role("button", name="Dismiss the error").click()
    expect(error).to_be_empty()

    page.get_by_role("button", name="Add videos").click()
    videos_error = page.locator("#videos-error")
    expect(videos_error.locator(".error-human")).to_have_text(
        "Enter a YouTube URL, or choose or paste a transcript."
    )
    expect(videos_error.locator(".error-code")).to_have_text("nothing_to_add")
    expect(page.locator("#chat-error")).to_be_empty()

    expect(upload_transcript(page).locator(".badge")).to_have_text("added")
    expect(videos_error).to_be_empty()

    def rate_limited(route: Route) -> None:
        body = {"error": {"code": "rate_limited", "message": "too many", "request_id": "r-1"}}
        route.fulfill(
            status=429,
            headers={"Retry-After": "42", "Content-Type": "application/json"},
            body=json.dumps(body),
        )

    page.route(f"{ui_host}/chat", rate_limited)
    ask(page, QUESTION)
    expect(error.locator(".error-human")).to_have_text(
        "You are asking faster than the server allows. Wait 42 seconds, then ask again."
    )
    expect(error.locator(".error-fine")).to_have_text("rate_limited · too many · request r-1")
    # Beside the question box, in view: not at the top of a long page.
    box = error.bounding_box()
    assert box is not None
    assert 0 <= box["y"] <= 900 - box["height"]
    expect(page.get_by_label("Your question")).to_be_focused()


def focus_by_tab(page: Page, matches: str, *, backwards: bool = False, limit: int = 40) -> None:
    """Press Tab (Shift+Tab) until the focused element matches the CSS selector `matches`."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(limit):
        if page.evaluate("(selector) => document.activeElement.matches(selector)", matches):
            return
        page.keyboard.press(key)
    raise AssertionError(f"{matches} never got the focus with {key}")


def test_keyboard_only_start_upload_ask_and_the_focus_returns_to_the_question(
    ui_host: str, page: Page, console_messages: list[str]
) -> None:
    page.goto(f"{ui_host}/ui")
    focus_by_tab(page, "#start-session")
    page.keyboard.press("Enter")
    question = page.get_by_label("Your question")
    expect(question).to_be_focused()

    focus_by_tab(page, "#transcript-text", backwards=True)
    page.keyboard.insert_text(VTT)
    page.keyboard.press("Tab")
    page.keyboard.type(TITLE)
    page.keyboard.press("Tab")
    page.keyboard.type(VIDEO_ID)
    page.keyboard.press("Enter")  # submits the upload form
    expect(page.locator("#add-results li .badge")).to_have_text("added")
    expect(question).to_be_focused()

    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    answer = page.locator("#messages .message-assistant")
    expect(answer).to_contain_text("the battery lasts about nine hours")
    expect(question).to_be_focused()
    expect(question).to_have_value("")

    # The citation is reachable and works from the keyboard too.
    focus_by_tab(page, "#messages .cite")
    page.keyboard.press("Enter")
    expect(page.locator("#player-frame")).to_have_attribute("src", PLAYER_SRC)
    assert_no_policy_violations(console_messages)


@pytest.mark.parametrize("width", [375, 320])
def test_narrow_screens_fit_without_horizontal_scrolling_with_the_question_box_pinned(
    ui_host: str, browser: Browser, width: int
) -> None:
    console: list[str] = []
    context = open_context(browser, width, 700)
    try:
        page = open_page(context, console)
        page.goto(f"{ui_host}/ui")
        panel = page.locator("#videos-panel")
        expect(panel).not_to_have_attribute("open", "")  # collapsed on small screens
        start_session(page)
        page.locator("#videos-summary").click()
        long_url = "https://example.com/" + "a-very-long-path-segment-" * 6
        results = upload_transcript(page, urls=long_url, title=TITLE + " " + "long " * 12)
        expect(results).to_have_count(2)
        assert_no_horizontal_overflow(page)
        page.locator("#videos-summary").click()
        for count, question in enumerate(
            (QUESTION, "What about the keyboard? " + "a-long-unbroken-word" * 5, QUESTION), 1
        ):
            ask(page, question)
            expect(page.locator("#messages .message-model")).to_have_count(count)
        page.locator("#messages .cite").first.click()
        expect(page.locator("#player-frame")).to_have_attribute("src", PLAYER_SRC)
        assert_no_horizontal_overflow(page)

        # The page itself does not scroll: the conversation does, and the box stays in view.
        box = page.get_by_label("Your question").bounding_box()
        assert box is not None
        assert box["y"] + box["height"] <= 700
        sizes = page.evaluate(
            "() => [document.documentElement.scrollHeight, innerHeight,"
            " document.getElementById('conversation').scrollHeight,"
            " document.getElementById('conversation').clientHeight]"
        )
        assert sizes[0] <= sizes[1], sizes
        assert sizes[2] > sizes[3], sizes  # the conversation scrolls in its own area
        if width == 375:
            SCREENS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=SCREENS / "mobile-375.png")
            page.locator("#videos-summary").click()
            page.screenshot(path=SCREENS / "mobile-375-videos.png")
        assert_no_policy_violations(console)
    finally:
        context.close()


def test_when_the_countdown_runs_out_the_conversation_stays_read_only_with_a_new_session_button(
    ui_host: str, page: Page
) -> None:
    page.clock.install()
    page.goto(f"{ui_host}/ui")
    start_session(page)
    expect(upload_transcript(page).locator(".badge")).to_have_text("added")
    ask(page, QUESTION)
    expect(page.locator("#messages .message-assistant .message-model")).to_be_visible()
    info = page.locator("#session-info")
    expect(info).to_contain_text(re.compile(r"Session ends in 1[45]:\d\d"))
    page.clock.run_for("14:30")
    expect(info).to_contain_text(re.compile(r"Session ends in 0:[23]\d"))
    expect(info).to_have_class(re.compile(r"\bsoon\b"))

    page.clock.run_for("01:00")
    notice = page.locator("#ended-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Your session expired at")
    expect(notice).to_contain_text("The conversation stays here to read")
    expect(info).to_have_text("Session ended.")
    expect(page.locator("#messages .message-assistant")).to_contain_text("nine hours")
    expect(page.get_by_label("Your question")).to_be_disabled()
    expect(page.get_by_role("button", name="Add videos")).to_be_disabled()
    expect(page.get_by_role("button", name=f"Remove {TITLE}")).to_be_disabled()
    assert page.evaluate(f"() => localStorage.getItem('videoRag.session:{ui_host}')") is None

    notice.get_by_role("button", name="Start a new session").click()
    expect(notice).to_be_hidden()
    expect(info).to_contain_text("Session ends in")
    expect(page.locator("#messages li")).to_have_count(0)
    expect(page.locator("#video-list li")).to_have_count(0)
    expect(page.get_by_label("Your question")).to_be_enabled()
    expect(page.get_by_label("Your question")).to_be_focused()


def expire_on_the_server(database_url: str, session_id: str) -> None:
    token_hash = hashlib.sha256(session_id.encode("ascii")).digest()
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "UPDATE chat_session SET expires_at = now() - interval '1 minute' "
                    "WHERE token_hash = :token_hash"
                ),
                {"token_hash": token_hash},
            )
    finally:
        engine.dispose()


def test_a_session_the_server_expired_keeps_the_conversation_on_screen_read_only(
    ui_host: str, host_database_url: str, page: Page
) -> None:
    page.goto(f"{ui_host}/ui")
    start_session(page)
    expect(upload_transcript(page).locator(".badge")).to_have_text("added")
    ask(page, QUESTION)
    expect(page.locator("#messages .message-assistant")).to_have_count(1)
    expect(page.get_by_role("button", name="Ask", exact=True)).to_be_enabled()  # all done
    stored = page.evaluate(f"() => localStorage.getItem('videoRag.session:{ui_host}')")
    expire_on_the_server(host_database_url, json.loads(stored)["id"])

    ask(page, "And the keyboard?")
    notice = page.locator("#ended-notice")
    expect(notice).to_contain_text("Your session has expired.")
    expect(page.locator("#messages .message-assistant")).to_have_count(1)
    expect(page.locator("#messages .message-user")).to_have_count(1)
    question = page.get_by_label("Your question")
    expect(question).to_be_disabled()
    expect(question).to_have_value("And the keyboard?")  # kept, to ask in the new session

    page.reload()  # the stored session is gone: nothing to resume
    expect(page.get_by_role("button", name="Start a session")).to_be_visible()
    expect(page.locator("#session-info")).to_have_text("No session yet.")


def test_the_page_served_from_another_origin_uses_the_api_through_cors(
    ui_host: str, other_origin: str, page: Page
) -> None:
    page.goto(f"{other_origin}/chat.html?api={ui_host}")
    expect(page.locator("#api-base")).to_have_text(ui_host)
    start_session(page)
    expect(page.locator("#status")).to_have_text("Session started.")
    expect(page.locator("#videos-empty")).to_be_visible()
    expect(page.locator("#session-error")).to_be_empty()


def test_an_origin_the_api_does_not_allow_gets_a_visible_network_error(
    ui_host: str, other_origin: str, page: Page
) -> None:
    not_allowed = other_origin.replace(LOOPBACK, "localhost")
    page.goto(f"{not_allowed}/chat.html?api={ui_host}")
    page.get_by_role("button", name="Start a session").click()
    error = page.locator("#session-error")
    expect(error.locator(".error-code")).to_have_text("network_error")
    expect(error).to_contain_text("CORS")
    expect(page.get_by_role("button", name="Start a session")).to_be_enabled()
