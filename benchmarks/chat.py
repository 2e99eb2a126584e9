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

Rounds (`--repeat N`, default 3): after the sessions are prepared, each round measures the app
(`--clients` for `--seconds`, one client for `--solo-seconds`, the breakdown's questions) and the
baseline (`--round-trips` replays one at a time, `--clients` threads calling the fake for
`--baseline-seconds`) back to back, the baseline first in even rounds and last in odd ones; the
durations are per round. Each round's figures outside the model calls use that round's own
baseline. Printed: every round's samples pooled, then per figure the median, min and max of the
per-round values, and the ratios (question / its model calls) as the median of the per-round
ratios; the targets are judged on those medians. `--json FILE` also writes every round.

Targets (issue 15): one client alone ≤ 20 ms p50 outside the model calls; 16 clients ≤ 60 ms
p95. `--fake-here` runs the fake in this process, as earlier versions of this benchmark did, to
show what that did to the figures.

    python -m benchmarks.chat [--repeat 3] [--seconds 10] [--clients 16] [--llm-delay-ms 500]
        [--solo-seconds 5] [--breakdown-questions 12] [--round-trips 20] [--json FILE]
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
    DEFAULT_REPEAT,
    WORDS,
    Figure,
    Ratio,
    add_round_arguments,
    describe,
    fake_llm_settings,
    local_host_process,
    machine,
    measure_rounds,
    migrated_database,
    percentile,
    write_json,
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
# Round trips replayed from one client to time the fake itself, per round.
ROUND_TRIPS = 20
# Load runs this long before each round's measured seconds.
WARM_UP_SECONDS = 1.0
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
        self.warm_up_answers = 0  # answered while warming up: cost model calls, not measured
        self._lock = threading.Lock()

    def run(
        self,
        clients: int,
        seconds: float,
        request: Callable[[int, httpx.Client], tuple[int, int]],
    ) -> float:
        """Run `request(client_index, http)` in `clients` threads for WARM_UP_SECONDS, then for
        `seconds`, which are measured (the clients' simultaneous first requests would otherwise
        weigh on the percentiles of short rounds); each call returns an HTTP status (200 is a
        success) and the chat completions it cost. Returns the measured wall time in seconds."""
        start = threading.Barrier(clients + 1)
        deadline = [0.0]
        measured_from = [0.0]

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
                        if problem is not None:
                            self.errors.append(problem)
                        elif began >= measured_from[0]:
                            self.latencies_ms.append(elapsed)
                            self.model_calls.append(calls)
                        else:
                            self.warm_up_answers += 1

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
        for thread in threads:
            thread.start()
        measured_from[0] = time.perf_counter() + WARM_UP_SECONDS
        deadline[0] = measured_from[0] + seconds
        start.wait()
        for thread in threads:
            thread.join(WARM_UP_SECONDS + seconds + 2 * REQUEST_TIMEOUT_SECONDS)
        return time.perf_counter() - measured_from[0]


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
    seconds: float = 10.0,
    clients: int = 16,
    llm_delay_ms: float = 500.0,
    videos: int = 2,
    baseline_seconds: float | None = None,
    solo_seconds: float = 5.0,
    breakdown_questions: int = 12,
    fake_here: bool = False,
    repeat: int = DEFAULT_REPEAT,
    round_trip_count: int = ROUND_TRIPS,
    json_path: Path | None = None,
) -> dict[str, float]:
    """Measure `repeat` rounds, each the app (`clients` for `seconds`, one client for
    `solo_seconds`, `breakdown_questions` through the service layer) and the baseline (the fake
    called directly: `round_trip_count` replays one at a time, `clients` threads for
    `baseline_seconds`) back to back in alternating order; prints every round's samples pooled
    and the summary, and returns the medians over the rounds (`<key>_min`, `<key>_max` too;
    times in milliseconds)."""
    delay = llm_delay_ms / 1000
    baseline_seconds = min(seconds, 5.0) if baseline_seconds is None else baseline_seconds
    print(f"chat benchmark on {machine()} (as it starts), {repeat} round(s)")
    with (
        migrated_database() as url,
        fake_server(
            fake_here, delay_seconds=delay, only_path_containing="/chat/completions"
        ) as fake,
        tempfile.TemporaryDirectory(prefix="bench-chat-") as tmp,
    ):
        settings = fake_llm_settings(url, fake.base_url)
        chat_url = f"{fake.base_url}/v1/chat/completions"
        embedding_url = f"{fake.base_url}/v1/embeddings"
        with (
            local_host_process(settings, log=Path(tmp) / "host.log") as (base, host),
            httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_SECONDS) as solo_http,
        ):
            tokens = _prepare_sessions(base, max(clients, 1), videos)

            def ask(index: int, http: httpx.Client) -> tuple[int, int]:
                question = random.choice(QUESTIONS)
                headers = {SESSION_HEADER: tokens[index]}
                response = http.post(f"{base}/chat", json={"message": question}, headers=headers)
                if response.status_code != 200:
                    return response.status_code, 0
                return 200, chat_calls(question, response.json()["answer"])

            def ask_alone(question: str) -> bool:
                headers = {SESSION_HEADER: tokens[0]}
                response = solo_http.post("/chat", json={"message": question}, headers=headers)
                return response.status_code == 200

            ask_one_by_one(fake, 600.0, 3, ask_alone, seed=5)  # warm the connection

            def app_round(number: int) -> _AppRound:
                loaded = Load()
                before = fake.counts()
                wall = loaded.run(clients, seconds, ask)
                after = fake.counts()
                cpu_before = cpu_seconds(host.pid)
                solo = ask_one_by_one(
                    fake, solo_seconds, MAX_QUESTIONS_PER_CLIENT, ask_alone, seed=7 + number
                )
                solo.cpu_seconds = cpu_seconds(host.pid) - cpu_before
                in_process, stages = breakdown(settings, tokens[0], fake, breakdown_questions)
                return _AppRound(
                    loaded,
                    wall,
                    after.chat - before.chat,
                    after.embeddings - before.embeddings,
                    solo,
                    in_process,
                    stages,
                )

            def baseline_round(_: int) -> _BaselineRound:
                # The fake's own round trips, replaying what the app sent (before the first
                # round: its sessions' first questions).
                chat_body, embedding_body = fake.last_bodies()
                chat_rt, chat_errors = round_trips(chat_url, chat_body, 1, round_trip_count)
                embedding_rt, embedding_errors = round_trips(
                    embedding_url, embedding_body, 1, round_trip_count
                )

                def complete(index: int, http: httpx.Client) -> tuple[int, int]:
                    return http.post(chat_url, json=chat_body).status_code, 1

                loaded = Load()
                wall = loaded.run(clients, baseline_seconds, complete)
                loaded_embedding_rt, loaded_errors = round_trips(
                    embedding_url, embedding_body, clients, 10
                )
                return _BaselineRound(
                    chat_rt,
                    embedding_rt,
                    loaded_embedding_rt,
                    loaded,
                    wall,
                    chat_errors + embedding_errors + loaded_errors,
                )

            measured: list[_Figures] = []

            def round_figures(app: _AppRound, base: _BaselineRound | None) -> dict[str, float]:
                assert base is not None
                figures = _Figures(clients, seconds, videos, llm_delay_ms, fake_here, app, base)
                measured.append(figures)
                return _report(figures, say=_silent)

            rounds = measure_rounds(
                repeat, app_round, baseline_round, round_figures, ROUND_FIGURES, ROUND_RATIOS
            )

    print(f"every question and call of all {repeat} round(s) pooled:")
    _report(_pool(measured), say=print)
    result = rounds.medians()
    solo_p50, loaded_p95 = result["solo_outside_ms"], result["outside_p95_ms"]
    print(
        f"targets (medians over the rounds): one client alone p50 <= {SOLO_TARGET_P50_MS:.0f} ms"
        f" outside the model calls: {_verdict(solo_p50, SOLO_TARGET_P50_MS)} ({solo_p50:.1f} ms);"
        f" {clients} clients p95 <= {LOADED_TARGET_P95_MS:.0f} ms: "
        f"{_verdict(loaded_p95, LOADED_TARGET_P95_MS)} ({loaded_p95:.1f} ms)"
    )
    print(f"chat benchmark done; machine: {machine()}")
    result["errors"] = sum(r["errors"] for r in rounds.figures)
    result["baseline_errors"] = sum(r["baseline_errors"] for r in rounds.figures)
    write_json(json_path, "chat", {"figures": result, **rounds.as_json()})
    return result


