"""The benchmarks' fake OpenAI server in its own process: HTTP/1.1 with keep-alive (as OpenAI
serves), streams that still end, and the counts and bodies the chat benchmark reads."""

from __future__ import annotations

import httpx

from benchmarks.chat import ANSWER, fake_reply
from benchmarks.fake_llm import fake_llm_process

CHAT = {"model": "m", "messages": [{"role": "user", "content": "How long?"}]}


def test_requests_share_one_kept_alive_connection_and_streams_close_theirs() -> None:
    with fake_llm_process(fake_reply) as fake, httpx.Client(timeout=30) as http:
        url = f"{fake.base_url}/v1"
        first = http.post(f"{url}/chat/completions", json=CHAT)
        second = http.post(f"{url}/embeddings", json={"input": ["hello"], "model": "e"})
        assert first.http_version == second.http_version == "HTTP/1.1"
        assert "close" not in first.headers.get("connection", "")
        assert first.json()["choices"][0]["message"]["content"] == ANSWER
        streamed = http.post(f"{url}/chat/completions", json={**CHAT, "stream": True})
        assert streamed.headers["connection"] == "close"
        assert streamed.text.rstrip().endswith("data: [DONE]")
        counts = fake.counts()
        assert (counts.chat, counts.embeddings) == (2, 1)
        chat_body, embedding_body = fake.last_bodies()
        assert chat_body == CHAT  # the last non-streamed one
        assert embedding_body == {"input": ["hello"], "model": "e"}
