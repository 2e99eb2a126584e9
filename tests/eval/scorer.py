"""Answer-quality evaluation through the real HTTP API.

`run_evaluation(base_url)` creates one fresh session on a running server, uploads every transcript
of the evaluation set (`POST /api/videos`, one `transcripts` item per video), then asks each
question (`POST /api/chat`, JSON) in a conversation of its own (the history is cleared before
each; a follow-up first asks its `previous` question), scores the answers, prints a table per kind
and overall, ends the session and returns the figures as a dict.

What is scored (`score_reply`, a pure function of a question and its reply):

- right video first: the first source (the cited source with the lowest `id`) is from the
  expected video (for a comparison: from one of the expected videos);
- right moment: for each expected moment, the first cited source of that video is within
  `tolerance_seconds` (10 s) of the labelled caption; its moment is `at_seconds` when the reply
  has it, else `start_seconds`. For a single-video question this is the first source overall;
- right passage (a diagnosis, not part of "passed"): the same sources' passages contain the
  labelled caption's start (`start_seconds` <= label < `end_seconds`): retrieval found the
  answer even when the moment it points at is off;
- cites every video (whole_video, comparison): every expected video is among the sources;
- spread over the video (whole-video summaries): the cited moments of the video fall in each of
  its thirds (beginning, middle, end);
- correct not-found (not_answerable): the answer is exactly the documented not-found sentence
  (`NO_ANSWER` of services.video_rag.domain.prompts) and `sources` is empty;
- false not-found (answerable kinds; lower is better): the answer contains that sentence;
- key words in answer: labelled key words found in the answer (case-insensitive), of all of them;
- passed: every applicable check above except key words and false not-found holds.

A failed request (an error status, or a transport error) counts as failed on every check and in
"failed requests"; the run goes on. Failing to create the session or to upload a transcript
raises `EvaluationError`: nothing can be scored then.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TextIO

import httpx

from services.video_rag.domain.prompts import NO_ANSWER
from tests.eval.dataset import KINDS, EvalSet, Question, load

__all__ = [
    "METRICS",
    "EvaluationError",
    "QuestionResult",
    "Reply",
    "format_table",
    "run_evaluation",
    "score_reply",
    "summarize",
]

SESSION_HEADER: Final = "X-Session-Id"
REQUEST_TIMEOUT_SECONDS: Final = 120.0
# 429 answers are waited out (Retry-After, at most this long each time), this many times.
MAX_RATE_LIMIT_WAIT_SECONDS: Final = 65.0
MAX_RATE_LIMIT_RETRIES: Final = 20

# (key, column title) in table order. "passed" first; "failed_requests" last.
METRICS: Final = (
    ("passed", "passed"),
    ("right_video", "video first"),
    ("right_passage", "passage"),
    ("right_moment", "moment"),
    ("cites_all_videos", "all videos"),
    ("spread", "spread"),
    ("not_found_correct", "not-found ok"),
    ("false_not_found", "false not-found"),
    ("keywords", "key words"),
    ("failed_requests", "failed"),
)
# Checks that decide `passed` when they apply.
_PRIMARY_CHECKS: Final = ("right_video", "right_moment", "cites_all_videos", "spread")


class EvaluationError(RuntimeError):
    """The evaluation could not run (the session or an upload failed)."""


@dataclass(frozen=True)
class Reply:
    """What `POST /api/chat` answered: the JSON body's fields, or the error."""

    answer: str = ""
    sources: tuple[Mapping[str, Any], ...] = ()
    model: str | None = None
    error: str | None = None


@dataclass
class QuestionResult:
    id: str
    kind: str
    question: str
    reply: Reply
    # check -> outcome, for the checks that apply to this question
    checks: dict[str, bool] = field(default_factory=dict)
    keywords_found: int = 0
    keywords_total: int = 0

    @property
    def passed(self) -> bool:
        return self.reply.error is None and self.checks.get("passed", False)

    def as_dict(self) -> dict[str, Any]:
        first = _first_source(self.reply.sources)
        return {
            "id": self.id,
            "kind": self.kind,
            "question": self.question,
            "passed": self.passed,
            "checks": dict(self.checks),
            "keywords_found": self.keywords_found,
            "keywords_total": self.keywords_total,
            "error": self.reply.error,
            "answer": self.reply.answer,
            "first_source": None
            if first is None
            else {"video_id": first.get("video_id"), "moment": _moment(first)},
            "sources": [
                {"id": s.get("id"), "video_id": s.get("video_id"), "moment": _moment(s)}
                for s in _cited(self.reply.sources)
            ],
        }


