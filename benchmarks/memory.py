"""Memory and storage of the worst requests a client may send at the default limits.

A local host (the app as `func start` serves it) embeds with the fake OpenAI server of the tests
(1536-dim vectors, what text-embedding-3-small stores; `--offline` uses the offline 256-dim
model instead). For each request below, its peak resident memory is read from the server
process (`VmHWM` in /proc, reset before each request by writing 5 to `clear_refs`), and reported
as the rise over its resident memory just before. Requests:

- `repro-50k-segments`: the issue's reproduction, 50,000 one-word segments 61 s apart in one
  upload (1.8 MB): its times run past 48 hours, so the item is refused (`invalid_transcript`)
  before anything is chunked or embedded.
- `repro-36k-vtt-cues`: 36,500 WebVTT cues (1.4 MB of VTT): refused for its characters
  (MAX_TRANSCRIPT_CHARS).
- `vtt-25k-cues`: 25,000 cues 6 s apart, under the character limit (0.9 MB): refused for its
  passages (MAX_CHUNKS_PER_TRANSCRIPT).
- `max-chunks`: ten uploads of 1,000 one-caption passages each, the most vectors a request can
  store (MAX_CHUNKS_PER_SESSION = 10,000 passages in one fresh session).
- `max-text`: two uploads of 950,000 characters each (MAX_TRANSCRIPT_CHARS = 1,000,000, in a
  1.9 MB request): the most text.
- `two-at-once`: two `max-chunks` requests of two sessions at the same time.

Target (issue 13): one worst request raises the peak by at most 300 MB, two at once by at most
600 MB. Also printed: the storage one full session takes in PostgreSQL (all relations, TOAST and
indexes included, before and after the session's worst request).

    python -m benchmarks.memory [--offline] [--runs 3]
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from benchmarks.common import fake_llm_settings, local_host_process, machine, migrated_database
from tests.support.fake_openai import FakeOpenAI, fake_openai_server

TARGET_ONE_MB = 300
TARGET_TWO_MB = 600
TIMEOUT = httpx.Timeout(900.0)


def segments_upload(video_id: str, count: int, spacing: float) -> dict[str, Any]:
    """One upload of `count` one-word segments `spacing` seconds apart (a passage each when the
    spacing exceeds the chunker's 60 s), as in the issue's reproduction."""
    content = [{"text": f"w{i}", "start": i * spacing} for i in range(count)]
    return {"video_id": video_id, "format": "segments", "content": content}


def vtt_upload(video_id: str, cues: int, spacing: int) -> dict[str, Any]:
    def stamp(seconds: int) -> str:
        return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.000"

    body = "".join(
        f"{stamp(i * spacing)} --> {stamp(i * spacing + 1)}\nw{i}\n\n" for i in range(cues)
    )
    return {"video_id": video_id, "format": "vtt", "content": "WEBVTT\n\n" + body}


def text_upload(video_id: str, characters: int) -> dict[str, Any]:
    sentence = "The quick brown fox jumps over the lazy dog near the river bank today. "
    paragraphs = (sentence * 14 + "\n\n") * (characters // (len(sentence) * 14 + 2))
    return {"video_id": video_id, "format": "text", "content": paragraphs}


def requests(uploads: int = 10, passages: int = 1000) -> dict[str, Callable[[str], dict[str, Any]]]:
    """The requests measured, by name; `max-chunks` is `uploads` uploads of `passages` passages
    (the defaults fill a session: MAX_CHUNKS_PER_SESSION)."""
    return {
        "repro-50k-segments": lambda tag: {
            "transcripts": [segments_upload(f"{tag}big", 50_000, 61.0)]
        },
        "repro-36k-vtt-cues": lambda tag: {"transcripts": [vtt_upload(f"{tag}vtt", 36_500, 4)]},
        "vtt-25k-cues": lambda tag: {"transcripts": [vtt_upload(f"{tag}vtt", 25_000, 6)]},
        "max-chunks": lambda tag: {
            "transcripts": [segments_upload(f"{tag}n{i}", passages, 61.0) for i in range(uploads)]
        },
        "max-text": lambda tag: {
            "transcripts": [text_upload(f"{tag}t{i}", 950_000) for i in range(2)]
        },
    }


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in kB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def _reset_peak(pid: int) -> int:
    """Reset the process's peak to its current resident memory; returns that, in kB."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return _status(pid)["VmRSS"]


def _database_bytes(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
            )
    finally:
        engine.dispose()


def _new_session(client: httpx.Client) -> str:
    response = client.post("/sessions")
    response.raise_for_status()
    return str(response.json()["session_id"])


def _send(client: httpx.Client, session: str, body: dict[str, Any]) -> str:
    raw = json.dumps(body).encode()
    response = client.post(
        "/videos",
        content=raw,
        headers={"X-Session-Id": session, "Content-Type": "application/json"},
    )
    if response.status_code != 200:
        return f"HTTP {response.status_code} ({len(raw) / 1e6:.2f} MB)"
    statuses: dict[str, int] = {}
    for video in response.json()["videos"]:
        key = video["status"] if video["status"] != "failed" else video["error"]["code"]
        statuses[key] = statuses.get(key, 0) + 1
    chunks = sum(v.get("chunks") or 0 for v in response.json()["videos"])
    return f"{len(raw) / 1e6:.2f} MB -> {statuses}, {chunks} passages stored"


def _measure[T](pid: int, run: Callable[[], T]) -> tuple[float, T]:
    """What `run` returned, and how far it raised the process's peak resident memory (MB)."""
    before = _reset_peak(pid)
    result = run()
    return (_status(pid)["VmHWM"] - before) / 1024, result


def run(
    offline: bool = False, uploads: int = 10, passages: int = 1000, runs: int = 3
) -> dict[str, Any]:
    """Measure every request of `requests(uploads, passages)`, then two `max-chunks` at once,
    `runs` times each (a new session each time); print the median and the largest rise of each
    and return the figures (MB, and each request's outcome). Targets are judged on the largest."""
    rises: dict[str, list[float]] = {}
    figures: dict[str, Any] = {}
    print(f"machine: {machine()}")
    with (
        tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp,
        migrated_database() as url,
        fake_openai_server(FakeOpenAI(dimensions=1536)) as fake,
    ):
        settings = fake_llm_settings(url, fake.base_url)
        if offline:
            settings = {k: v for k, v in settings.items() if not k.startswith("OPENAI")}
            settings["LLM_PROVIDER"] = "offline"
        with (
            local_host_process(settings, Path(tmp) / "host.log") as (base, process),
            httpx.Client(base_url=base, timeout=TIMEOUT) as client,
        ):
            width = "256 (offline)" if offline else "1536 (OpenAI-compatible)"
            print(f"embedding width: {width}; default limits; {runs} runs of each request")
            # Warm up: models loaded, connections pooled, code paths imported.
            _send(client, _new_session(client), {"transcripts": [segments_upload("warm", 50, 61)]})
            resident = _status(process.pid)["VmRSS"] / 1024
            print(f"server resident memory after warm-up: {resident:.0f} MB")
            measured = requests(uploads, passages)
            for run_index in range(runs):
                for index, (name, build) in enumerate(measured.items()):
                    session = _new_session(client)
                    body = build(f"r{run_index}x{index}")
                    db_before = _database_bytes(url)
                    rise, outcome = _measure(
                        process.pid, functools.partial(_send, client, session, body)
                    )
                    del body
                    stored = (_database_bytes(url) - db_before) / 1e6
                    rises.setdefault(name, []).append(rise)
                    figures[name] = {"database_mb": stored, "outcome": outcome}
                bodies = [measured["max-chunks"](f"r{run_index}two{i}") for i in range(2)]
                sessions = [_new_session(client) for _ in bodies]
                rise_two, outcomes = _measure(
                    process.pid, functools.partial(_send_at_once, base, sessions, bodies)
                )
                rises.setdefault("two-at-once", []).append(rise_two)
                figures["two-at-once"] = {"outcome": outcomes}
    print(f"{'request':<20} {'peak rise: median':>18} {'largest':>8} {'database':>9}  outcome")
    for name, values in rises.items():
        figures[name]["rise_mb"] = statistics.median(values)
        figures[name]["largest_rise_mb"] = max(values)
        stored = figures[name].get("database_mb")
        print(
            f"{name:<20} {statistics.median(values):>15.0f} MB {max(values):>5.0f} MB "
            f"{'' if stored is None else f'{stored:.0f} MB':>9}  {figures[name]['outcome']}"
        )
    worst = max(max(values) for name, values in rises.items() if name != "two-at-once")
    two = max(rises["two-at-once"])
    figures["worst_one_mb"] = worst
    figures["worst_two_mb"] = two
    figures["session_storage_mb"] = figures["max-chunks"]["database_mb"]
    print(
        f"largest single request: +{worst:.0f} MB (target <= {TARGET_ONE_MB}: "
        f"{'met' if worst <= TARGET_ONE_MB else 'NOT met'}); two at once: +{two:.0f} MB "
        f"(target <= {TARGET_TWO_MB}: {'met' if two <= TARGET_TWO_MB else 'NOT met'}); "
        f"storage of one full session: {figures['session_storage_mb']:.0f} MB"
    )
    return figures


def _send_at_once(base: str, sessions: list[str], bodies: list[dict[str, Any]]) -> list[str]:
    """Send each body to its session at the same time, each on its own connection."""
    results = [""] * len(bodies)

    def send(i: int) -> None:
        with httpx.Client(base_url=base, timeout=TIMEOUT) as own:
            results[i] = _send(own, sessions[i], bodies[i])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--offline", action="store_true", help="the offline 256-dim embedder")
    parser.add_argument("--runs", type=int, default=3, help="measurements of each request")
    args = parser.parse_args()
    run(offline=args.offline, runs=args.runs)


if __name__ == "__main__":
    main()
