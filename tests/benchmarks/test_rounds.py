"""The benchmarks' repeated rounds (benchmarks.common.measure_rounds): the order of the baseline
and the variant, the per-round ratios and the summary's median, min and max."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest

from benchmarks.common import (
    Figure,
    Ratio,
    add_round_arguments,
    measure_rounds,
    run_rounds,
    write_json,
)


def test_rounds_alternate_which_side_goes_first() -> None:
    calls: list[str] = []

    def variant(number: int) -> float:
        calls.append(f"A{number}")
        return 10.0

    def baseline(number: int) -> float:
        calls.append(f"B{number}")
        return 5.0

    rounds, baseline_first = run_rounds(
        4, variant, baseline, lambda a, b: {"a": a, "b": b if b is not None else math.nan}
    )
    assert calls == ["B0", "A0", "A1", "B1", "B2", "A2", "A3", "B3"]
    assert baseline_first == [True, False, True, False]
    assert rounds == [{"a": 10.0, "b": 5.0}] * 4


def test_without_a_baseline_only_the_variant_runs() -> None:
    rounds, baseline_first = run_rounds(
        2, lambda n: float(n), None, lambda a, b: {"a": a, "has_b": float(b is not None)}
    )
    assert rounds == [{"a": 0.0, "has_b": 0.0}, {"a": 1.0, "has_b": 0.0}]
    assert baseline_first == [False, False]


@pytest.mark.parametrize("repeat", [0, -1, 101])
def test_repeat_is_bounded(repeat: int) -> None:
    with pytest.raises(ValueError, match="repeat must be 1 to 100"):
        run_rounds(repeat, lambda n: n, None, lambda a, b: {})
    parser = argparse.ArgumentParser()
    add_round_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--repeat", str(repeat)])


def test_summary_is_median_min_max_and_ratios_are_per_round(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Per round (app, baseline): ratios 2.0, 4.0, 3.0; the ratio of the medians would be
    # 3.0 / 1.0 = 3.0 too, so a fourth round makes them differ: 30 / 6 = 5.0.
    app = [2.0, 4.0, 3.0, 30.0]
    base = [1.0, 1.0, 1.0, 6.0]
    result = measure_rounds(
        4,
        lambda n: app[n],
        lambda n: base[n],
        lambda a, b: {"app_ms": a, "base_ms": b if b is not None else math.nan},
        [Figure("app_ms", "app"), Figure("base_ms", "baseline"), Figure("absent", "never")],
        [
            Ratio("ratio", "app / baseline", "app_ms", "base_ms"),
            Ratio("over", "app - baseline", "app_ms", "base_ms", difference=True),
        ],
    )
    assert result.summary["app_ms"] == {"median": 3.5, "min": 2.0, "max": 30.0}
    assert result.summary["base_ms"] == {"median": 1.0, "min": 1.0, "max": 6.0}
    # The median of the per-round ratios (2, 4, 3, 5), not the ratio of the medians (3.5).
    assert result.summary["ratio"] == {"median": 3.5, "min": 2.0, "max": 5.0}
    assert [r["ratio"] for r in result.figures] == [2.0, 4.0, 3.0, 5.0]
    assert result.summary["over"] == {"median": 2.5, "min": 1.0, "max": 24.0}
    assert "absent" not in result.summary
    flat = result.medians()
    assert flat["ratio"] == 3.5
    assert flat["ratio_min"] == 2.0
    assert flat["app_ms_max"] == 30.0
    out = capsys.readouterr().out
    assert "summary over 4 round(s)" in out
    assert "order alternating: B A A B B A A B" in out
    assert "median of the per-round ratios" in out
    line = next(line for line in out.splitlines() if "app / baseline" in line)
    assert "median     3.500   min     2.000   max     5.000" in line
    assert "rounds: 2.000 4.000 3.000 5.000" in line


def test_json_holds_the_rounds_and_no_nan(tmp_path: Path) -> None:
    result = measure_rounds(
        2,
        lambda n: float(n + 1),
        lambda n: 0.0,
        lambda a, b: {"a": a, "b": b if b is not None else math.nan},
        [Figure("a", "a")],
        [Ratio("r", "a / b", "a", "b")],
    )
    path = tmp_path / "out.json"
    write_json(path, "test", {"figures": result.medians(), **result.as_json()})
    document = json.loads(path.read_text())
    assert document["benchmark"] == "test"
    assert len(document["load_average"]) == 3
    assert document["repeat"] == 2
    assert document["rounds"][1]["a"] == 2.0
    assert document["rounds"][0]["r"] is None  # a / 0: NaN, written as null
    assert document["summary"]["a"] == {"median": 1.5, "min": 1.0, "max": 2.0}
