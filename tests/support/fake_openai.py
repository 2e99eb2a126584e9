"""A local OpenAI-compatible HTTP server for tests: the real openai / langchain-openai clients
talk to it over a socket, and it records what they sent."""

from __future__ import annotations

import base64
import json
import struct
import threading
from collections.abc import Iterator
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
            with state.lock:
                state.requests.append((self.path, body))
            if state.fail_with_status is not None:
                self._send(state.fail_with_status, {"error": {"message": "boom", "type": "x"}})
            elif "/embeddings" in self.path:
                self._send(200, state.embeddings_response(body))
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

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
