"""The answer-quality evaluation set (tests/eval/data): transcripts and labelled questions, loaded
into typed objects and checked for consistency.

`load()` reads ``data/questions.yaml`` (its header documents the format) and the WebVTT files it
names, and raises `DatasetError` when the structure is wrong (an unknown kind or key, a missing
field). `problems()` then lists what is inconsistent between the labels and the transcripts: a
labelled moment that is not the start of a caption, a key word its caption does not contain, a
"not answerable" question whose `absent` words a transcript does contain, and so on.

The transcripts are read with a small WebVTT reader of its own (timings and text only), so that the
labels are checked independently of the app's caption parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from services.video_rag.domain.youtube_urls import VIDEO_ID_PATTERN

__all__ = [
    "ANSWERABLE_KINDS",
    "DATA_DIR",
    "KINDS",
    "QUESTIONS_FILE",
    "Cue",
    "DatasetError",
    "EvalSet",
    "Expectation",
    "Question",
    "Transcript",
    "load",
    "parse_vtt",
    "problems",
]

DATA_DIR: Final = Path(__file__).resolve().parent / "data"
QUESTIONS_FILE: Final = DATA_DIR / "questions.yaml"

KINDS: Final = ("factual", "paraphrase", "not_answerable", "whole_video", "comparison", "follow_up")
ANSWERABLE_KINDS: Final = tuple(kind for kind in KINDS if kind != "not_answerable")

# A labelled moment must be the start of a caption to within this (timings have milliseconds).
_SAME_MOMENT_SECONDS: Final = 0.0005
_TIMING: Final = re.compile(r"^\s*(\S+)\s+-->\s+(\S+)")
_TIMESTAMP: Final = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{1,2})\.(\d{3})")

_TOP_KEYS: Final = {"tolerance_seconds", "transcripts", "questions"}
_TRANSCRIPT_KEYS: Final = {"video_id", "title", "file"}
_QUESTION_KEYS: Final = {
    "id",
    "kind",
    "question",
    "previous",
    "video_ids",
    "expect",
    "summary",
    "absent",
}
_EXPECT_KEYS: Final = {"video_id", "at", "keywords"}


class DatasetError(ValueError):
    """The evaluation set's files are malformed."""


@dataclass(frozen=True)
class Cue:
    """One caption of a transcript: `text` shows from `start` to `end` (seconds)."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    video_id: str
    title: str
    path: Path
    content: str
    cues: tuple[Cue, ...]

    @property
    def duration(self) -> float:
        """When the last caption ends, in seconds."""
        return max(cue.end for cue in self.cues)

    def cue_at(self, seconds: float) -> Cue | None:
        """The caption that starts at `seconds`, if any."""
        for cue in self.cues:
            if abs(cue.start - seconds) <= _SAME_MOMENT_SECONDS:
                return cue
        return None


@dataclass(frozen=True)
class Expectation:
    """A video the answer must come from, optionally with the moment (the start of the caption
    holding the answer) and key words the answer should contain."""

    video_id: str
    at: float | None = None
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class Question:
    id: str
    kind: str
    question: str
    expect: tuple[Expectation, ...] = ()
    previous: str | None = None
    video_ids: tuple[str, ...] | None = None
    summary: bool = False
    absent: tuple[str, ...] = ()

    @property
    def answerable(self) -> bool:
        return self.kind != "not_answerable"

    @property
    def expected_videos(self) -> list[str]:
        """The expected video ids, in label order, without repeats."""
        return list(dict.fromkeys(e.video_id for e in self.expect))


@dataclass(frozen=True)
class EvalSet:
    transcripts: tuple[Transcript, ...]
    questions: tuple[Question, ...]
    tolerance_seconds: float

    def transcript(self, video_id: str) -> Transcript | None:
        return next((t for t in self.transcripts if t.video_id == video_id), None)


def parse_vtt(content: str) -> list[Cue]:
    """The cues of a WebVTT document (timings and joined text lines; cue settings, identifiers and
    NOTE blocks ignored). Raises DatasetError on a bad header or timestamp."""
    blocks = [b.strip("\n") for b in re.split(r"\n\s*\n", content.replace("\r\n", "\n"))]
    if not blocks or not blocks[0].startswith("WEBVTT"):
        raise DatasetError("a WebVTT file must start with 'WEBVTT'")
    cues = []
    for block in blocks[1:]:
        lines = block.split("\n")
        timing = next((i for i, line in enumerate(lines) if "-->" in line), None)
        if timing is None:
            continue  # NOTE, STYLE or an empty block
        match = _TIMING.match(lines[timing])
        if match is None:
            raise DatasetError(f"bad cue timing line {lines[timing]!r}")
        start, end = (_seconds(stamp) for stamp in match.groups())
        text = " ".join(line.strip() for line in lines[timing + 1 :] if line.strip())
        cues.append(Cue(start, end, text))
    return cues


def _seconds(stamp: str) -> float:
    match = _TIMESTAMP.fullmatch(stamp)
    if match is None:
        raise DatasetError(f"bad WebVTT timestamp {stamp!r}")
    hours, minutes, seconds, millis = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000


def load(path: Path = QUESTIONS_FILE) -> EvalSet:
    """The evaluation set described by `path` (its transcripts are read too)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise DatasetError(f"{path.name}: expected a mapping at the top")
    _known_keys(document, _TOP_KEYS, path.name)
    tolerance = float(document.get("tolerance_seconds", 10))
    transcripts = tuple(
        _transcript(item, path.parent) for item in _list(document, "transcripts", path.name)
    )
    questions = tuple(_question(item) for item in _list(document, "questions", path.name))
    return EvalSet(transcripts, questions, tolerance)