def _silent(_: str) -> None:
    """Prints nothing (each round's figures are summarized, not printed)."""


ROUND_FIGURES = (
    Figure("solo_latency_ms", "one client: question p50"),
    Figure("solo_outside_ms", "one client: outside the model calls p50"),
    Figure("solo_outside_p95_ms", "one client: outside the model calls p95"),
    Figure("solo_host_cpu_ms", "one client: local host CPU per question"),
    Figure("chat_round_trip_ms", "baseline: the fake's chat round trip p50"),
    Figure("embedding_round_trip_ms", "baseline: the fake's embeddings round trip p50"),
    Figure("latency_ms", "loaded: question p50"),
    Figure("latency_p95_ms", "loaded: question p95"),
    Figure("outside_ms", "loaded: outside the model calls p50"),
    Figure("outside_p95_ms", "loaded: outside the model calls p95"),
    Figure("questions_per_second", "loaded: questions/s", "/s"),
    Figure("llm_calls_per_question", "loaded: chat completions per question", ""),
    Figure("baseline_ms", "baseline loaded: chat completion p50"),
    Figure("baseline_p95_ms", "baseline loaded: chat completion p95"),
    *(Figure(f"step_{step}_ms", f"breakdown: {step} p50") for step in STEPS),
    *(
        Figure(f"step_{step}_client_ms", f"breakdown: {step} less the fake's round trip")
        for step in MODEL_STEPS
    ),
    Figure("service_outside_ms", "breakdown: service outside the model calls p50"),
    Figure("service_cpu_ms", "breakdown: CPU of this process per question"),
    Figure("http_hop_ms", "local host, HTTP and adapter"),
)
ROUND_RATIOS = (
    Ratio(
        "solo_ratio",
        "one client: question p50 / its model calls'",
        "solo_latency_ms",
        "solo_model_ms",
    ),
    Ratio(
        "ratio",
        "loaded: question p50 / its model calls'",
        "latency_ms",
        "llm_time_ms",
    ),
)


