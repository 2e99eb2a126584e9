"""The evaluation runs end to end against the local host (offline provider, fresh migrated
database), so that it cannot rot. Only what holds whatever the answers' quality is asserted: every
request succeeds and every figure is there, with the right denominators. The quality itself is
what `make eval` reports."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks import evaluation
from services.video_rag.db.migrations import upgrade_to_head
from tests.eval.dataset import KINDS, EvalSet, load
from tests.eval.scorer import METRICS, run_evaluation
from tests.http.conftest import clean_environment, running_host

pytestmark = [pytest.mark.db]


@pytest.fixture(scope="module")
def eval_host(
    create_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    url = create_database()
    upgrade_to_head(url)
    env = clean_environment(
        PG_VECTOR_CONNECTION_STRING=url, LLM_PROVIDER="offline", CHAT_RATE_LIMIT_PER_MINUTE="0"
    )
    log = tmp_path_factory.mktemp("eval-host") / "host.log"
    with running_host(env, "--no-migrate", log=log) as base:
        yield base


@pytest.fixture(scope="module")
def eval_set() -> EvalSet:
    return load()


@pytest.fixture(scope="module")
def run(eval_host: str, eval_set: EvalSet) -> tuple[dict[str, Any], str]:
    out = io.StringIO()
    figures = run_evaluation(eval_host, eval_set, out=out, details=True)
    return figures, out.getvalue()


def test_every_question_is_asked_and_answered(
    run: tuple[dict[str, Any], str], eval_set: EvalSet
) -> None:
    figures, _ = run
    assert figures["failed_requests"] == 0, [r for r in figures["results"] if r["error"]]
    assert figures["questions"] == len(eval_set.questions)
    assert figures["transcripts"] == len(eval_set.transcripts)
    assert figures["model"] == "offline-extractive"
    assert [r["id"] for r in figures["results"]] == [q.id for q in eval_set.questions]


def test_every_figure_is_there_with_its_denominator(
    run: tuple[dict[str, Any], str], eval_set: EvalSet
) -> None:
    figures, _ = run
    questions = eval_set.questions
    assert list(figures["by_kind"]) == list(KINDS)
    for name, kind_figures in [*figures["by_kind"].items(), ("overall", figures["overall"])]:
        for key, _ in METRICS:
            ratio = kind_figures[key]
            assert 0 <= ratio["count"] <= ratio["total"], (name, key)
            if ratio["total"]:
                assert ratio["percent"] == round(100 * ratio["count"] / ratio["total"], 1)
    overall = figures["overall"]
    answerable = [q for q in questions if q.answerable]
    assert overall["passed"]["total"] == len(questions)
    assert overall["not_found_correct"]["total"] == len(questions) - len(answerable)
    assert overall["false_not_found"]["total"] == len(answerable)
    assert overall["right_video"]["total"] == len(answerable)
    with_moments = [q for q in questions if any(e.at is not None for e in q.expect)]
    assert overall["right_moment"]["total"] == len(with_moments)
    assert overall["right_passage"]["total"] == len(with_moments)
    assert overall["spread"]["total"] == sum(q.summary for q in questions)
    assert overall["keywords"]["total"] == sum(len(e.keywords) for q in questions for e in q.expect)
    for kind in KINDS:
        assert figures["by_kind"][kind]["questions"] == sum(q.kind == kind for q in questions)


def test_the_printout_is_the_table(run: tuple[dict[str, Any], str]) -> None:
    figures, printed = run
    assert printed.startswith(f"Answer quality: {figures['questions']} questions over")
    for kind in KINDS:
        assert f"| {kind} " in printed
    assert "| **overall**" in printed
    assert "Not passed (" in printed


def test_the_benchmark_command_runs_against_a_running_server(
    eval_host: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    output = tmp_path / "figures.json"
    monkeypatch.setattr(sys, "argv", ["evaluation", "--base-url", eval_host, "--json", str(output)])
    evaluation.main()
    assert "| **overall**" in capsys.readouterr().out
    figures = json.loads(output.read_text())
    assert figures["failed_requests"] == 0
    assert figures["overall"]["questions"] == len(load().questions)


def test_answer_quality_does_not_fall_below_this_rounds_figures(
    run: tuple[dict[str, Any], str],
) -> None:
    """Floors a change must not break (the figures of the README's table, less a margin for a
    question or two): right video first, the not-found check, cited moments."""
    overall = run[0]["overall"]
    assert overall["right_video"]["percent"] >= 90
    assert overall["false_not_found"]["count"] <= 1
    assert overall["not_found_correct"]["count"] >= 4
    assert overall["right_moment"]["percent"] >= 80
