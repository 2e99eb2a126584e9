"""Chat overhead benchmark: what the app adds around the language model, under concurrent load.

The local host (`python -m local_host`, a subprocess) serves the app against a fresh database with
`LLM_PROVIDER=openai` and `OPENAI_BASE_URL` pointing at the fake OpenAI server of the tests
(tests/support/fake_openai.py), which runs in this process and waits a fixed `--llm-delay-ms`
before answering each chat completion (and only those: embeddings answer at once; the app has no
setting for offline embeddings with an OpenAI chat model, so query embeddings go to the fake too).
`CHAT_RATE_LIMIT_PER_MINUTE=0`.

Each of `--clients` threads (httpx) owns a session pre-loaded with uploaded transcripts and asks
one question after another for `--seconds`; then one client alone for `--solo-seconds`, whose
figures show the time per question without the queueing that 16 clients cause on a small
machine. Every client asks one question before the clock starts, so every measured question has
history: a follow-up ("What about ...") makes two LLM calls (condense it, then answer), a
self-contained question one (the app skips the condense step); the fake's own count gives the
mean per question. Reported: client latency, the server time outside the fake (latency minus
the fake's delay per LLM call), questions per second and errors (must be 0).

The fake's server listens with the standard library's default backlog of 5, which makes 16
simultaneous connections wait for TCP's one-second SYN retry (a p95 of 1.5 s for a 0.5 s
delay); the benchmark raises it to 128 for its own server while it runs (`_listen_backlog`).

Baseline, in the same run (for `--baseline-seconds`, by default 10): the same number of threads
calling the fake server directly, one chat completion per request (pure LLM latency over HTTP);
the ratio compares a question's latency with that of the LLM calls it makes.

    python -m benchmarks.chat [--seconds 30] [--clients 16] [--llm-delay-ms 500] [--solo-seconds 10]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import (
    WORDS,
    describe,
    fake_llm_settings,
    local_host,
    machine,
    migrated_database,
    percentile,
)
from tests.support.fake_openai import FakeOpenAI, fake_openai_server

QUESTIONS = (
    "How long does the battery last?",
    "What does the review say about the keyboard?",
    "Is the screen bright enough to use outside?",
    "How is the performance in the test?",
    "What about the price and the design?",
    "Does the kickstand feel solid?",
    "How good are the camera and the speakers?",
    "Which ports does the laptop have?",
)
ANSWER = "The reviewer says the battery lasts about ten hours [1], and the screen is bright [2]."
SESSION_HEADER = "X-Session-Id"
# Bounds on every loop, whatever the clock says.
MAX_QUESTIONS_PER_CLIENT = 100_000
REQUEST_TIMEOUT_SECONDS = 60.0


@contextmanager
def _listen_backlog(size: int) -> Iterator[None]:
    """Servers made by `ThreadingHTTPServer` in this process meanwhile listen with `size`."""
    previous = ThreadingHTTPServer.request_queue_size
    ThreadingHTTPServer.request_queue_size = size
    try:
        yield
    finally:
        ThreadingHTTPServer.request_queue_size = previous


def transcript_segments(seed: int, captions: int = 600) -> list[dict[str, Any]]:
    """An uploaded transcript as `segments`: six-word captions, 2.4 s apart (24 minutes)."""
    rng = random.Random(seed)
    return [
        {"text": " ".join(rng.choice(WORDS) for _ in range(6)), "start": i * 2.4, "duration": 2.6}
        for i in range(captions)
    ]


def fake_reply(body: dict[str, Any]) -> str:
    """The condense call gets the follow-up question back; the answer call cites passages."""
    text = FakeOpenAI.message_text(body)
    marker = "Follow-up question:"
    if marker in text:
        return text.rsplit(marker, 1)[1].strip()
    return ANSWER


class Load:
    """Latencies and errors of concurrent clients, each running its own loop until a deadline."""

    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def run(
        self, clients: int, seconds: float, request: Callable[[int, httpx.Client], int]
    ) -> float:
        """Run `request(client_index, http)` in `clients` threads for `seconds`; each call returns
        an HTTP status (200 is a success). Returns the wall time in seconds."""
        start = threading.Barrier(clients + 1)
        deadline = [0.0]

        def client(index: int) -> None:
            with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS) as http:
                start.wait()
                for _ in range(MAX_QUESTIONS_PER_CLIENT):
                    if time.perf_counter() >= deadline[0]:
                        return
                    began = time.perf_counter()
                    try:
                        status = request(index, http)
                        problem = None if status == 200 else f"HTTP {status}"
                    except httpx.HTTPError as exc:
                        problem = f"{type(exc).__name__}: {exc}"
                    elapsed = (time.perf_counter() - began) * 1000
                    with self._lock:
                        if problem is None:
                            self.latencies_ms.append(elapsed)
                        else:
                            self.errors.append(problem)

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
        for thread in threads:
            thread.start()
        began = time.perf_counter()
        deadline[0] = began + seconds
        start.wait()
        for thread in threads:
            thread.join(seconds + 2 * REQUEST_TIMEOUT_SECONDS)
        return time.perf_counter() - began


def _prepare_sessions(base: str, clients: int, videos: int) -> list[str]:
    """One session per client, each with `videos` uploaded transcripts, and one question asked
    (so that every measured question has history)."""
    tokens = []
    with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_SECONDS) as http:
        for client in range(clients):
            response = http.post("/sessions")
            assert response.status_code == 201, response.text
            token = response.json()["session_id"]
            uploads = [
                {
                    "video_id": f"bench{client:03d}v{video}"[:11].ljust(11, "x"),
                    "title": f"Review {client}/{video}",
                    "format": "segments",
                    "content": transcript_segments(client * 100 + video),
                }
                for video in range(videos)
            ]
            response = http.post(
                "/videos", json={"transcripts": uploads}, headers={SESSION_HEADER: token}
            )
            assert response.status_code == 200, response.text
            statuses = [item["status"] for item in response.json()["videos"]]
            assert statuses == ["added"] * videos, response.text
            response = http.post(
                "/chat", json={"message": QUESTIONS[0]}, headers={SESSION_HEADER: token}
            )
            assert response.status_code == 200, response.text
            tokens.append(token)
    return tokens


def run(
    seconds: float,
    clients: int = 16,
    llm_delay_ms: float = 500.0,
    videos: int = 2,
    baseline_seconds: float | None = None,
    solo_seconds: float = 10.0,
) -> dict[str, float]:
    """Measure; prints the figures and returns them (times in milliseconds)."""
    delay = llm_delay_ms / 1000
    baseline_seconds = min(seconds, 10.0) if baseline_seconds is None else baseline_seconds
    fake = FakeOpenAI(
        chat_replies=fake_reply, delay_seconds=delay, only_path_containing="/chat/completions"
    )
    chat = Load()
    solo = Load()
    baseline = Load()
    with (
        migrated_database() as url,
        _listen_backlog(128),
        fake_openai_server(fake),
        tempfile.TemporaryDirectory(prefix="bench-chat-") as tmp,
    ):
        settings = fake_llm_settings(url, fake.base_url)
        with local_host(settings, log=Path(tmp) / "host.log") as base:
            tokens = _prepare_sessions(base, clients, videos)
            with fake.lock:
                chat_calls_before = len(fake.chat_requests)
                requests_before = len(fake.requests)

            def ask(index: int, http: httpx.Client) -> int:
                body = {"message": random.choice(QUESTIONS)}
                headers = {SESSION_HEADER: tokens[index]}
                return http.post(f"{base}/chat", json=body, headers=headers).status_code

            chat_wall = chat.run(clients, seconds, ask)
            with fake.lock:
                llm_calls = len(fake.chat_requests) - chat_calls_before
                embedding_calls = len(fake.requests) - requests_before - llm_calls
            if solo_seconds > 0:
                solo.run(1, solo_seconds, ask)

        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": QUESTIONS[0]}]}

        def complete(index: int, http: httpx.Client) -> int:
            return http.post(f"{fake.base_url}/v1/chat/completions", json=body).status_code

        baseline_wall = baseline.run(clients, baseline_seconds, complete)

    answered = len(chat.latencies_ms)
    asked = answered + len(chat.errors)
    calls_per_question = llm_calls / asked if asked else float("nan")
    outside = [latency - delay * 1000 * calls_per_question for latency in chat.latencies_ms]
    llm_p50 = statistics.median(baseline.latencies_ms)
    ratio = statistics.median(chat.latencies_ms) / (calls_per_question * llm_p50)
    print(f"chat benchmark on {machine()}")
    print(
        f"{clients} clients for {seconds:.0f} s against the local host, each session with {videos} "
        f"uploaded transcripts; fake LLM delay {llm_delay_ms:.0f} ms per chat completion"
    )
    print(f"  question, client latency:        {describe(chat.latencies_ms)}")
    print(
        f"  LLM calls the fake received:     {llm_calls} for {asked} questions "
        f"({calls_per_question:.2f} per question: the answer, + condense for follow-ups); "
        f"{embedding_calls} embedding requests"
    )
    print(f"  server time outside the fake:    {describe(outside)}")
    print(
        f"  throughput: {answered / chat_wall:.1f} questions/s, errors: {len(chat.errors)}"
        + (f" (first: {chat.errors[0]})" if chat.errors else "")
    )
    solo_outside = [latency - delay * 1000 * calls_per_question for latency in solo.latencies_ms]
    if solo_outside:
        print(
            f"  one client alone, outside:       {describe(solo_outside)}"
            f"   errors: {len(solo.errors)}"
        )
    print(f"  baseline, one LLM call direct:   {describe(baseline.latencies_ms)}")
    print(
        f"  baseline throughput: {len(baseline.latencies_ms) / baseline_wall:.1f} calls/s, "
        f"errors: {len(baseline.errors)}"
        + (f" (first: {baseline.errors[0]})" if baseline.errors else "")
    )
    print(
        f"  ratio (question p50 / {calls_per_question:.2f} x LLM call p50): {ratio:.2f}"
        f"   (1.00 = no overhead)"
    )
    return {
        "latency_ms": statistics.median(chat.latencies_ms),
        "latency_p95_ms": percentile(chat.latencies_ms, 0.95),
        "outside_ms": statistics.median(outside),
        "outside_p95_ms": percentile(outside, 0.95),
        "questions_per_second": answered / chat_wall,
        "errors": float(len(chat.errors) + len(solo.errors)),
        "solo_outside_ms": statistics.median(solo_outside) if solo_outside else float("nan"),
        "llm_calls_per_question": calls_per_question,
        "baseline_ms": llm_p50,
        "baseline_p95_ms": percentile(baseline.latencies_ms, 0.95),
        "baseline_errors": float(len(baseline.errors)),
        "ratio": ratio,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--llm-delay-ms", type=float, default=500.0)
    parser.add_argument("--videos", type=int, default=2, help="uploaded transcripts per session")
    parser.add_argument(
        "--baseline-seconds", type=float, default=None, help="default: --seconds, at most 10"
    )
    parser.add_argument("--solo-seconds", type=float, default=10.0)
    args = parser.parse_args()
    run(
        args.seconds,
        args.clients,
        args.llm_delay_ms,
        args.videos,
        args.baseline_seconds,
        args.solo_seconds,
    )


if __name__ == "__main__":
    main()
