"""Each benchmark runs at a tiny size, so that it cannot rot (figures are not checked here)."""

from __future__ import annotations

import pytest

from benchmarks import ingest

pytestmark = [pytest.mark.db]


def test_ingest_benchmark_runs(
    server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BENCH_DATABASE_URL", server_url)
    figures = ingest.run(runs=2, latency_ms=0)
    assert figures["ingest_ms"] > 0
    assert figures["baseline_ms"] > 0
    assert "ingestion outside the fakes" in capsys.readouterr().out