# ---------------------------------------------------------------------------------------------
# Scoring


def _cited(sources: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The sources in citation order (by `id`)."""
    return sorted(sources, key=lambda s: s.get("id", 0))


def _first_source(sources: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    cited = _cited(sources)
    return cited[0] if cited else None


def _moment(source: Mapping[str, Any]) -> float:
    """Where a source points: `at_seconds` when present, else `start_seconds`."""
    at = source.get("at_seconds")
    return float(at if at is not None else source["start_seconds"])


def _normalized(text: str) -> str:
    return " ".join(text.casefold().split())


def score_reply(eval_set: EvalSet, question: Question, reply: Reply) -> QuestionResult:
    """Score one reply against its question's label."""
    result = QuestionResult(question.id, question.kind, question.question, reply)
    checks = result.checks
    keywords = [k for e in question.expect for k in e.keywords]
    result.keywords_total = len(keywords)
    if not question.answerable:
        checks["not_found_correct"] = (
            reply.error is None and reply.answer.strip() == NO_ANSWER and not reply.sources
        )
        checks["passed"] = checks["not_found_correct"]
        return result

    ok = reply.error is None
    first = _first_source(reply.sources)
    expected = question.expected_videos
    checks["right_video"] = ok and first is not None and first.get("video_id") in expected
    if any(e.at is not None for e in question.expect):
        checks["right_passage"] = (
            ok and checks["right_video"] and _moments_right(question, reply, _spans)
        )
        checks["right_moment"] = (
            ok
            and checks["right_video"]
            and _moments_right(question, reply, _near(eval_set.tolerance_seconds))
        )
    if question.kind in ("whole_video", "comparison"):
        cited_videos = {s.get("video_id") for s in reply.sources}
        checks["cites_all_videos"] = ok and set(expected) <= cited_videos
    if question.summary:
        checks["spread"] = ok and _spread(eval_set, expected[0], reply)
    checks["false_not_found"] = ok and NO_ANSWER in reply.answer
    answer = _normalized(reply.answer)
    result.keywords_found = sum(_normalized(k) in answer for k in keywords) if ok else 0
    checks["passed"] = ok and all(checks[c] for c in _PRIMARY_CHECKS if c in checks)
    return result


def _moments_right(
    question: Question, reply: Reply, right: Callable[[Mapping[str, Any], float], bool]
) -> bool:
    """Whether, for each labelled moment, the first cited source of its video is `right`."""
    cited = _cited(reply.sources)
    for expectation in question.expect:
        if expectation.at is None:
            continue
        first_of_video = next((s for s in cited if s.get("video_id") == expectation.video_id), None)
        if first_of_video is None or not right(first_of_video, expectation.at):
            return False
    return True


def _spans(source: Mapping[str, Any], at: float) -> bool:
    """The labelled caption starts within the source's passage."""
    return float(source["start_seconds"]) <= at < float(source["end_seconds"])


def _near(tolerance: float) -> Callable[[Mapping[str, Any], float], bool]:
    def near(source: Mapping[str, Any], at: float) -> bool:
        return abs(_moment(source) - at) <= tolerance

    return near


def _spread(eval_set: EvalSet, video_id: str, reply: Reply) -> bool:
    transcript = eval_set.transcript(video_id)
    if transcript is None:
        return False
    duration = transcript.duration
    thirds = {
        min(2, max(0, int(3 * _moment(s) / duration)))
        for s in reply.sources
        if s.get("video_id") == video_id
    }
    return thirds == {0, 1, 2}


# ---------------------------------------------------------------------------------------------
# Figures and the table


def _ratio(hits: int, total: int) -> dict[str, Any]:
    return {
        "count": hits,
        "total": total,
        "percent": None if total == 0 else round(100.0 * hits / total, 1),
    }


def _figures(results: Sequence[QuestionResult]) -> dict[str, Any]:
    figures: dict[str, Any] = {"questions": len(results)}
    for key, _ in METRICS:
        if key == "keywords":
            figures[key] = _ratio(
                sum(r.keywords_found for r in results), sum(r.keywords_total for r in results)
            )
        elif key == "failed_requests":
            figures[key] = _ratio(sum(r.reply.error is not None for r in results), len(results))
        else:
            applicable = [r for r in results if key in r.checks]
            figures[key] = _ratio(sum(r.checks[key] for r in applicable), len(applicable))
    return figures


def summarize(results: Sequence[QuestionResult]) -> dict[str, Any]:
    """Figures per kind (in `KINDS` order, kinds with questions only) and overall: for each
    metric, `count` of `total` applicable questions (key words: of all key words) and `percent`
    (None when nothing applies)."""
    by_kind = {
        kind: _figures([r for r in results if r.kind == kind])
        for kind in KINDS
        if any(r.kind == kind for r in results)
    }
    return {"by_kind": by_kind, "overall": _figures(results)}


def _cell(ratio: Mapping[str, Any]) -> str:
    if ratio["total"] == 0:
        return "–"
    return f"{ratio['count']}/{ratio['total']} {ratio['percent']:.0f}%"


def format_table(summary: Mapping[str, Any]) -> str:
    """A Markdown table (aligned, so it reads in a terminal too): one row per kind, then overall."""
    header = ["kind", "n", *(title for _, title in METRICS)]
    rows = [
        [f"**{name}**" if name == "overall" else name, str(figures["questions"])]
        + [_cell(figures[key]) for key, _ in METRICS]
        for name, figures in [*summary["by_kind"].items(), ("overall", summary["overall"])]
    ]
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.ljust(width) if index == 0 else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            "-" * (width + 1) + (":" if index else "-") for index, width in enumerate(widths)
        )
        + "|"
    )
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