def _transcript(item: Any, folder: Path) -> Transcript:
    where = f"transcript {item.get('video_id') if isinstance(item, dict) else item!r}"
    if not isinstance(item, dict):
        raise DatasetError(f"{where}: expected a mapping")
    _known_keys(item, _TRANSCRIPT_KEYS, where)
    file = folder / _text(item, "file", where)
    content = file.read_text(encoding="utf-8")
    return Transcript(
        video_id=_text(item, "video_id", where),
        title=_text(item, "title", where),
        path=file,
        content=content,
        cues=tuple(parse_vtt(content)),
    )


def _question(item: Any) -> Question:
    where = f"question {item.get('id') if isinstance(item, dict) else item!r}"
    if not isinstance(item, dict):
        raise DatasetError(f"{where}: expected a mapping")
    _known_keys(item, _QUESTION_KEYS, where)
    kind = _text(item, "kind", where)
    if kind not in KINDS:
        raise DatasetError(f"{where}: unknown kind {kind!r} (one of {', '.join(KINDS)})")
    expect = []
    for entry in item.get("expect") or []:
        if not isinstance(entry, dict):
            raise DatasetError(f"{where}: each expect item is a mapping")
        _known_keys(entry, _EXPECT_KEYS, where)
        at = entry.get("at")
        expect.append(
            Expectation(
                video_id=_text(entry, "video_id", where),
                at=None if at is None else float(at),
                keywords=_strings(entry.get("keywords"), where),
            )
        )
    video_ids = item.get("video_ids")
    previous = item.get("previous")
    return Question(
        id=_text(item, "id", where),
        kind=kind,
        question=_text(item, "question", where),
        expect=tuple(expect),
        previous=None if previous is None else str(previous),
        video_ids=None if video_ids is None else _strings(video_ids, where),
        summary=bool(item.get("summary", False)),
        absent=_strings(item.get("absent"), where),
    )


def _known_keys(mapping: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(mapping) - known)
    if unknown:
        raise DatasetError(f"{where}: unknown keys {unknown} (known: {sorted(known)})")


def _list(document: dict[str, Any], key: str, where: str) -> list[Any]:
    value = document.get(key)
    if not isinstance(value, list) or not value:
        raise DatasetError(f"{where}: {key!r} must be a non-empty list")
    return value


def _text(mapping: dict[str, Any], key: str, where: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"{where}: {key!r} must be a non-empty string")
    return value


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise DatasetError(f"{where}: expected a list of non-empty strings, got {value!r}")
    return tuple(value)


def problems(eval_set: EvalSet) -> list[str]:
    """Everything inconsistent in the labels (an empty list when the set is sound)."""
    found: list[str] = []
    video_ids = [t.video_id for t in eval_set.transcripts]
    found += [f"video id {v!r} appears twice" for v in _repeated(video_ids)]
    for transcript in eval_set.transcripts:
        if not VIDEO_ID_PATTERN.fullmatch(transcript.video_id):
            found.append(f"video id {transcript.video_id!r} is not 11 characters of [A-Za-z0-9_-]")
        if not transcript.cues:
            found.append(f"{transcript.path.name} has no captions")
        for cue in transcript.cues:
            if cue.end < cue.start or not cue.text:
                found.append(f"{transcript.path.name}: bad caption at {cue.start:g} s")
    ids = [q.id for q in eval_set.questions]
    found += [f"question id {i!r} appears twice" for i in _repeated(ids)]
    for question in eval_set.questions:
        found += [f"{question.id}: {p}" for p in _question_problems(eval_set, question)]
    return found


def _question_problems(eval_set: EvalSet, question: Question) -> list[str]:
    found = []
    videos = {t.video_id for t in eval_set.transcripts}
    if question.answerable and not question.expect:
        found.append("an answerable question needs at least one `expect` video")
    if not question.answerable:
        if question.expect:
            found.append("a not_answerable question expects no video")
        if not question.absent:
            found.append("a not_answerable question lists its `absent` words")
    if question.absent and question.answerable:
        found.append("`absent` is for not_answerable questions only")
    if question.kind == "comparison" and len(question.expected_videos) < 2:
        found.append("a comparison expects at least two videos")
    if (question.kind == "follow_up") != (question.previous is not None):
        found.append("`previous` is given for follow_up questions, and only for them")
    if question.summary and question.kind != "whole_video":
        found.append("`summary` is for whole_video questions only")
    for video_id in question.video_ids or ():
        if video_id not in videos:
            found.append(f"video_ids names an unknown video {video_id!r}")
    if question.video_ids is not None:
        for video_id in question.expected_videos:
            if video_id not in question.video_ids:
                found.append(f"expects {video_id!r}, which video_ids leaves out")
    for expectation in question.expect:
        transcript = eval_set.transcript(expectation.video_id)
        if transcript is None:
            found.append(f"expects an unknown video {expectation.video_id!r}")
            continue
        if expectation.keywords and expectation.at is None:
            found.append("key words need the moment (`at`) of the caption that holds them")
        if expectation.at is None:
            continue
        cue = transcript.cue_at(expectation.at)
        if cue is None:
            found.append(
                f"{expectation.at:g} s is not the start of a caption of {transcript.video_id}"
            )
            continue
        for keyword in expectation.keywords:
            if keyword.casefold() not in cue.text.casefold():
                found.append(f"key word {keyword!r} is not in the caption {cue.text!r}")
    for word in question.absent:
        for transcript in eval_set.transcripts:
            if word.casefold() in transcript.content.casefold():
                found.append(f"{transcript.video_id} says {word!r}, which should be absent")
    return found


def _repeated(values: list[str]) -> list[str]:
    return sorted({v for v in values if values.count(v) > 1})
