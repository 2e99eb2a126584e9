"""Each benchmark runs at a tiny size, so that it cannot rot (figures are not checked here).

One of them needs the package registry: the retrieval baseline installs PGVector into a virtualenv
of its own on first use. It is skipped, with pip's reason, when that virtualenv is not installed
yet and pip cannot get its requirements (no network, no registry).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import chat, cleanup, cold_start, ingest, memory, retrieval, streaming
from benchmarks.common import ROOT

pytestmark = [pytest.mark.db]

# pip's own network timeout (seconds, per connection) and the probe's whole budget.
REGISTRY_TIMEOUT_SECONDS = "5"
PROBE_BUDGET_SECONDS = 60


def baseline_unavailable_reason() -> str | None:
    """None when the baseline's virtualenv is installed and current, or when pip can resolve its
    requirements now (a dry run with pip's configured index, proxy and certificates, no retries);
    otherwise why the benchmark cannot install it."""
    default = ROOT / ".local" / "bench-baseline-venv"
    venv = Path(os.environ.get("BENCH_BASELINE_VENV") or default)
    stamp = venv / "requirements.installed"
    wanted = retrieval.BASELINE_REQUIREMENTS.read_text()
    if (venv / "bin" / "python").exists() and stamp.exists() and stamp.read_text() == wanted:
        return None
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--dry-run",
        "--ignore-installed",
        "--quiet",
        "--disable-pip-version-check",
        "--timeout",
        REGISTRY_TIMEOUT_SECONDS,
        "--retries",
        "0",
        "-r",
        str(retrieval.BASELINE_REQUIREMENTS),
    ]
    try:
        probe = subprocess.run(
            command, capture_output=True, text=True, timeout=PROBE_BUDGET_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        return f"the package registry did not answer pip within {PROBE_BUDGET_SECONDS} s"
    if probe.returncode == 0:
        return None
    errors = [line for line in probe.stderr.splitlines() if line.startswith("ERROR")]
    detail = " ".join(errors or probe.stderr.strip().splitlines()[-1:])[:400]
    return f"the package registry is unreachable (pip cannot get the requirements): {detail}"


def assert_summary(out: str, figure_label: str, ratio_label: str, rounds: int = 2) -> None:
    """The printed summary of `rounds` interleaved rounds: the figure's and the ratio's median,
    min, max and per-round values (one per round), ratios as the median of per-round ratios."""
    assert f"summary over {rounds} round(s), baseline (B) and app (A) back to back" in out
    assert "order alternating: B A A B" in out
    assert "ratios: median of the per-round ratios" in out
    for label in (figure_label, ratio_label):
        line = next((line for line in out.splitlines() if line.strip().startswith(label)), None)
        assert line is not None, f"{label!r} not in the summary:\n{out}"
        assert all(word in line for word in ("median", "min", "max", "rounds:")), line
        assert len(line.split("rounds:")[1].split()) == rounds, line


def assert_rounds(figures: dict[str, float], key: str) -> None:
    """`key`'s median lies within its min and max over the rounds."""
    assert figures[f"{key}_min"] <= figures[key] <= figures[f"{key}_max"]


def test_ingest_benchmark_runs(
    server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BENCH_DATABASE_URL", server_url)
    figures = ingest.run(runs=2, latency_ms=0, fetch_latency_ms=0, concurrency_runs=1)
    assert figures["ingest_ms"] > 0
    assert figures["baseline_ms"] > 0
    # One embedding request per batch of EMBEDDING_BATCH_SIZE chunks, at two batch sizes.
    requests = {k: v for k, v in figures.items() if k.startswith("embedding_requests_batch_")}
    assert len(requests) == 2
    for key, received in requests.items():
        assert received == figures[key.replace("requests_", "requests_expected_")]
    assert figures["ten_videos_c4_ms"] > 0
    assert 1 <= figures["peak_connections_c4"] <= 4  # INGEST_CONCURRENCY, measured
    out = capsys.readouterr().out
    assert "ingestion outside the fakes" in out
    assert "ratio (ten / one)" in out


def test_retrieval_benchmark_runs(
    server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BENCH_DATABASE_URL", server_url)
    figures = retrieval.run(
        sessions=2, chunks=20, queries=5, videos=2, recall_sample=2, baseline=False, repeat=2
    )
    assert figures["recall"] == 1.0
    assert figures["hybrid_ms"] > 0
    assert_rounds(figures, "hybrid_p95_ms")
    out = capsys.readouterr().out
    assert "summary over 2 round(s); median, min and max" in out  # no baseline, no ratio
    assert "hybrid_search p95" in out


def test_retrieval_baseline_runs(
    server_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """The PGVector baseline in its own virtualenv (installed from PyPI on first use, which
    takes about a minute), and --scale, at a tiny size."""
    reason = baseline_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    monkeypatch.setenv("BENCH_DATABASE_URL", server_url)
    json_path = tmp_path / "retrieval.json"
    figures = retrieval.run(
        sessions=2,
        chunks=20,
        queries=5,
        videos=2,
        recall_sample=1,
        baseline=True,
        scale=2,
        repeat=2,
        json_path=json_path,
    )
    assert figures["agreement"] == 1.0  # PGVector finds the same nearest chunks
    assert figures["baseline_per_request_ms"] > 0
    assert figures["scaled_ratio_per_request_p95"] > 0
    assert_rounds(figures, "ratio_per_request_p95")
    assert_summary(
        capsys.readouterr().out,
        "PGVector built per request p95",
        "p95 PGVector per request / hybrid",
    )
    document = json.loads(json_path.read_text())
    assert len(document["rounds"]) == len(document["scaled"]["rounds"]) == 2
    assert document["baseline_first"] == [True, False]
    assert document["figures"]["ratio_per_request_p95"] == figures["ratio_per_request_p95"]


def test_baseline_probe_names_an_unreachable_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no installed virtualenv and an index nobody answers on (a closed loopback port, no
    configuration files, no local wheels), the probe gives a reason instead of letting the
    benchmark fail after pip's retries."""
    monkeypatch.setenv("BENCH_BASELINE_VENV", str(tmp_path / "venv"))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "no-wheels"))
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_NO_INDEX", raising=False)
    reason = baseline_unavailable_reason()
    assert reason is not None
    assert reason.startswith("the package registry is unreachable")
    assert "langchain-postgres" in reason  # pip's own words: what it could not find


def test_chat_benchmark_runs(
    server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BENCH_DATABASE_URL", server_url)
    figures = chat.run(
        seconds=0.5,
        clients=2,
        llm_delay_ms=10,
        videos=1,
        baseline_seconds=0.3,
        solo_seconds=0.3,
        breakdown_questions=2,
        repeat=2,
        round_trip_count=5,
    )
    assert figures["errors"] == 0
    assert figures["baseline_errors"] == 0
    # One answer per question, plus a condense call for the follow-ups among the questions.
    assert 1.0 <= figures["llm_calls_per_question"] < 2.0
    assert figures["latency_ms"] > 0
    assert figures["ratio"] > 1.0  # a question takes longer than its model calls alone
    assert_rounds(figures, "ratio")
    out = capsys.readouterr().out
    assert "server time outside the fake" in out
    assert_summary(out, "loaded: outside the model calls p95", "loaded: question p50 / its model")


def test_cleanup_benchmark_runs(
    server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BENCH_DATABASE_URL", server_url)
    figures = cleanup.run(
        expired=60, live=10, threads=2, quiet_seconds=0.3, upload_every=3, repeat=2
    )
    assert figures["live_errors"] == 0
    assert figures["baseline_live_errors"] == 0
    assert figures["longest_statement_ms"] > 0
    assert figures["baseline_statement_ms"] > 0
    assert_rounds(figures, "statement_ratio")
    assert_summary(
        capsys.readouterr().out,
        "batched: longest statement",
        "longest statement, batched / one DELETE",
    )


def test_cold_start_benchmark_runs(
    server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BENCH_DATABASE_URL", server_url)
    figures = cold_start.run(runs=1)
    assert 0 < figures["import_ms"] < figures["baseline_ms"]
    assert figures["first_session_ms"] > 0
    assert "first session" in capsys.readouterr().out


def test_streaming_benchmark_runs(
    server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BENCH_DATABASE_URL", server_url)
    figures = streaming.run(runs=1, first_token_ms=20, token_ms=1, repeat=2)
    assert 0 < figures["baseline_first_ms"] < figures["baseline_total_ms"]
    assert 0 < figures["first_first_ms"] < figures["first_total_ms"]
    assert figures["first_condense_calls"] == 0  # no history, no condense step
    assert figures["follow-up_condense_calls"] == 1
    assert figures["standalone_condense_calls"] == 0
    assert_rounds(figures, "first_first_overhead_ms")
    assert figures["first_first_ratio"] > 1.0  # the app's first token follows the LLM's
    assert_summary(
        capsys.readouterr().out,
        "first question: first token p50",
        "first: first token / the LLM's",
    )


def test_memory_benchmark_runs(
    server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BENCH_DATABASE_URL", server_url)
    figures = memory.run(offline=True, uploads=2, passages=20, runs=1)
    # The reproductions are refused before anything is embedded or stored.
    assert "invalid_transcript" in figures["repro-50k-segments"]["outcome"]
    assert "invalid_transcript" in figures["repro-36k-vtt-cues"]["outcome"]
    assert "transcript_too_long" in figures["vtt-25k-cues"]["outcome"]
    assert "{'added': 2}, 40 passages stored" in figures["max-chunks"]["outcome"]
    assert figures["worst_one_mb"] < 300  # even this tiny run stays far under the target
    assert "largest single request" in capsys.readouterr().out
