"""Chat overhead benchmark: what the app adds around the model calls, for one client alone and
under concurrent load, with a per-step breakdown.

The local host (`python -m local_host`, a subprocess) serves the app against a fresh database with
`LLM_PROVIDER=openai` and `OPENAI_BASE_URL` pointing at the fake OpenAI server of the tests, run in
a process of its own (benchmarks/fake_llm.py: HTTP/1.1 keep-alive as OpenAI serves, no GIL shared
with the load generator). It waits a fixed `--llm-delay-ms` before answering each chat completion;
embeddings (the question's, the app has no setting for offline embeddings with an OpenAI chat
model) answer at once. Every abuse limit is off.

What a client sees outside the model calls: each question's latency minus, for each model call it
made, the fake's own round trip, timed in the same run by replaying the very requests the app sent
(last chat completion and embeddings bodies) from this process over a keep-alive connection. For
one client alone (`--solo-seconds`) the calls of each question are counted exactly (the fake's
counts before and after it); under load (`--clients` threads for `--seconds`) from what the
client sees (a follow-up's condense call, an answer call unless the app answered "not found"
itself; checked against the fake's total), and the round trips are those of the same number of
threads replaying requests at once (the baseline). Every client asks one question before the
clock starts, so every measured question has history: a follow-up ("What about ...") makes two
LLM calls (condense it, then answer), a self-contained one a single call, and a question the
videos do not support none.

Breakdown (`--breakdown-questions`): the same questions asked one after another in this process
through the service layer (no HTTP) with `Dependencies.chat_stage_observer`, printing the median
of each step (`service.chat.Stages`): the prepare transaction (renewal, checks, rate windows,
history), the condense call, the question's embedding, the retrieval transaction, the not-found
check, the answer call, citations and the store transaction (exchange and token usage). Model
steps are also shown less the fake's round trip (what LangChain and the openai client add); the
local host, HTTP and adapter hop is one client's overhead over HTTP less the service's.

Targets (issue 15): one client alone ≤ 20 ms p50 outside the model calls; 16 clients ≤ 60 ms
p95. `--fake-here` runs the fake in this process, as earlier versions of this benchmark did, to
show what that did to the figures.

    python -m benchmarks.chat [--seconds 30] [--clients 16] [--llm-delay-ms 500] [--solo-seconds 10]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

import httpx

from benchmarks.common import (
    WORDS,
    describe,
    fake_llm_settings,
    local_host_process,
    machine,
    migrated_database,
    percentile,
)
from benchmarks.fake_llm import FakeCounts, fake_llm_process
from services.video_rag.service.chat import PASSAGE_STAGES
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
# Round trips replayed from one client to time the fake itself.
ROUND_TRIPS = 60
# Targets of issue 15 (milliseconds outside the model calls).
SOLO_TARGET_P50_MS = 20.0
LOADED_TARGET_P95_MS = 60.0
STEPS = PASSAGE_STAGES
MODEL_STEPS = {"condense": "chat", "answer": "chat", "embed": "embeddings"}


class Fake(Protocol):
    base_url: str

    def counts(self) -> FakeCounts: ...

    def last_bodies(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]: ...


@dataclass
class _FakeHere:
    """The fake served by threads of this process (`--fake-here`), behind the same interface."""

    fake: FakeOpenAI
    base_url: str = ""

    def counts(self) -> FakeCounts:
        with self.fake.lock:
            return FakeCounts(len(self.fake.chat_requests), len(self.fake.requests))

    def last_bodies(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        with self.fake.lock:
            chats = [b for _, b in self.fake.chat_requests if not b.get("stream")]
            embeddings = [b for path, b in self.fake.requests if "/embeddings" in path]
        return (chats[-1] if chats else None), (embeddings[-1] if embeddings else None)


@contextmanager
def _listen_backlog(size: int) -> Iterator[None]:
    """Servers made by `ThreadingHTTPServer` in this process meanwhile listen with `size`."""
    previous = ThreadingHTTPServer.request_queue_size
    ThreadingHTTPServer.request_queue_size = size
    try:
        yield
    finally:
        ThreadingHTTPServer.request_queue_size = previous


@contextmanager
def fake_server(here: bool, **options: Any) -> Iterator[Fake]:
    """The fake OpenAI server answering with `fake_reply`: in its own process, or `here`."""
    if not here:
        with fake_llm_process(fake_reply, **options) as process:
            yield process
        return
    fake = FakeOpenAI(chat_replies=fake_reply, **options)
    with _listen_backlog(128), fake_openai_server(fake):
        yield _FakeHere(fake, fake.base_url)


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
        self.model_calls: list[int] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def run(
        self,
        clients: int,
        seconds: float,
        request: Callable[[int, httpx.Client], tuple[int, int]],
    ) -> float:
        """Run `request(client_index, http)` in `clients` threads for `seconds`; each call returns
        an HTTP status (200 is a success) and the chat completions it cost. Returns the wall time
        in seconds."""
        start = threading.Barrier(clients + 1)
        deadline = [0.0]

        def client(index: int) -> None:
            with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS) as http:
                start.wait()
                for _ in range(MAX_QUESTIONS_PER_CLIENT):
                    if time.perf_counter() >= deadline[0]:
                        return
                    began = time.perf_counter()
                    calls = 0
                    try:
                        status, calls = request(index, http)
                        problem = None if status == 200 else f"HTTP {status}"
                    except httpx.HTTPError as exc:
                        problem = f"{type(exc).__name__}: {exc}"
                    elapsed = (time.perf_counter() - began) * 1000
                    with self._lock:
                        if problem is None:
                            self.latencies_ms.append(elapsed)
                            self.model_calls.append(calls)
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


@dataclass
class Asked:
    """Questions asked one after another, each with the model calls it made."""

    latencies_ms: list[float] = field(default_factory=list)
    chat_calls: list[int] = field(default_factory=list)
    embedding_calls: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cpu_seconds: float = math.nan
    """CPU time the process that answered them spent meanwhile."""

    def cpu_ms_per_question(self) -> float:
        return self.cpu_seconds * 1000 / len(self.latencies_ms) if self.latencies_ms else math.nan

    def outside(self, chat_ms: float, embedding_ms: float) -> list[float]:
        """Each latency less the fake's round trip for each call its question made."""
        return [
            latency - chats * chat_ms - embeddings * embedding_ms
            for latency, chats, embeddings in zip(
                self.latencies_ms, self.chat_calls, self.embedding_calls, strict=True
            )
        ]


