"""A local OpenAI-compatible HTTP server for tests: the real openai / langchain-openai clients
talk to it over a socket, and it records what they sent.

It serves embeddings (`.../embeddings`) and chat completions (`/v1/chat/completions` and the Azure
path `/openai/deployments/{deployment}/chat/completions`), can fail every request with a status,
and can wait before answering (to make clients time out). Streamed completions (`"stream": true`)
are sent word by word as `chat.completion.chunk` events: with a delay per word, held after the
first word until a test opens `stream_gate`, or ended by an error event after some words; a
client that goes away mid-stream is counted in `streams_abandoned`. Usage is reported as OpenAI
does: 15 tokens per completion, and 10 plus one per word for a stream that asks for it."""

from __future__ import annotations

import base64
import json
import re
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeOpenAI:
    """What the server received, and how it should answer."""

    dimensions: int = 1536
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail_with_status: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    base_url: str = ""
    # Chat replies: a list answered in order (the last one repeats), or a function of the body.
    chat_replies: list[str] | Callable[[dict[str, Any]], str] = field(
        default_factory=lambda: ["This is the fake model's answer."]
    )
    chat_requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    delay_seconds: float = 0.0
    # When set, `fail_with_status` and `delay_seconds` apply only to paths containing it.
    only_path_containing: str | None = None
    stopping: threading.Event = field(default_factory=threading.Event)
    # Streaming: seconds after each word and before the first one; an event the stream waits for
    # after its first word; a number of words after which it ends with an error event.
    token_delay_seconds: float = 0.0
    first_token_delay_seconds: float = 0.0
    stream_gate: threading.Event | None = None
    break_stream_after: int | None = None
    streams_completed: int = 0
    streams_abandoned: int = 0

    def reset_streaming(self) -> None:
        """Back to streams that flow freely (after a test held, slowed or broke them)."""
        self.stream_gate = None
        self.token_delay_seconds = 0.0
        self.break_stream_after = None

    def chat_reply(self, body: dict[str, Any]) -> str:
        """The next scripted reply (called with the lock held)."""
        if callable(self.chat_replies):
            return self.chat_replies(body)
        if not self.chat_replies:
            return ""
        index = min(len(self.chat_requests), len(self.chat_replies)) - 1
        return self.chat_replies[max(index, 0)]

    def chat_response(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        """A `chat.completion` object whose single choice says `text`."""
        return {
            "id": f"chatcmpl-fake-{len(self.chat_requests)}",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": body.get("model", "deployment"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }

    def chunk(
        self, body: dict[str, Any], delta: dict[str, Any], finish_reason: str | None
    ) -> dict[str, Any]:
        """One `chat.completion.chunk` of a streamed completion."""
        return {
            "id": f"chatcmpl-fake-{len(self.chat_requests)}",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": body.get("model", "deployment"),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }

    @staticmethod
    def message_text(body: dict[str, Any]) -> str:
        """All message contents of a chat request, joined (for assertions)."""
        parts = []
        for message in body.get("messages", []):
            content = message.get("content")
            if isinstance(content, list):
                content = " ".join(str(part.get("text", "")) for part in content)
            parts.append(f"{message.get('role')}: {content}")
        return "\n".join(parts)

    def vector(self, text: str) -> list[float]:
        """A vector per text, never all zeros (the app refuses an empty vector)."""
        seed = sum(text.encode()) % 97 + 1
        seed += seed % 13 == 0
        return [((seed * (i + 1)) % 13) / 13.0 for i in range(self.dimensions)]

    def embeddings_response(self, body: dict[str, Any]) -> dict[str, Any]:
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = []
        for index, text in enumerate(inputs):
            vector = self.vector(str(text))
            if body.get("encoding_format") == "base64":
                packed = struct.pack(f"<{len(vector)}f", *vector)
                embedding: Any = base64.b64encode(packed).decode()
            else:
                embedding = vector
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        return {
            "object": "list",
            "data": data,
            "model": body.get("model", "deployment"),
            "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)},
        }


@contextmanager
def fake_openai_server(fake: FakeOpenAI | None = None) -> Iterator[FakeOpenAI]:
    """Serve `fake` on 127.0.0.1 (a free port) for the duration of the block."""
    state = fake or FakeOpenAI()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            reply = None
            with state.lock:
                state.requests.append((self.path, body))
                if "/chat/completions" in self.path:
                    state.chat_requests.append((self.path, body))
                    reply = state.chat_reply(body)
            targeted = state.only_path_containing is None or state.only_path_containing in self.path
            streamed = bool(body.get("stream"))  # its delays are the first_token/token ones
            delay = 0.0 if streamed else state.delay_seconds
            if targeted and delay and state.stopping.wait(delay):
                return  # the server is shutting down; the client has given up anyway
            if targeted and state.fail_with_status is not None:
                self._send(state.fail_with_status, {"error": {"message": "boom", "type": "x"}})
            elif "/embeddings" in self.path:
                self._send(200, state.embeddings_response(body))
            elif reply is not None and streamed:
                self._stream(body, reply)
            elif reply is not None:
                self._send(200, state.chat_response(body, reply))
            else:
                self._send(404, {"error": {"message": "unknown path", "type": "x"}})

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _stream(self, body: dict[str, Any], text: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            words = re.findall(r"\s*\S+", text)
            try:
                for index, word in enumerate(words):
                    pause = state.first_token_delay_seconds if index == 0 else 0.0
                    if pause and state.stopping.wait(pause):
                        return
                    if state.break_stream_after is not None and index >= state.break_stream_after:
                        # How OpenAI reports a failure once the stream has started.
                        self._event({"error": {"message": "boom", "type": "server_error"}})
                        return
                    self._event(state.chunk(body, {"content": word}, None))
                    if index == 0 and state.stream_gate is not None:
                        state.stream_gate.wait(30)
                    if state.token_delay_seconds and state.stopping.wait(state.token_delay_seconds):
                        return
                self._event(state.chunk(body, {}, "stop"))
                if (body.get("stream_options") or {}).get("include_usage"):
                    # As OpenAI does: a last chunk without choices that carries the usage.
                    usage = {"prompt_tokens": 10, "completion_tokens": len(words)}
                    usage["total_tokens"] = 10 + len(words)
                    self._event({**state.chunk(body, {}, None), "choices": [], "usage": usage})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except OSError:  # the client went away: stop writing
                with state.lock:
                    state.streams_abandoned += 1
                return
            with state.lock:
                state.streams_completed += 1

        def _event(self, payload: dict[str, Any]) -> None:
            self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
            self.wfile.flush()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    state.stopping.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        state.stopping.set()
        server.shutdown()
        server.server_close()
