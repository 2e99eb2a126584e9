"""The fake OpenAI server of the tests (tests/support/fake_openai.py), run in a process of its own
for the benchmarks.

In the load generator's process, its threads (one per request, each sleeping the fake's delay and
then encoding JSON) competed for the GIL with the benchmark's client threads, and every time one
of them waited for the GIL showed up as the app's "overhead". Here it has its own interpreter and
speaks HTTP/1.1 with keep-alive, as OpenAI does (the standard library's handler speaks HTTP/1.0 by
default: a new TCP connection for every model call, which no real deployment pays), with
TCP_NODELAY (the handler writes headers and body separately: with Nagle's algorithm the body would
wait for the client's delayed ACK, 40 ms); a streamed answer, which has no Content-Length, still
closes its connection. The server also listens with a backlog of 128 instead of the standard
library's 5 (16 simultaneous connections would otherwise wait for TCP's one-second SYN retry).

The parent talks to it through a pipe: how many requests it received, and the last bodies it
received (so that a benchmark can replay exactly what the app sent, to time the fake's own
round trip).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

START_SECONDS = 60.0


@dataclass(frozen=True)
class FakeCounts:
    chat: int
    """Chat completions received (streamed or not)."""
    total: int
    """Every request (chat completions and embeddings)."""

    @property
    def embeddings(self) -> int:
        return self.total - self.chat


class FakeLlmProcess:
    """A handle on the fake server running in its child process."""

    def __init__(self, base_url: str, connection: Connection) -> None:
        self.base_url = base_url
        self._connection = connection

    def _ask(self, command: str) -> Any:
        self._connection.send(command)
        return self._connection.recv()

    def counts(self) -> FakeCounts:
        chat, total = self._ask("counts")
        return FakeCounts(chat, total)

    def last_bodies(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The last non-streamed chat completion body and the last embeddings body received."""
        chat, embeddings = self._ask("bodies")
        return chat, embeddings


def _keep_alive() -> None:
    """HTTP/1.1 with keep-alive for every handler of this (child) process; a response without a
    Content-Length (a stream) closes its connection, as HTTP/1.1 then requires."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    BaseHTTPRequestHandler.protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm holds
    # the body until the client's delayed ACK (40 ms) on a connection that stays open.
    BaseHTTPRequestHandler.disable_nagle_algorithm = True
    ThreadingHTTPServer.request_queue_size = 128
    end_headers = BaseHTTPRequestHandler.end_headers

    def end_headers_closing_streams(self: BaseHTTPRequestHandler) -> None:
        buffered = getattr(self, "_headers_buffer", [])
        if not any(line.lower().startswith(b"content-length:") for line in buffered):
            self.send_header("Connection", "close")
        end_headers(self)

    BaseHTTPRequestHandler.end_headers = end_headers_closing_streams  # type: ignore[method-assign]


def _serve(connection: Connection, options: dict[str, Any]) -> None:
    """The child process: serve until told to stop, answering the parent's questions."""
    from tests.support.fake_openai import FakeOpenAI, fake_openai_server

    _keep_alive()
    fake = FakeOpenAI(**options)
    with fake_openai_server(fake):
        connection.send(fake.base_url)
        while True:
            command = connection.recv()
            if command == "stop":
                break
            with fake.lock:
                if command == "counts":
                    connection.send((len(fake.chat_requests), len(fake.requests)))
                elif command == "bodies":
                    chats = [body for _, body in fake.chat_requests if not body.get("stream")]
                    embeddings = [body for path, body in fake.requests if "/embeddings" in path]
                    connection.send(
                        (chats[-1] if chats else None, embeddings[-1] if embeddings else None)
                    )
                else:
                    connection.send(None)


@contextmanager
def fake_llm_process(
    chat_replies: Callable[[dict[str, Any]], str], **options: Any
) -> Iterator[FakeLlmProcess]:
    """Run `FakeOpenAI(chat_replies=chat_replies, **options)` in a child process until the block
    ends. `chat_replies` must be a module-level function (it is sent to the child by name)."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(
        target=_serve, args=(child, {"chat_replies": chat_replies, **options}), daemon=True
    )
    process.start()
    try:
        if not parent.poll(START_SECONDS):
            raise RuntimeError("the fake OpenAI server did not start")
        yield FakeLlmProcess(parent.recv(), parent)
    finally:
        if process.is_alive():
            with suppress(OSError):
                parent.send("stop")
            process.join(10)
        if process.is_alive():
            process.kill()
            process.join(5)
