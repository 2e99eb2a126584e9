"""Streamed answers in the chat page: the local host answers from a local OpenAI-compatible
stand-in that writes word by word and can be held after its first word, so the test sees the
answer part-written before it is complete; then its sources; a model failure part-way; a
connection that breaks off; events split and joined at odd places with CRLF line ends (through a
re-chunking proxy); and a server that answers JSON instead of a stream."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.browser.conftest import ARTIFACTS, LOOPBACK
from tests.browser.test_chat_page import (
    CITED_URL,
    QUESTION,
    ask,
    assert_no_policy_violations,
    expect,
    start_session,
    upload_transcript,
)
from tests.http.conftest import model_environment, running_host
from tests.support.fake_openai import FakeOpenAI, fake_openai_server

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page, Route

pytestmark = [pytest.mark.db]

# The model's words as streamed; the stored answer drops the unknown marker [7].
STREAMED = "In his test the battery lasts about nine hours [1], longer than most [7]."
ANSWER = "In his test the battery lasts about nine hours [1], longer than most."
SCREENSHOT = ARTIFACTS / "chat-page-streaming.png"
STREAMING = re.compile(r"\bmessage-streaming\b")
REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def model() -> Iterator[FakeOpenAI]:
    with fake_openai_server(FakeOpenAI(chat_replies=[STREAMED])) as fake:
        yield fake


@pytest.fixture(autouse=True)
def fresh_model(model: FakeOpenAI) -> Iterator[None]:
    yield
    model.reset_streaming()
    model.chat_replies = [STREAMED]


@pytest.fixture(scope="module")
def llm_host(
    host_database_url: str, model: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The local host answering (and embedding) with the stand-in model; yields …/api."""
    env = model_environment(host_database_url, model.base_url)
    log = tmp_path_factory.mktemp("browser-llm-host") / "host.log"
    with running_host(env, "--no-migrate", log=log) as base:
        yield base


class ReChunkingProxy:
    """Forwards every request to the host. Event streams are re-sent with CRLF line ends and a
    comment first, cut into pieces of 1 to 400 bytes (so events are split across chunks and
    several share one), as chunked HTTP; `cut_at` ends one there, once `release` is set: cleanly
    (`clean_end`) or by dropping the connection mid-chunked-body."""

    PIECES = (1, 2, 5, 400)

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.api_base = ""
        self.streams = 0
        self.reset()

    def reset(self) -> None:
        self.cut_at: bytes | None = None
        self.clean_end = False
        self.release = threading.Event()

    def event_stream(self, raw: bytes) -> Iterator[bytes]:
        body = b": re-chunked\r\n\r\n" + raw.replace(b"\n", b"\r\n")
        if self.cut_at is not None:
            body = body[: body.index(self.cut_at) + len(self.cut_at)]
        start, turn = 0, 0
        while start < len(body):
            size = self.PIECES[turn % len(self.PIECES)]
            yield body[start : start + size]
            start, turn = start + size, turn + 1