def ask_one_by_one(
    fake: Fake, seconds: float, limit: int, ask: Callable[[str], bool], seed: int = 7
) -> Asked:
    """Ask QUESTIONS (in a seeded random order) one at a time for `seconds` (at most `limit`),
    counting each question's model calls at the fake; `ask` returns whether it succeeded."""
    rng = random.Random(seed)
    asked = Asked()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline and len(asked.latencies_ms) < limit:
        question = rng.choice(QUESTIONS)
        before = fake.counts()
        began = time.perf_counter()
        try:
            ok = ask(question)
            problem = None if ok else "failed"
        except httpx.HTTPError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        elapsed = (time.perf_counter() - began) * 1000
        after = fake.counts()
        if problem is not None:
            asked.errors.append(problem)
            continue
        asked.latencies_ms.append(elapsed)
        asked.chat_calls.append(after.chat - before.chat)
        asked.embedding_calls.append(after.embeddings - before.embeddings)
    return asked


def round_trips(
    url: str, body: dict[str, Any] | None, clients: int, count: int
) -> tuple[list[float], int]:
    """`count` replays of `body` to `url` by each of `clients` threads, each with its own
    keep-alive client (after one untimed request): latencies in ms, and errors."""
    if body is None:
        return [], 0
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS) as http:
            http.post(url, json=body)
            for _ in range(count):
                began = time.perf_counter()
                status = http.post(url, json=body).status_code
                elapsed = (time.perf_counter() - began) * 1000
                with lock:
                    (latencies.append(elapsed) if status == 200 else errors.append(str(status)))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(count * REQUEST_TIMEOUT_SECONDS)
    return latencies, len(errors)


def breakdown(
    settings: dict[str, str], token: str, fake: Fake, questions: int, warm_up: int = 3
) -> tuple[Asked, list[dict[str, float]]]:
    """Ask `questions` in this process through the service layer, with the stage observer on."""
    from services.video_rag.bootstrap import Dependencies
    from services.video_rag.service import chat
    from services.video_rag.settings import load_settings

    reported: list[dict[str, float]] = []
    deps = Dependencies(settings=load_settings(settings))
    try:

        def ask(question: str) -> bool:
            chat.ask(deps, token, question, None, "192.0.2.7")
            return True

        ask_one_by_one(fake, 600.0, warm_up, ask, seed=3)
        deps.chat_stage_observer = reported.append
        began = time.process_time()
        asked = ask_one_by_one(fake, 600.0, questions, ask)
        asked.cpu_seconds = time.process_time() - began
    finally:
        deps.close()
    return asked, reported


