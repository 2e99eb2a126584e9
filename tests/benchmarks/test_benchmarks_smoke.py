"""Each benchmark runs at a tiny size, so that it cannot rot (figures are not checked here)."""

from __future__ import annotations

import pytest

from benchmarks import chat, cleanup, cold_start, ingest, retrieval, streaming

pytestmark = [pytest.mark.db]


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
    assert figures["ten_videos_c10_ms"] > 0
    out = capsys.readouterr().out
    assert "ingestion outside the fakes" in out
    assert "ratio (ten / one)" in out


def test_retrieval_benchmark_runs(
    server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BENCH_DATABASE_URL", server_url)
    figures = retrieval.run(
        sessions=2, chunks=20, queries=5, videos=2, recall_sample=2, baseline=False
    )
    assert figures["recall"] == 1.0
    assert figures["hybrid_ms"] > 0
    assert "hybrid_search" in capsys.readouterr().out


def test_retrieval_baseline_runs(
    server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The PGVector baseline in its own virtualenv (installed from PyPI on first use, which
    takes about a minute), and --scale, at a tiny size."""
    monkeypatch.setenv("BENCH_DATABASE_URL", server_url)
    figures = retrieval.run(
        sessions=2, chunks=20, queries=5, videos=2, recall_sample=1, baseline=True, scale=2
    )
    assert figures["agreement"] == 1.0  # PGVector finds the same nearest chunks
    assert figures["baseline_per_request_ms"] > 0
    assert figures["scaled_ratio_per_request_p95"] > 0
    assert "store built per request" in capsys.readouterr().out


def test_chat_benchmark_runs(
    server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BENCH_DATABASE_URL", server_url)
    figures = chat.run(
        seconds=1, clients=2, llm_delay_ms=10, videos=1, baseline_seconds=0.5, solo_seconds=0.5
    )
    assert figures["errors"] == 0
    assert figures["baseline_errors"] == 0
    # One answer per question, plus a condense call for the follow-ups among the questions.
    assert 1.0 <= figures["llm_calls_per_question"] < 2.0
    assert figures["latency_ms"] > 0
    assert "server time outside the fake" in capsys.readouterr().out


def test_cleanup_benchmark_runs(
    server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BENCH_DATABASE_URL", server_url)
    figures = cleanup.run(expired=60, live=10, threads=2, quiet_seconds=0.3, upload_every=3)
    assert figures["live_errors"] == 0
    assert figures["baseline_live_errors"] == 0
    assert figures["longest_statement_ms"] > 0
    assert figures["baseline_statement_ms"] > 0
    assert "one DELETE" in capsys.readouterr().out


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
    figures = streaming.run(runs=1, first_token_ms=20, token_ms=1)
    assert 0 < figures["baseline_first_ms"] < figures["baseline_total_ms"]
    assert 0 < figures["first_first_ms"] < figures["first_total_ms"]
    assert figures["first_condense_calls"] == 0  # no history, no condense step
    assert figures["follow-up_condense_calls"] == 1
    assert figures["standalone_condense_calls"] == 0
    assert "first token" in capsys.readouterr().out
