"""The offline embedder comparison runs (at one run, two candidates), so that it cannot rot."""

from __future__ import annotations

import pytest

from benchmarks import offline_embedders


def test_offline_embedders_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    names = ["hash-1536 (previous default)", "wordllama-256 (app default)"]
    figures = offline_embedders.run(runs=1, names=names)
    assert list(figures) == names
    previous, default = (figures[name] for name in names)
    assert default["mrr"] > previous["mrr"]
    assert default["load_ms"] > 0
    assert default["embed_75_ms"] > 0
    out = capsys.readouterr().out
    assert "hit@3" in out
    assert "the project's eval set" in out