def chat_calls(question: str, answer: str) -> int:
    """The chat completions a question with history cost, from what the client sees: a condense
    call for a follow-up (`looks_like_follow_up`), an answer call unless the app answered the
    not-found sentence itself (the fake always cites passages)."""
    from services.video_rag.domain.prompts import NO_ANSWER, looks_like_follow_up

    return int(looks_like_follow_up(question)) + int(answer != NO_ANSWER)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return math.nan


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _verdict(value: float, target: float) -> str:
    return "met" if value <= target else "NOT met"


def run(
    seconds: float,
    clients: int = 16,
    llm_delay_ms: float = 500.0,
    videos: int = 2,
    baseline_seconds: float | None = None,
    solo_seconds: float = 10.0,
    breakdown_questions: int = 40,
    fake_here: bool = False,
) -> dict[str, float]:
    """Measure; prints the figures and returns them (times in milliseconds)."""
    delay = llm_delay_ms / 1000
    baseline_seconds = min(seconds, 10.0) if baseline_seconds is None else baseline_seconds
    chat = Load()
    baseline = Load()
    with (
        migrated_database() as url,
        fake_server(
            fake_here, delay_seconds=delay, only_path_containing="/chat/completions"
        ) as fake,
        tempfile.TemporaryDirectory(prefix="bench-chat-") as tmp,
    ):
        settings = fake_llm_settings(url, fake.base_url)
        with local_host_process(settings, log=Path(tmp) / "host.log") as (base, host):
            tokens = _prepare_sessions(base, max(clients, 1), videos)

            def ask(index: int, http: httpx.Client) -> tuple[int, int]:
                question = random.choice(QUESTIONS)
                headers = {SESSION_HEADER: tokens[index]}
                response = http.post(f"{base}/chat", json={"message": question}, headers=headers)
                if response.status_code != 200:
                    return response.status_code, 0
                return 200, chat_calls(question, response.json()["answer"])

            before = fake.counts()
            chat_wall = chat.run(clients, seconds, ask)
            after = fake.counts()
            with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_SECONDS) as http:

                def ask_alone(question: str) -> bool:
                    headers = {SESSION_HEADER: tokens[0]}
                    response = http.post("/chat", json={"message": question}, headers=headers)
                    return response.status_code == 200

                ask_one_by_one(fake, 600.0, 3, ask_alone, seed=5)  # warm the connection
                cpu_before = cpu_seconds(host.pid)
                solo = ask_one_by_one(fake, solo_seconds, MAX_QUESTIONS_PER_CLIENT, ask_alone)
                host_cpu = cpu_seconds(host.pid) - cpu_before

        # The fake's own round trips, replaying what the app sent.
        chat_body, embedding_body = fake.last_bodies()
        chat_url = f"{fake.base_url}/v1/chat/completions"
        embedding_url = f"{fake.base_url}/v1/embeddings"
        chat_rt, chat_rt_errors = round_trips(chat_url, chat_body, 1, ROUND_TRIPS)
        embedding_rt, embedding_rt_errors = round_trips(
            embedding_url, embedding_body, 1, ROUND_TRIPS
        )

        def complete(index: int, http: httpx.Client) -> tuple[int, int]:
            return http.post(chat_url, json=chat_body).status_code, 1

        baseline_wall = baseline.run(clients, baseline_seconds, complete)
        loaded_embedding_rt, loaded_embedding_errors = round_trips(
            embedding_url, embedding_body, clients, 10
        )
        in_process, stages = breakdown(settings, tokens[0], fake, breakdown_questions)

    return _report(
        _Figures(
            clients=clients,
            seconds=seconds,
            videos=videos,
            llm_delay_ms=llm_delay_ms,
            fake_here=fake_here,
            chat=chat,
            chat_wall=chat_wall,
            chat_calls=after.chat - before.chat,
            embedding_calls=after.embeddings - before.embeddings,
            solo=replace(solo, cpu_seconds=host_cpu),
            chat_rt=chat_rt,
            embedding_rt=embedding_rt,
            loaded_embedding_rt=loaded_embedding_rt,
            baseline=baseline,
            baseline_wall=baseline_wall,
            round_trip_errors=chat_rt_errors + embedding_rt_errors + loaded_embedding_errors,
            in_process=in_process,
            stages=stages,
        )
    )


