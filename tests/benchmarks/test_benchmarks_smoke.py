"""Each benchmark runs at a tiny size, so that it cannot rot (figures are not checked here)."""

from __future__ import annotations

import pytest

from benchmarks import cold_start, ingest, retrieval

pytestmark = [pytest.mark.db]


def test_ingest_benchmark_runs(
    server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BENCH_DATABASE_URL", server_url)
    figures = ingest.run(runs=2, latency_ms=0)
    assert figures["ingest_ms"] > 0
    assert figures["baseline_ms"] > 0
    assert "ingestion outside the fakes" in capsys.readouterr().out


def test_retrieval_benchmark_runs(
    server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BENCH_DATABASE_URL", server_url)
    figures = retrieval.run(sessions=2, chunks=20, queries=5, videos=2, recall_sample=2)
    assert figures["recall"] == 1.0
    assert figures["hybrid_ms"] > 0
    assert "hybrid_search" in capsys.readouterr().out


def test_cold_start_benchmark_runs(
    server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BENCH_DATABASE_URL", server_url)
    figures = cold_start.run(runs=1)
    assert 0 < figures["import_ms"] < figures["baseline_ms"]
    assert figures["first_session_ms"] > 0
    assert "first session" in capsys.readouterr().out
