"""Streamed answers: time to the first token and to the whole answer, as a front-end sees them.

The local host (`python -m local_host`, a subprocess) serves the app against a fresh database with
`OPENAI_BASE_URL` pointing at the fake OpenAI server of the tests (tests/support/fake_openai.py),
run in a process of its own (benchmarks/fake_llm.py: no GIL shared with the client that times
the stream), which streams its answer word by word: `--first-token-ms` before the first word,
`--token-ms` after each word. A non-streamed completion (the condense step of a follow-up)
answers after `--first-token-ms`. One client (httpx) asks with `Accept: text/event-stream` and
notes when the first `delta` event arrives and when `done` arrives, for three kinds of question:

- first: a session's first question (no history: the app makes no condense call);
- follow-up: a question that leans on the conversation ("And what about its price?"), which the
  model rewrites into a standalone question before retrieval (one extra model round trip);
- standalone: a self-contained question asked after others (history, but no rewrite needed).

Baseline, in the same run: the same streamed completion requested from the fake directly (the
LLM's own first-token and total time over HTTP). `--repeat` rounds (default 3), each asking the
three questions `--runs` times and timing the baseline `--runs` times, back to back, the baseline
first in even rounds and last in odd ones. Reported: every round's streams pooled (medians, p95),
then per figure the median, min and max of the per-round medians, and the first token's overhead
over the baseline's (target for a first question: ≤ 50 ms) and the ratios to it, each computed
per round, as the median over the rounds. `--json FILE` also writes them and every round.

    python -m benchmarks.streaming [--runs 5] [--repeat 3] [--first-token-ms 300] [--token-ms 20]
        [--json FILE]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from benchmarks.chat import transcript_segments
from benchmarks.common import (
    DEFAULT_REPEAT,
    Figure,
    Ratio,
    add_round_arguments,
    describe,
    fake_llm_settings,
    local_host,
    machine,
    measure_rounds,
    migrated_database,
    write_json,
)
from benchmarks.fake_llm import fake_llm_process
from tests.support.fake_openai import FakeOpenAI

SESSION_HEADER = "X-Session-Id"
STREAM = {"Accept": "text/event-stream"}
ANSWER = (
    "The reviewer measured about ten hours of battery life in his video playback test [1], "
    "and he found the screen bright enough to use outdoors on a cloudy day [2]."
)
QUESTIONS = {
    "first": "How long does the battery last?",
    "follow-up": "And what about its price?",
    "standalone": "Is the screen bright enough to use outside?",
}
REQUEST_TIMEOUT_SECONDS = 60.0


def _reply(body: dict[str, object]) -> str:
    """The condense call gets the follow-up back, rewritten; answers get ANSWER."""
    text = FakeOpenAI.message_text(body)
    marker = "Follow-up question:"
    if marker in text:
        return "What is the price of the tablet?"
    return ANSWER


def _lines_timed(response: httpx.Response) -> Iterator[tuple[float, str]]:
    for line in response.iter_lines():
        yield time.perf_counter(), line


def _stream_times(
    http: httpx.Client, url: str, body: dict[str, object], headers: dict[str, str], done: str
) -> tuple[float, float]:
    """(first piece, end) in ms after sending: the first `delta` event (or, for the fake, the
    first chunk) and the line that marks the end (`event: done` / `data: [DONE]`)."""
    began = time.perf_counter()
    first = end = None
    with http.stream("POST", url, json=body, headers=headers) as response:
        assert response.status_code == 200, response.read()
        for arrived, line in _lines_timed(response):
            if first is None and line.startswith(("event: delta", "data: {")):
                first = arrived
            if line.startswith(done):
                end = arrived
                break
    assert first is not None, "no answer text arrived"
    assert end is not None, "the stream did not finish"
    return (first - began) * 1000, (end - began) * 1000


KINDS = (*QUESTIONS, "baseline")


def _label(kind: str) -> str:
    return f"{kind} question" if kind in QUESTIONS else "baseline (LLM direct)"


# Per-round figures: the medians of each kind of question, then the differences and ratios
# against the baseline's (each round's own, then their median).
ROUND_FIGURES = tuple(
    Figure(
        f"{kind}_{part}_ms",
        f"{kind} {'question' if kind in QUESTIONS else '(LLM direct)'}: {label}",
    )
    for kind in KINDS
    for part, label in (("first", "first token p50"), ("total", "whole answer p50"))
)
ROUND_RATIOS = (
    *(
        Ratio(
            f"{kind}_first_overhead_ms",
            f"{kind}: first token - the LLM's",
            f"{kind}_first_ms",
            "baseline_first_ms",
            difference=True,
        )
        for kind in QUESTIONS
    ),
    Ratio(
        "first_first_ratio", "first: first token / the LLM's", "first_first_ms", "baseline_first_ms"
    ),
    Ratio(
        "first_total_ratio",
        "first: whole answer / the LLM's",
        "first_total_ms",
        "baseline_total_ms",
    ),
)
Samples = dict[str, list[tuple[float, float]]]


def _round_figures(app: Samples, base: Samples | None) -> dict[str, float]:
    figures: dict[str, float] = {}
    for kind, samples in {**app, **(base or {})}.items():
        figures[f"{kind}_first_ms"] = statistics.median(first for first, _ in samples)
        figures[f"{kind}_total_ms"] = statistics.median(total for _, total in samples)
    return figures


def run(
    runs: int = 5,
    first_token_ms: float = 300.0,
    token_ms: float = 20.0,
    repeat: int = DEFAULT_REPEAT,
    json_path: Path | None = None,
) -> dict[str, float]:
    """Measure `repeat` rounds, each `runs` times the three questions and `runs` times the
    baseline, back to back in alternating order; prints every round's samples pooled and the
    summary, and returns the medians over the rounds (`<key>_min`, `<key>_max` too; ms)."""
    pooled: Samples = {kind: [] for kind in KINDS}
    condense_calls: dict[str, int] = dict.fromkeys(QUESTIONS, 0)
    print(f"streaming benchmark on {machine()} (as it starts), {repeat} round(s)")
    print(
        f"{runs} runs per round; fake LLM streams {len(ANSWER.split())} words: first after "
        f"{first_token_ms:.0f} ms, then one every {token_ms:.0f} ms (a non-streamed call: "
        f"{first_token_ms:.0f} ms)"
    )
    with (
        migrated_database() as url,
        fake_llm_process(
            _reply,
            first_token_delay_seconds=first_token_ms / 1000,
            token_delay_seconds=token_ms / 1000,
            delay_seconds=first_token_ms / 1000,
            only_path_containing="/chat/completions",
        ) as fake,
        tempfile.TemporaryDirectory(prefix="bench-streaming-") as tmp,
    ):
        settings = fake_llm_settings(url, fake.base_url)
        with (
            local_host(settings, log=Path(tmp) / "host.log") as base,
            httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT_SECONDS) as http,
        ):
            headers = {**STREAM, SESSION_HEADER: _session_with_videos(http)}

            def ask(kind: str) -> tuple[float, float]:
                before = fake.counts().chat
                result = _stream_times(
                    http, "/chat", {"message": QUESTIONS[kind]}, headers, "event: done"
                )
                condense_calls[kind] += fake.counts().chat - before - 1
                return result

            def direct() -> tuple[float, float]:
                return _stream_times(
                    http,
                    f"{fake.base_url}/v1/chat/completions",
                    {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user"}]},
                    {},
                    "data: [DONE]",
                )

            def app_round(_: int) -> Samples:
                times: Samples = {kind: [] for kind in QUESTIONS}
                for _ in range(runs):
                    assert http.delete("/chat/messages", headers=headers).status_code == 204
                    for kind in QUESTIONS:
                        times[kind].append(ask(kind))
                for kind, samples in times.items():
                    pooled[kind] += samples
                return times

            def baseline_round(_: int) -> Samples:
                times = [direct() for _ in range(runs)]
                pooled["baseline"] += times
                return {"baseline": times}

            # Warm-up: the first request of a process loads LangChain and openai; the first to
            # the fake opens the client's connection to it.
            ask("first")
            condense_calls["first"] = 0
            direct()
            rounds = measure_rounds(
                repeat, app_round, baseline_round, _round_figures, ROUND_FIGURES, ROUND_RATIOS
            )

    _report(pooled, condense_calls, repeat)
    result = rounds.medians()
    result.update(
        {f"{kind}_condense_calls": condense_calls[kind] / len(pooled[kind]) for kind in QUESTIONS}
    )
    overhead = result["first_first_overhead_ms"]
    print(
        f"target, first question: first token within the LLM's + 50 ms (median over the rounds): "
        f"{'met' if overhead <= 50 else 'NOT met'} ({overhead:.1f} ms)"
    )
    print(f"streaming benchmark done; machine: {machine()}")
    write_json(json_path, "streaming", {"figures": result, **rounds.as_json()})
    return result


def _session_with_videos(http: httpx.Client) -> str:
    response = http.post("/sessions")
    assert response.status_code == 201, response.text
    token = str(response.json()["session_id"])
    uploads = [
        {
            "video_id": f"stream{video:05d}",
            "title": f"Tablet review {video}",
            "format": "segments",
            "content": transcript_segments(video),
        }
        for video in range(2)
    ]
    added = http.post("/videos", json={"transcripts": uploads}, headers={SESSION_HEADER: token})
    assert [v["status"] for v in added.json()["videos"]] == ["added", "added"], added.text
    return token


def _report(pooled: Samples, condense_calls: dict[str, int], repeat: int) -> None:
    """Print every round's samples pooled."""
    print(f"every stream of all {repeat} round(s) pooled:")
    for kind, samples in pooled.items():
        firsts = [first for first, _ in samples]
        totals = [total for _, total in samples]
        print(f"  {_label(kind):22} first token {describe(firsts)}")
        print(f"  {'':22} whole answer {describe(totals)}")
        if kind != "baseline":
            per_question = condense_calls[kind] / max(len(samples), 1)
            print(f"  {'':22} condense calls per question: {per_question:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="of each question, per round")
    parser.add_argument("--first-token-ms", type=float, default=300.0)
    parser.add_argument("--token-ms", type=float, default=20.0)
    add_round_arguments(parser)
    args = parser.parse_args()
    run(args.runs, args.first_token_ms, args.token_ms, args.repeat, args.json)


if __name__ == "__main__":
    main()