LEGEND: Final = """\
- video first: the first cited source (lowest id) is from the labelled video
- passage: the labelled caption starts inside that source's passage (start..end)
- moment: that source's at_seconds (else start_seconds) is within {tolerance:g} s of the caption
- all videos: a whole-video or comparison answer cites every labelled video
- spread: a summary cites moments in the beginning, middle and end thirds of the video
- not-found ok: exactly the not-found sentence, and no sources
- false not-found: an answerable question answered with it (lower is better)
- key words: labelled key words found in the answers; failed: requests that failed
- passed: every check that applies holds (passage, key words and false not-found aside)"""


def _describe_failure(result: QuestionResult) -> str:
    if result.reply.error is not None:
        return f"error: {result.reply.error}"
    failed = [k for k, v in result.checks.items() if k != "passed" and not v]
    failed = [k for k in failed if k != "false_not_found"]
    if result.checks.get("false_not_found"):
        failed.append("answered not-found")
    first = _first_source(result.reply.sources)
    where = (
        "no sources"
        if first is None
        else f"first source {first.get('video_id')} at {_moment(first):.0f} s"
    )
    return f"{', '.join(failed) or 'failed'}; {where}"


# ---------------------------------------------------------------------------------------------
# The HTTP side


class ApiClient:
    """The few calls of the public API the evaluation needs, on one session."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = REQUEST_TIMEOUT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout, transport=transport
        )
        self.sleep = sleep
        self.session_id: str | None = None

    def close(self) -> None:
        self.http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {SESSION_HEADER: self.session_id} if self.session_id else {}
        for _ in range(MAX_RATE_LIMIT_RETRIES):
            response = self.http.request(method, path, headers=headers, **kwargs)
            if response.status_code != 429:
                return response
            wait = float(response.headers.get("Retry-After") or 1)
            self.sleep(min(MAX_RATE_LIMIT_WAIT_SECONDS, max(0.5, wait)))
        return response

    def create_session(self) -> str:
        response = self._request("POST", "/sessions")
        if response.status_code != 201:
            raise EvaluationError(
                f"POST /sessions answered {response.status_code}: {response.text}"
            )
        self.session_id = str(response.json()["session_id"])
        return self.session_id

    def upload(self, eval_set: EvalSet) -> None:
        """Upload every transcript (one request each, so MAX_VIDEOS_PER_REQUEST cannot bite)."""
        for transcript in eval_set.transcripts:
            item = {
                "video_id": transcript.video_id,
                "title": transcript.title,
                "language": "en",
                "format": "vtt",
                "content": transcript.content,
            }
            response = self._request("POST", "/videos", json={"transcripts": [item]})
            if response.status_code != 200:
                raise EvaluationError(
                    f"uploading {transcript.video_id} answered {response.status_code}: "
                    f"{response.text}"
                )
            status = response.json()["videos"][0]
            if status.get("status") not in ("added", "already_added"):
                raise EvaluationError(f"uploading {transcript.video_id} failed: {status}")

    def clear_history(self) -> None:
        response = self._request("DELETE", "/chat/messages")
        if response.status_code != 204:
            raise EvaluationError(
                f"DELETE /chat/messages answered {response.status_code}: {response.text}"
            )

    def ask(self, message: str, video_ids: Sequence[str] | None = None) -> Reply:
        body: dict[str, Any] = {"message": message}
        if video_ids is not None:
            body["video_ids"] = list(video_ids)
        try:
            response = self._request("POST", "/chat", json=body)
        except httpx.HTTPError as exc:
            return Reply(error=f"{type(exc).__name__}: {exc}")
        if response.status_code != 200:
            try:
                code = response.json()["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = response.text[:200]
            return Reply(error=f"HTTP {response.status_code} {code}")
        data = response.json()
        return Reply(
            answer=str(data.get("answer", "")),
            sources=tuple(data.get("sources") or ()),
            model=data.get("model"),
        )

    def end_session(self) -> None:
        if self.session_id is not None:
            self._request("DELETE", "/sessions/current")
            self.session_id = None


def ask_question(client: ApiClient, question: Question) -> Reply:
    """One conversation: clear the history, ask `previous` (follow-ups), then the question."""
    client.clear_history()
    if question.previous is not None:
        before = client.ask(question.previous, question.video_ids)
        if before.error is not None:
            return Reply(error=f"the previous question failed: {before.error}")
    return client.ask(question.question, question.video_ids)


def run_evaluation(
    base_url: str,
    eval_set: EvalSet | None = None,
    *,
    out: TextIO | None = None,
    details: bool = False,
) -> dict[str, Any]:
    """Evaluate the server at `base_url` (…/api) on `eval_set` (default: tests/eval/data) and
    print the table to `out` (default: standard output), with each question that did not pass
    when `details`. Returns the figures: `questions`, `transcripts`, `model`,
    `tolerance_seconds`, `by_kind` and `overall` (see `summarize`), `failed_requests` and
    `results` (one dict per question)."""
    eval_set = eval_set or load()
    client = ApiClient(base_url)
    results: list[QuestionResult] = []
    try:
        client.create_session()
        client.upload(eval_set)
        for question in eval_set.questions:
            results.append(score_reply(eval_set, question, ask_question(client, question)))
    finally:
        with contextlib.suppress(httpx.HTTPError):
            client.end_session()  # its transcripts go with it
        client.close()

    models = sorted({r.reply.model for r in results if r.reply.model})
    summary = summarize(results)
    figures: dict[str, Any] = {
        "questions": len(results),
        "transcripts": len(eval_set.transcripts),
        "model": ", ".join(models) or None,
        "tolerance_seconds": eval_set.tolerance_seconds,
        **summary,
        "failed_requests": summary["overall"]["failed_requests"]["count"],
        "results": [r.as_dict() for r in results],
    }
    print(report(figures, results if details else None), file=sys.stdout if out is None else out)
    return figures


def report(figures: Mapping[str, Any], details: Sequence[QuestionResult] | None = None) -> str:
    """The printout: a title line, the table, the legend, and (given results) each question that
    did not pass."""
    lines = [
        f"Answer quality: {figures['questions']} questions over {figures['transcripts']} "
        f"transcripts, model {figures['model'] or 'unknown'}",
        "",
        format_table(figures),
        "",
        LEGEND.format(tolerance=figures["tolerance_seconds"]),
    ]
    if details is not None:
        failing = [r for r in details if not r.passed]
        lines += ["", f"Not passed ({len(failing)}):"]
        lines += [f"  {r.kind:<14} {r.id:<34} {_describe_failure(r)}" for r in failing]
    return "\n".join(lines)