@dataclass
class _AppRound:
    chat: Load
    chat_wall: float
    chat_calls: int
    embedding_calls: int
    solo: Asked
    in_process: Asked
    stages: list[dict[str, float]]


@dataclass
class _BaselineRound:
    chat_rt: list[float]
    embedding_rt: list[float]
    loaded_embedding_rt: list[float]
    baseline: Load
    baseline_wall: float
    round_trip_errors: int


def _pool(rounds: Sequence[_Figures]) -> _Figures:
    """Every round's samples and counts together (for the pooled printout)."""
    chat, baseline = Load(), Load()
    solo, in_process = Asked(cpu_seconds=0.0), Asked(cpu_seconds=0.0)
    for f in rounds:
        for target, source in ((chat, f.app.chat), (baseline, f.base.baseline)):
            target.latencies_ms += source.latencies_ms
            target.model_calls += source.model_calls
            target.errors += source.errors
            target.warm_up_answers += source.warm_up_answers
        for asked, part in ((solo, f.app.solo), (in_process, f.app.in_process)):
            asked.latencies_ms += part.latencies_ms
            asked.chat_calls += part.chat_calls
            asked.embedding_calls += part.embedding_calls
            asked.errors += part.errors
            asked.cpu_seconds += part.cpu_seconds
    app = _AppRound(
        chat,
        sum(f.app.chat_wall for f in rounds),
        sum(f.app.chat_calls for f in rounds),
        sum(f.app.embedding_calls for f in rounds),
        solo,
        in_process,
        [stage for f in rounds for stage in f.app.stages],
    )
    base = _BaselineRound(
        [v for f in rounds for v in f.base.chat_rt],
        [v for f in rounds for v in f.base.embedding_rt],
        [v for f in rounds for v in f.base.loaded_embedding_rt],
        baseline,
        sum(f.base.baseline_wall for f in rounds),
        sum(f.base.round_trip_errors for f in rounds),
    )
    return replace(rounds[0], app=app, base=base)