@dataclass
class _Figures:
    clients: int
    seconds: float
    videos: int
    llm_delay_ms: float
    fake_here: bool
    chat: Load
    chat_wall: float
    chat_calls: int
    embedding_calls: int
    solo: Asked
    chat_rt: list[float]
    embedding_rt: list[float]
    loaded_embedding_rt: list[float]
    baseline: Load
    baseline_wall: float
    round_trip_errors: int
    in_process: Asked
    stages: list[dict[str, float]]


def _report(f: _Figures) -> dict[str, float]:
    chat_rt, embedding_rt = _median(f.chat_rt), _median(f.embedding_rt)
    answered = len(f.chat.latencies_ms)
    asked = answered + len(f.chat.errors)
    calls_per_question = f.chat_calls / asked if asked else float("nan")
    embeddings_per_question = f.embedding_calls / asked if asked else float("nan")
    llm_p50 = _median(f.baseline.latencies_ms)
    loaded_embedding_rt = _median(f.loaded_embedding_rt)
    outside = [
        latency - calls * llm_p50 - embeddings_per_question * loaded_embedding_rt
        for latency, calls in zip(f.chat.latencies_ms, f.chat.model_calls, strict=True)
    ]
    solo_outside = f.solo.outside(chat_rt, embedding_rt)
    service_outside = f.in_process.outside(chat_rt, embedding_rt)
    where = "in this process (--fake-here)" if f.fake_here else "in its own process"
    print(f"chat benchmark on {machine()}")
    print(
        f"fake LLM {where}: {f.llm_delay_ms:.0f} ms per chat completion, embeddings at once; "
        f"each session has {f.videos} uploaded transcripts"
    )
    print(
        f"  the fake's own round trip (the app's requests replayed from here, one at a time): "
        f"chat completion {describe(f.chat_rt)}; embeddings {describe(f.embedding_rt)}"
    )
    print(f"one client alone, {len(f.solo.latencies_ms)} questions one after another:")
    print(f"  question, client latency:        {describe(f.solo.latencies_ms)}")
    print(
        f"  model calls per question:        {_mean(f.solo.chat_calls):.2f} chat, "
        f"{_mean(f.solo.embedding_calls):.2f} embeddings (counted per question at the fake)"
    )
    print(
        f"  outside the model calls:         {describe(solo_outside)}"
        f"   errors: {len(f.solo.errors)}"
    )
    solo_p50 = _median(solo_outside)
    print(
        f"  CPU of the local host per question: {f.solo.cpu_ms_per_question():.1f} ms "
        f"(a figure that the machine's load inflates less than the times)"
    )
    print(
        f"  target p50 <= {SOLO_TARGET_P50_MS:.0f} ms: {_verdict(solo_p50, SOLO_TARGET_P50_MS)} "
        f"({solo_p50:.1f} ms)"
    )
    print(f"{f.clients} clients for {f.seconds:.0f} s:")
    print(f"  question, client latency:        {describe(f.chat.latencies_ms)}")
    print(
        f"  LLM calls the fake received:     {f.chat_calls} for {asked} questions "
        f"({calls_per_question:.2f} per question: the answer, + condense for follow-ups); "
        f"{f.embedding_calls} embedding requests"
    )
    print(
        f"  calls attributed to questions:   {sum(f.chat.model_calls)} (a follow-up's condense "
        f"call, an answer unless not found), the fake counted {f.chat_calls}"
    )
    print(f"  server time outside the fake:    {describe(outside)}")
    print(
        f"  throughput: {answered / f.chat_wall:.1f} questions/s, errors: {len(f.chat.errors)}"
        + (f" (first: {f.chat.errors[0]})" if f.chat.errors else "")
    )
    print(
        f"  baseline, {f.clients} threads calling the fake directly: chat completion "
        f"{describe(f.baseline.latencies_ms)}; embeddings {describe(f.loaded_embedding_rt)}"
    )
    print(
        f"  baseline throughput: {len(f.baseline.latencies_ms) / f.baseline_wall:.1f} calls/s, "
        f"errors: {len(f.baseline.errors) + f.round_trip_errors}"
        + (f" (first: {f.baseline.errors[0]})" if f.baseline.errors else "")
    )
    loaded_p95 = percentile(outside, 0.95) if outside else float("nan")
    print(
        f"  target p95 <= {LOADED_TARGET_P95_MS:.0f} ms: "
        f"{_verdict(loaded_p95, LOADED_TARGET_P95_MS)} ({loaded_p95:.1f} ms)"
    )
    ratio = _median(f.chat.latencies_ms) / (calls_per_question * llm_p50)
    print(
        f"  ratio (question p50 / {calls_per_question:.2f} x LLM call p50): {ratio:.2f}"
        f"   (1.00 = no overhead)"
    )
    figures = {
        "latency_ms": _median(f.chat.latencies_ms),
        "latency_p95_ms": percentile(f.chat.latencies_ms, 0.95),
        "outside_ms": _median(outside),
        "outside_p95_ms": loaded_p95,
        "questions_per_second": answered / f.chat_wall,
        "errors": float(len(f.chat.errors) + len(f.solo.errors) + len(f.in_process.errors)),
        "solo_outside_ms": solo_p50,
        "solo_host_cpu_ms": f.solo.cpu_ms_per_question(),
        "solo_outside_p95_ms": percentile(solo_outside, 0.95) if solo_outside else float("nan"),
        "llm_calls_per_question": calls_per_question,
        "chat_round_trip_ms": chat_rt,
        "embedding_round_trip_ms": embedding_rt,
        "baseline_ms": llm_p50,
        "baseline_p95_ms": percentile(f.baseline.latencies_ms, 0.95),
        "baseline_errors": float(len(f.baseline.errors) + f.round_trip_errors),
        "ratio": ratio,
        "service_outside_ms": _median(service_outside),
    }
    figures.update(_print_breakdown(f, chat_rt, embedding_rt, service_outside, solo_p50))
    return figures


