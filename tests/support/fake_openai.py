"""A local OpenAI-compatible HTTP server for tests: the real openai / langchain-openai clients
talk to it over a socket, and it records what they sent.

It serves embeddings (`.../embeddings`) and chat completions (`/v1/chat/completions` and the Azure
path `/openai/deployments/{deployment}/chat/completions`), can fail every request with a status,
and can wait before answering (to make clients time out)."""

from __future__ import annotations

import base64
import json
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
        seed = sum(text.encode()) % 97 + 1
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
            if targeted and state.delay_seconds and state.stopping.wait(state.delay_seconds):
                return  # the server is shutting down; the client has given up anyway
            if targeted and state.fail_with_status is not None:
                self._send(state.fail_with_status, {"error": {"message": "boom", "type": "x"}})
            elif "/embeddings" in self.path:
                self._send(200, state.embeddings_response(body))
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