@dataclass
class _Figures:
    clients: int
    seconds: float
    videos: int
    llm_delay_ms: float
    fake_here: bool
    app: _AppRound
    base: _BaselineRound


def _report(f: _Figures, say: Callable[[str], None]) -> dict[str, float]:
    """`f`'s figures (times in ms); `say` prints its details."""
    app, base = f.app, f.base
    chat_rt, embedding_rt = _median(base.chat_rt), _median(base.embedding_rt)
    answered = len(app.chat.latencies_ms)
    asked = answered + len(app.chat.errors)
    # The fake counted the warm-up's calls too.
    everything = asked + app.chat.warm_up_answers
    calls_per_question = app.chat_calls / everything if everything else float("nan")
    embeddings_per_question = app.embedding_calls / asked if asked else float("nan")
    llm_p50 = _median(base.baseline.latencies_ms)
    loaded_embedding_rt = _median(base.loaded_embedding_rt)
    outside = [
        latency - calls * llm_p50 - embeddings_per_question * loaded_embedding_rt
        for latency, calls in zip(app.chat.latencies_ms, app.chat.model_calls, strict=True)
    ]
    solo_outside = app.solo.outside(chat_rt, embedding_rt)
    service_outside = app.in_process.outside(chat_rt, embedding_rt)
    where = "in this process (--fake-here)" if f.fake_here else "in its own process"
    say(
        f"fake LLM {where}: {f.llm_delay_ms:.0f} ms per chat completion, embeddings at once; "
        f"each session has {f.videos} uploaded transcripts"
    )
    say(
        f"  the fake's own round trip (the app's requests replayed from here, one at a time): "
        f"chat completion {describe(base.chat_rt)}; embeddings {describe(base.embedding_rt)}"
    )
    say(f"one client alone, {len(app.solo.latencies_ms)} questions one after another:")
    say(f"  question, client latency:        {describe(app.solo.latencies_ms)}")
    say(
        f"  model calls per question:        {_mean(app.solo.chat_calls):.2f} chat, "
        f"{_mean(app.solo.embedding_calls):.2f} embeddings (counted per question at the fake)"
    )
    say(
        f"  outside the model calls:         {describe(solo_outside)}"
        f"   errors: {len(app.solo.errors)}"
    )
    solo_p50 = _median(solo_outside)
    say(
        f"  CPU of the local host per question: {app.solo.cpu_ms_per_question():.1f} ms "
        f"(a figure that the machine's load inflates less than the times)"
    )
    say(f"{f.clients} clients for {f.seconds:.0f} s per round:")
    say(f"  question, client latency:        {describe(app.chat.latencies_ms)}")
    say(
        f"  LLM calls the fake received:     {app.chat_calls} for {asked} questions "
        f"({calls_per_question:.2f} per question: the answer, + condense for follow-ups); "
        f"{app.embedding_calls} embedding requests"
    )
    say(
        f"  calls attributed to questions:   {sum(app.chat.model_calls)} (a follow-up's condense "
        f"call, an answer unless not found), the fake counted {app.chat_calls}"
    )
    say(f"  server time outside the fake:    {describe(outside)}")
    say(
        f"  throughput: {answered / app.chat_wall:.1f} questions/s, errors: {len(app.chat.errors)}"
        + (f" (first: {app.chat.errors[0]})" if app.chat.errors else "")
    )
    say(
        f"  baseline, {f.clients} threads calling the fake directly: chat completion "
        f"{describe(base.baseline.latencies_ms)}; embeddings {describe(base.loaded_embedding_rt)}"
    )
    say(
        f"  baseline throughput: {len(base.baseline.latencies_ms) / base.baseline_wall:.1f} "
        f"calls/s, errors: {len(base.baseline.errors) + base.round_trip_errors}"
        + (f" (first: {base.baseline.errors[0]})" if base.baseline.errors else "")
    )
    loaded_p95 = percentile(outside, 0.95) if outside else float("nan")
    figures = {
        "latency_ms": _median(app.chat.latencies_ms),
        "latency_p95_ms": percentile(app.chat.latencies_ms, 0.95),
        "outside_ms": _median(outside),
        "outside_p95_ms": loaded_p95,
        "questions_per_second": answered / app.chat_wall,
        "errors": float(len(app.chat.errors) + len(app.solo.errors) + len(app.in_process.errors)),
        "solo_latency_ms": _median(app.solo.latencies_ms),
        "solo_model_ms": _median(
            [
                chats * chat_rt + embeddings * embedding_rt
                for chats, embeddings in zip(
                    app.solo.chat_calls, app.solo.embedding_calls, strict=True
                )
            ]
        ),
        "solo_outside_ms": solo_p50,
        "solo_host_cpu_ms": app.solo.cpu_ms_per_question(),
        "solo_outside_p95_ms": percentile(solo_outside, 0.95) if solo_outside else float("nan"),
        "llm_calls_per_question": calls_per_question,
        "llm_time_ms": calls_per_question * llm_p50,
        "chat_round_trip_ms": chat_rt,
        "embedding_round_trip_ms": embedding_rt,
        "baseline_ms": llm_p50,
        "baseline_p95_ms": percentile(base.baseline.latencies_ms, 0.95),
        "baseline_errors": float(len(base.baseline.errors) + base.round_trip_errors),
        "service_outside_ms": _median(service_outside),
    }
    figures.update(_print_breakdown(f, chat_rt, embedding_rt, service_outside, solo_p50, say))
    return figures


