"""The scoring rules, on made-up replies (no server)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.video_rag.domain.prompts import NO_ANSWER
from tests.eval.dataset import EvalSet, Expectation, Question, load
from tests.eval.scorer import (
    METRICS,
    ApiClient,
    Reply,
    format_table,
    report,
    score_reply,
    summarize,
)


@pytest.fixture(scope="module")
def eval_set() -> EvalSet:
    return load()


def first_of(eval_set: EvalSet, kind: str, **where: Any) -> Question:
    return next(
        q
        for q in eval_set.questions
        if q.kind == kind and all(getattr(q, k) == v for k, v in where.items())
    )


def at(expectation: Expectation) -> float:
    assert expectation.at is not None
    return expectation.at


def source(id: int, video_id: str, start: float, end: float | None = None, **extra: Any):
    return {
        "id": id,
        "video_id": video_id,
        "start_seconds": start,
        "end_seconds": start + 60 if end is None else end,
        **extra,
    }


def test_a_right_first_source_at_the_right_moment_passes(eval_set: EvalSet) -> None:
    question = first_of(eval_set, "factual")
    label = question.expect[0]
    answer = f"It says {' and '.join(label.keywords)} [1]."
    result = score_reply(
        eval_set, question, Reply(answer, (source(1, label.video_id, at(label) - 3),))
    )
    assert result.passed
    assert result.checks == {
        "right_video": True,
        "right_passage": True,
        "right_moment": True,
        "false_not_found": False,
        "passed": True,
    }
    assert result.keywords_found == result.keywords_total == len(label.keywords)


def test_the_moment_is_at_seconds_when_given_else_start_seconds(eval_set: EvalSet) -> None:
    question = first_of(eval_set, "paraphrase")
    label = question.expect[0]
    early = at(label) - 10.5  # a passage of 60 s from here still spans the label
    far = score_reply(eval_set, question, Reply("x [1]", (source(1, label.video_id, early),)))
    assert far.checks["right_passage"]
    assert not far.checks["right_moment"]
    assert not far.passed
    pointed = Reply("x [1]", (source(1, label.video_id, early, at_seconds=at(label) + 10),))
    assert score_reply(eval_set, question, pointed).checks["right_moment"]
    null_at = Reply("x [1]", (source(1, label.video_id, at(label), at_seconds=None),))
    assert score_reply(eval_set, question, null_at).checks["right_moment"]


def test_the_first_source_is_the_one_with_the_lowest_id(eval_set: EvalSet) -> None:
    question = first_of(eval_set, "factual")
    label = question.expect[0]
    other = next(t.video_id for t in eval_set.transcripts if t.video_id != label.video_id)
    reply = Reply("x [2][1]", (source(2, label.video_id, at(label)), source(1, other, at(label))))
    result = score_reply(eval_set, question, reply)
    assert not result.checks["right_video"]
    assert not result.checks["right_moment"]
    assert not result.passed


def test_not_answerable_needs_exactly_the_not_found_sentence_and_no_sources(
    eval_set: EvalSet,
) -> None:
    question = first_of(eval_set, "not_answerable")
    video = eval_set.transcripts[0].video_id
    assert score_reply(eval_set, question, Reply(NO_ANSWER)).passed
    assert score_reply(eval_set, question, Reply(f"  {NO_ANSWER}\n")).passed
    with_source = Reply(NO_ANSWER, (source(1, video, 0),))
    assert not score_reply(eval_set, question, with_source).passed
    assert not score_reply(eval_set, question, Reply("They do [1].", (source(1, video, 0),))).passed
    assert not score_reply(eval_set, question, Reply(error="HTTP 500 internal_error")).passed


def test_a_not_found_answer_to_an_answerable_question_is_counted(eval_set: EvalSet) -> None:
    question = first_of(eval_set, "factual")
    result = score_reply(eval_set, question, Reply(NO_ANSWER))
    assert result.checks["false_not_found"]
    assert not result.checks["right_video"]
    assert not result.passed


def test_a_comparison_cites_every_video_at_its_moment(eval_set: EvalSet) -> None:
    question = next(
        q
        for q in eval_set.questions
        if q.kind == "comparison" and all(e.at is not None for e in q.expect)
    )
    one, two = question.expect[:2]
    both = Reply(
        "x [1] y [2]", (source(1, one.video_id, at(one)), source(2, two.video_id, at(two)))
    )
    result = score_reply(eval_set, question, both)
    assert result.passed
    assert result.checks["cites_all_videos"]
    only_one = Reply("x [1]", (source(1, one.video_id, at(one)),))
    result = score_reply(eval_set, question, only_one)
    assert not result.checks["cites_all_videos"]
    assert not result.checks["right_moment"]  # the second video's moment is not cited
    assert not result.passed


def test_a_summary_cites_the_beginning_middle_and_end(eval_set: EvalSet) -> None:
    question = first_of(eval_set, "whole_video", summary=True)
    video = question.expect[0].video_id
    transcript = eval_set.transcript(video)
    assert transcript is not None
    third = transcript.duration / 3
    cited = tuple(source(i + 1, video, i * third + 5) for i in range(3))
    spread = Reply("a [1] b [2] c [3]", cited)
    assert score_reply(eval_set, question, spread).passed
    bunched = Reply("a [1] b [2]", (source(1, video, 5), source(2, video, third + 5)))
    result = score_reply(eval_set, question, bunched)
    assert result.checks["right_video"]
    assert result.checks["cites_all_videos"]
    assert not result.checks["spread"]
    assert not result.passed


def test_a_failed_request_fails_every_check(eval_set: EvalSet) -> None:
    question = first_of(eval_set, "follow_up")
    result = score_reply(eval_set, question, Reply(error="HTTP 504 upstream_timeout"))
    assert not any(result.checks.values())
    assert not result.passed


def test_summary_and_table(eval_set: EvalSet) -> None:
    factual = first_of(eval_set, "factual")
    label = factual.expect[0]
    results = [
        score_reply(eval_set, factual, Reply("x [1]", (source(1, label.video_id, at(label)),))),
        score_reply(eval_set, factual, Reply(error="HTTP 500 internal_error")),
        score_reply(eval_set, first_of(eval_set, "not_answerable"), Reply(NO_ANSWER)),
    ]
    summary = summarize(results)
    assert list(summary["by_kind"]) == ["factual", "not_answerable"]
    overall = summary["overall"]
    assert overall["questions"] == 3
    assert overall["passed"] == {"count": 2, "total": 3, "percent": 66.7}
    assert overall["failed_requests"] == {"count": 1, "total": 3, "percent": 33.3}
    assert overall["not_found_correct"] == {"count": 1, "total": 1, "percent": 100.0}
    assert summary["by_kind"]["factual"]["spread"] == {"count": 0, "total": 0, "percent": None}
    assert set(overall) == {"questions", *(key for key, _ in METRICS)}

    table = format_table(summary).splitlines()
    assert len(table) == 2 + 2 + 1  # header, rule, two kinds, overall
    assert len({len(line) for line in table}) == 1  # aligned
    assert table[-1].startswith("| **overall**")
    assert "2/3 67%" in table[-1]
    assert "| –" in table[2] or " – |" in table[2]

    figures = {
        "questions": 3,
        "transcripts": 5,
        "model": "m",
        "tolerance_seconds": 10.0,
        **summary,
    }
    printed = report(figures, results)
    assert printed.startswith("Answer quality: 3 questions over 5 transcripts, model m")
    assert "Not passed (1):" in printed
    assert "HTTP 500 internal_error" in printed


def test_the_client_waits_out_the_rate_limit() -> None:
    calls: list[str] = []
    slept: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": "3"}, json={"error": {}})
        assert request.headers["X-Session-Id"] == "sid"
        return httpx.Response(
            200, json={"answer": "a [1]", "sources": [{"id": 1}], "model": "offline-extractive"}
        )

    transport = httpx.MockTransport(handler)
    client = ApiClient("http://test/api", sleep=slept.append, transport=transport)
    client.session_id = "sid"
    reply = client.ask("q?", ["abcdefghijk"])
    assert reply.error is None
    assert reply.model == "offline-extractive"
    assert calls == ["/api/chat", "/api/chat"]
    assert slept == [3.0]


def test_the_client_reports_error_responses() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(409, json={"error": {"code": "no_videos", "message": "m"}})

    client = ApiClient("http://test/api", transport=httpx.MockTransport(handler))
    assert client.ask("q?").error == "HTTP 409 no_videos"