def _mean(values: Sequence[int]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _print_breakdown(
    f: _Figures,
    chat_rt: float,
    embedding_rt: float,
    service_outside: list[float],
    solo_p50: float,
) -> dict[str, float]:
    figures: dict[str, float] = {}
    if not f.stages:
        print("breakdown: none asked (--breakdown-questions 0)")
        return figures
    print(
        f"breakdown: {len(f.stages)} questions asked one by one in this process through the "
        f"service layer (no HTTP); medians in ms"
    )
    for step in STEPS:
        values = [stage[step] for stage in f.stages if step in stage]
        if step == "condense":  # only follow-ups make the call
            values = [value for value in values if value >= chat_rt / 2]
        if not values:
            print(f"  {step:16} (not reached)")
            continue
        median = statistics.median(values)
        figures[f"step_{step}_ms"] = median
        kind = MODEL_STEPS.get(step)
        if kind is None:
            print(f"  {step:16} {median:8.2f}")
            continue
        trip = chat_rt if kind == "chat" else embedding_rt
        print(
            f"  {step:16} {median:8.2f}   less the fake's round trip ({trip:.2f}): "
            f"{median - trip:6.2f} in LangChain and the openai client"
            + (f" (follow-ups only, n={len(values)})" if step == "condense" else "")
        )
        figures[f"step_{step}_client_ms"] = median - trip
    service_p50 = _median(service_outside)
    print(f"  service layer, outside the model calls: {describe(service_outside)}")
    print(f"  CPU of this process per question: {f.in_process.cpu_ms_per_question():.1f} ms")
    figures["service_cpu_ms"] = f.in_process.cpu_ms_per_question()
    print(
        f"  local host, HTTP and adapter (one client's p50 over HTTP less the service's): "
        f"{solo_p50 - service_p50:.2f}"
    )
    figures["http_hop_ms"] = solo_p50 - service_p50
    return figures


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
    parser.add_argument("--breakdown-questions", type=int, default=40)
    parser.add_argument(
        "--fake-here", action="store_true", help="serve the fake from this process (as before)"
    )
    args = parser.parse_args()
    run(
        args.seconds,
        args.clients,
        args.llm_delay_ms,
        args.videos,
        args.baseline_seconds,
        args.solo_seconds,
        args.breakdown_questions,
        args.fake_here,
    )


if __name__ == "__main__":
    main()