def _mean(values: Sequence[int]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _print_breakdown(
    f: _Figures,
    chat_rt: float,
    embedding_rt: float,
    service_outside: list[float],
    solo_p50: float,
    say: Callable[[str], None],
) -> dict[str, float]:
    figures: dict[str, float] = {}
    stages, in_process = f.app.stages, f.app.in_process
    if not stages:
        say("breakdown: none asked (--breakdown-questions 0)")
        return figures
    say(
        f"breakdown: {len(stages)} questions asked one by one in this process through the "
        f"service layer (no HTTP); medians in ms"
    )
    for step in STEPS:
        values = [stage[step] for stage in stages if step in stage]
        if step == "condense":  # only follow-ups make the call
            values = [value for value in values if value >= chat_rt / 2]
        if not values:
            say(f"  {step:16} (not reached)")
            continue
        median = statistics.median(values)
        figures[f"step_{step}_ms"] = median
        kind = MODEL_STEPS.get(step)
        if kind is None:
            say(f"  {step:16} {median:8.2f}")
            continue
        trip = chat_rt if kind == "chat" else embedding_rt
        say(
            f"  {step:16} {median:8.2f}   less the fake's round trip ({trip:.2f}): "
            f"{median - trip:6.2f} in LangChain and the openai client"
            + (f" (follow-ups only, n={len(values)})" if step == "condense" else "")
        )
        figures[f"step_{step}_client_ms"] = median - trip
    service_p50 = _median(service_outside)
    say(f"  service layer, outside the model calls: {describe(service_outside)}")
    say(f"  CPU of this process per question: {in_process.cpu_ms_per_question():.1f} ms")
    figures["service_cpu_ms"] = in_process.cpu_ms_per_question()
    say(
        f"  local host, HTTP and adapter (one client's p50 over HTTP less the service's): "
        f"{solo_p50 - service_p50:.2f}"
    )
    figures["http_hop_ms"] = solo_p50 - service_p50
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="of concurrent clients, per round"
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--llm-delay-ms", type=float, default=500.0)
    parser.add_argument("--videos", type=int, default=2, help="uploaded transcripts per session")
    parser.add_argument(
        "--baseline-seconds",
        type=float,
        default=None,
        help="of threads calling the fake, per round (default: --seconds, at most 5)",
    )
    parser.add_argument("--solo-seconds", type=float, default=5.0, help="per round")
    parser.add_argument("--breakdown-questions", type=int, default=12, help="per round")
    parser.add_argument(
        "--round-trips",
        type=int,
        default=ROUND_TRIPS,
        help="replays timing the fake's own round trip, per round",
    )
    parser.add_argument(
        "--fake-here", action="store_true", help="serve the fake from this process (as before)"
    )
    add_round_arguments(parser)
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
        repeat=args.repeat,
        round_trip_count=args.round_trips,
        json_path=args.json,
    )


if __name__ == "__main__":
    main()