def _proxy_handler(proxy: ReChunkingProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            skipped = {"host", "content-length", "connection"}
            headers = {k: v for k, v in self.headers.items() if k.lower() not in skipped}
            upstream = httpx.request(
                self.command, proxy.upstream + self.path, headers=headers, content=body, timeout=30
            )
            streamed = upstream.headers.get("content-type", "").startswith("text/event-stream")
            self.send_response(upstream.status_code)
            for name, value in upstream.headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("Connection", "close")
            self.close_connection = True
            if not streamed:
                self.send_header("Content-Length", str(len(upstream.content)))
                self.end_headers()
                self.wfile.write(upstream.content)
                return
            proxy.streams += 1
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in proxy.event_stream(upstream.content):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
                time.sleep(0.001)
            if proxy.cut_at is not None:
                # A browser drops what it has not read yet when a body fails: let it read first.
                proxy.release.wait(30)
            if proxy.cut_at is None or proxy.clean_end:
                self.wfile.write(b"0\r\n\r\n")

        do_GET = do_POST = do_DELETE = do_OPTIONS = forward

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output clean."""

    return Handler


@pytest.fixture(scope="module")
def proxy_server(llm_host: str) -> Iterator[ReChunkingProxy]:
    """The proxy in front of the host; the page is served through it too (one origin)."""
    proxy = ReChunkingProxy(llm_host.removesuffix("/api"))
    server = ThreadingHTTPServer((LOOPBACK, 0), _proxy_handler(proxy))
    proxy.api_base = f"http://{LOOPBACK}:{server.server_address[1]}/api"
    thread = threading.Thread(target=server.serve_forever, name="re-chunking-proxy", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def proxy(proxy_server: ReChunkingProxy) -> Iterator[ReChunkingProxy]:
    yield proxy_server
    proxy_server.reset()


def open_with_a_video(page: Page, api_base: str) -> None:
    page.goto(f"{api_base}/ui")
    start_session(page)
    expect(upload_transcript(page).locator(".badge")).to_have_text("added")


def expect_the_cited_answer(answer: Locator) -> None:
    expect(answer).not_to_have_class(STREAMING)
    expect(answer.locator(".message-text")).to_have_text(ANSWER)
    expect(answer.locator(".cite")).to_have_text(["[1]"])
    expect(answer.locator(".sources li")).to_have_count(1)
    expect(answer.locator(".sources li").first).to_contain_text("· 1:24")
    expect(answer.get_by_role("link", name=re.compile("on YouTube"))).to_have_attribute(
        "href", CITED_URL
    )
    expect(answer.locator(".message-note")).to_have_count(0)
    expect(answer.locator(".message-model")).to_have_text("Answered by gpt-4o-mini")


def expect_no_errors(page: Page) -> None:
    for slot in ("#session-error", "#videos-error", "#chat-error"):
        expect(page.locator(slot)).to_be_empty()


def test_the_answer_shows_as_it_is_written_then_its_sources(
    llm_host: str, model: FakeOpenAI, page: Page, console_messages: list[str]
) -> None:
    open_with_a_video(page, llm_host)
    model.stream_gate = threading.Event()
    model.token_delay_seconds = 0.25
    completed = model.streams_completed
    ask(page, QUESTION)

    bubble = page.locator("#messages .message-assistant")
    expect(bubble.locator(".message-text")).to_have_text("In")
    # The model is held after its first word: the rest cannot be on the page yet.
    assert model.streams_completed == completed
    expect(bubble).to_have_class(STREAMING)
    expect(bubble).not_to_contain_text("nine hours")
    expect(bubble.locator(".sources")).to_have_count(0)
    expect(page.locator("#status")).to_have_text("Answering…")
    # The box keeps the focus (and takes the next question) while the answer is written.
    expect(page.get_by_label("Your question")).to_be_focused()
    expect(page.get_by_label("Your question")).to_have_value("")
    expect(page.get_by_role("button", name="Stop")).to_be_visible()
    expect(page.get_by_role("button", name="Ask", exact=True)).to_be_hidden()

    model.stream_gate.set()
    expect(bubble).to_contain_text("In his test the battery lasts")
    # Eight more words at 0.25 s each are still to come: a picture of a part-written answer.
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOT, full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000

    # `done` replaces the streamed words with the stored answer (without [7]) and its sources.
    expect_the_cited_answer(bubble)
    expect(page.locator("#status")).to_have_text("")
    question = page.get_by_label("Your question")
    expect(question).to_have_value("")
    expect(question).to_be_focused()
    expect_no_errors(page)
    expect(page.locator("#offline-banner")).to_be_hidden()  # a real model answers here
    assert_no_policy_violations(console_messages)


def test_a_model_failure_part_way_shows_the_error_and_the_question_can_be_asked_again(
    llm_host: str, model: FakeOpenAI, page: Page, console_messages: list[str]
) -> None:
    open_with_a_video(page, llm_host)
    model.break_stream_after = 3
    ask(page, QUESTION)

    bubble = page.locator("#messages .message-assistant")
    expect(bubble).to_have_class(re.compile(r"\bmessage-failed\b"))
    expect(bubble.locator(".message-text")).to_have_text("In his test")
    failure = bubble.locator(".message-note")
    expect(failure).to_contain_text("The answer model failed. Nothing was saved: ask again.")
    expect(failure.locator(".error-code")).to_have_text("llm_error")
    expect(failure.locator(".error-request-id")).to_have_text(REQUEST_ID)
    expect(bubble.locator(".sources")).to_have_count(0)
    expect(page.locator("#status")).to_have_text("The answer was interrupted.")
    expect_no_errors(page)
    question = page.get_by_label("Your question")
    expect(question).to_have_value(QUESTION)
    expect(question).to_be_focused()

    model.break_stream_after = None
    page.keyboard.press("Enter")
    expect(page.locator("#messages .message-assistant")).to_have_count(2)
    expect_the_cited_answer(page.locator("#messages .message-assistant").last)
    expect(question).to_have_value("")
    expect(question).to_be_focused()

    # Only the answered question was stored.
    page.reload()
    expect(page.locator("#status")).to_have_text("Session resumed.")
    expect(page.locator("#messages > li")).to_have_count(2)
    expect_the_cited_answer(page.locator("#messages .message-assistant"))
    assert_no_policy_violations(console_messages)


def test_events_split_and_joined_anywhere_with_crlf_line_ends_make_the_same_answer(
    proxy: ReChunkingProxy, page: Page
) -> None:
    open_with_a_video(page, proxy.api_base)
    streams = proxy.streams
    ask(page, QUESTION)
    expect_the_cited_answer(page.locator("#messages .message-assistant"))
    assert proxy.streams == streams + 1
    expect_no_errors(page)


@pytest.mark.parametrize(
    ("clean_end", "code"), [(False, "network_error"), (True, "incomplete_answer")]
)
def test_a_stream_that_breaks_off_before_done_shows_an_error_in_the_answer(
    proxy: ReChunkingProxy, page: Page, clean_end: bool, code: str
) -> None:
    open_with_a_video(page, proxy.api_base)
    proxy.cut_at, proxy.clean_end = b"event: done\r\ndata: {", clean_end
    ask(page, QUESTION)

    bubble = page.locator("#messages .message-assistant")
    expect(bubble.locator(".message-text")).to_have_text(STREAMED)  # every delta arrived
    expect(bubble).to_have_class(STREAMING)
    proxy.release.set()
    expect(bubble.locator(".message-note .error-code")).to_have_text(code)
    expect(bubble).not_to_have_class(STREAMING)
    expect(bubble.locator(".message-text")).to_have_text(STREAMED)
    expect(bubble.locator(".sources")).to_have_count(0)
    expect(page.get_by_label("Your question")).to_have_value(QUESTION)
    expect(page.get_by_label("Your question")).to_be_enabled()


def test_a_json_answer_is_shown_as_before(llm_host: str, page: Page) -> None:
    accepted: list[str] = []

    def without_streaming(route: Route) -> None:
        accepted.append(route.request.headers["accept"])
        route.continue_(headers={**route.request.headers, "accept": "application/json"})

    page.route(f"{llm_host}/chat", without_streaming)
    open_with_a_video(page, llm_host)
    ask(page, QUESTION)
    expect_the_cited_answer(page.locator("#messages .message-assistant"))
    assert accepted == ["text/event-stream, application/json"]
    expect(page.get_by_label("Your question")).to_be_focused()


def stored_messages(api_base: str, page: Page) -> list[dict[str, object]]:
    """The conversation the server stored for the page's session."""
    stored = page.evaluate(f"() => localStorage.getItem('videoRag.session:{api_base}')")
    session_id = json.loads(stored)["id"]
    response = httpx.get(f"{api_base}/chat/messages", headers={"X-Session-Id": session_id})
    messages: list[dict[str, object]] = response.json()["messages"]
    return messages


def test_stop_aborts_the_stream_keeps_what_was_written_and_stores_nothing(
    llm_host: str, model: FakeOpenAI, page: Page, console_messages: list[str]
) -> None:
    open_with_a_video(page, llm_host)
    model.stream_gate = threading.Event()
    model.token_delay_seconds = 0.05
    abandoned = model.streams_abandoned
    ask(page, QUESTION)
    bubble = page.locator("#messages .message-assistant")
    expect(bubble.locator(".message-text")).to_have_text("In")

    page.get_by_role("button", name="Stop").click()
    expect(bubble).to_have_class(re.compile(r"\bmessage-stopped\b"))
    expect(bubble).not_to_have_class(STREAMING)
    expect(bubble.locator(".message-note")).to_have_text(
        "Stopped. This answer was not saved; ask again to get it whole."
    )
    expect(bubble.locator(".message-text")).to_have_text("In")
    expect(page.locator("#status")).to_have_text("Stopped.")
    question = page.get_by_label("Your question")
    expect(question).to_have_value(QUESTION)
    expect(question).to_be_focused()
    expect(page.get_by_role("button", name="Ask", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Stop")).to_be_hidden()

    # The host let go of the model's stream once the page aborted its request.
    model.stream_gate.set()
    deadline = time.monotonic() + 15
    while model.streams_abandoned == abandoned and time.monotonic() < deadline:
        time.sleep(0.05)
    assert model.streams_abandoned == abandoned + 1
    assert stored_messages(llm_host, page) == []
    expect_no_errors(page)
    assert_no_policy_violations(console_messages)


MARKDOWN = (
    "Here is **what he found** about the *battery* [1]:\n\n"
    "- It lasts `nine hours` in his test [1].\n"
    "- The keyboard is _sold separately_.\n\n"
    "1. Charge it overnight.\n"
    "2. Use the power saver.\n\n"
    "<img src=x onerror=alert(1)> and <b>no markup</b>"
)


def test_markdown_is_rendered_from_dom_nodes_and_html_stays_text_and_copy_takes_the_answer(
    llm_host: str, model: FakeOpenAI, page: Page, console_messages: list[str]
) -> None:
    model.chat_replies = [MARKDOWN]
    open_with_a_video(page, llm_host)
    ask(page, QUESTION)
    answer = page.locator("#messages .message-assistant")
    text = answer.locator(".message-text")
    expect(text.locator("ul > li")).to_have_count(2)
    expect(text.locator("p").first.locator("strong")).to_have_text("what he found")
    expect(text.locator("p").first.locator("em")).to_have_text("battery")
    expect(text.locator("ul > li").first.locator("code")).to_have_text("nine hours")
    expect(text.locator("ul > li").nth(1).locator("em")).to_have_text("sold separately")
    expect(text.locator("ol > li")).to_have_text(["Charge it overnight.", "Use the power saver."])
    expect(text.locator(".cite")).to_have_text(["[1]", "[1]"])
    expect(text.locator("p").last).to_have_text("<img src=x onerror=alert(1)> and <b>no markup</b>")
    expect(text.locator("img, b")).to_have_count(0)

    page.get_by_role("button", name="Copy the answer").click()
    expect(page.get_by_role("button", name="Copy the answer")).to_have_text("Copied")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied.startswith("Here is **what he found** about the *battery* [1]:")
    assert copied.endswith(f"Sources:\n[1] Surface Go Review at 1:24 {CITED_URL}")
    assert_no_policy_violations(console_messages)
