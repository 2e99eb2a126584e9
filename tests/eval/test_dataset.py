"""The evaluation set itself: big enough, every kind present, every label consistent with its
transcript, and transcripts the app accepts."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from pathlib import Path

import pytest

from services.video_rag.domain.captions import parse_transcript
from tests.eval.dataset import (
    KINDS,
    DatasetError,
    EvalSet,
    Expectation,
    load,
    parse_vtt,
    problems,
)

MIN_QUESTIONS = 30
MIN_TRANSCRIPTS = 4
MIN_PER_KIND = 3


@pytest.fixture(scope="module")
def eval_set() -> EvalSet:
    return load()


def test_the_set_is_big_enough_with_every_kind(eval_set: EvalSet) -> None:
    assert len(eval_set.questions) >= MIN_QUESTIONS
    assert len(eval_set.transcripts) >= MIN_TRANSCRIPTS
    kinds = Counter(q.kind for q in eval_set.questions)
    assert {kind: kinds[kind] for kind in KINDS if kinds[kind] < MIN_PER_KIND} == {}
    assert any(q.summary for q in eval_set.questions)
    assert eval_set.tolerance_seconds == 10


def test_every_label_agrees_with_its_transcript(eval_set: EvalSet) -> None:
    """Each labelled moment is the start of a caption of its video (so it lies inside the
    transcript), that caption holds the label's key words, no transcript says what a
    not-answerable question asks about, and the kinds' rules hold."""
    assert problems(eval_set) == []
    for question in eval_set.questions:
        for expectation in question.expect:
            transcript = eval_set.transcript(expectation.video_id)
            assert transcript is not None
            if expectation.at is not None:
                assert 0 <= expectation.at < transcript.duration


def test_every_answerable_question_of_one_moment_has_a_moment_and_key_words(
    eval_set: EvalSet,
) -> None:
    for question in eval_set.questions:
        if question.kind in ("factual", "paraphrase", "follow_up"):
            assert len(question.expect) == 1, question.id
            assert question.expect[0].at is not None, question.id
            assert question.expect[0].keywords, question.id


def test_transcripts_are_about_five_minutes_of_realistic_captions(eval_set: EvalSet) -> None:
    for transcript in eval_set.transcripts:
        cues = transcript.cues
        assert 4 * 60 <= transcript.duration <= 7 * 60, transcript.video_id
        assert len(cues) >= 50, transcript.video_id
        durations = [cue.end - cue.start for cue in cues]
        assert min(durations) >= 2 - 1e-6, transcript.video_id
        assert max(durations) <= 6 + 1e-6, transcript.video_id
        starts = [cue.start for cue in cues]
        assert starts == sorted(starts), transcript.video_id
        # Sentences run over caption boundaries sometimes.
        assert any(not cue.text.rstrip().endswith((".", "!", "?")) for cue in cues)


def test_the_app_parses_every_transcript_into_the_same_captions(eval_set: EvalSet) -> None:
    """The same spoken captions (the app drops sound annotations such as "[Music]")."""
    for transcript in eval_set.transcripts:
        captions = parse_transcript("vtt", transcript.content)
        spoken = [cue for cue in transcript.cues if not re.fullmatch(r"\[[^\]]*\]", cue.text)]
        assert [round(c.start, 3) for c in captions] == [cue.start for cue in spoken]


def test_problems_names_each_inconsistent_label(eval_set: EvalSet) -> None:
    factual = next(q for q in eval_set.questions if q.kind == "factual")
    label = factual.expect[0]
    broken = [
        dataclasses.replace(
            factual, id="off-moment", expect=(dataclasses.replace(label, at=(label.at or 0) + 0.5),)
        ),
        dataclasses.replace(
            factual,
            id="wrong-key-word",
            expect=(dataclasses.replace(label, keywords=("zeppelin",)),),
        ),
        dataclasses.replace(factual, id="unknown-video", expect=(Expectation("nosuchvideo"),)),
        dataclasses.replace(factual, id="no-expectation", expect=()),
        dataclasses.replace(
            factual, id="said-after-all", kind="not_answerable", expect=(), absent=("the",)
        ),
        dataclasses.replace(factual, id="follow-up-alone", kind="follow_up"),
    ]
    found = problems(dataclasses.replace(eval_set, questions=tuple(broken)))
    for question in broken:
        assert any(p.startswith(f"{question.id}:") for p in found), question.id


def test_load_refuses_unknown_keys_and_kinds(tmp_path: Path) -> None:
    (tmp_path / "a.vtt").write_text("WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nhello there\n")
    head = (
        "transcripts:\n  - {video_id: abcdefghijk, title: A, file: a.vtt}\n"
        "questions:\n  - id: q\n    question: hello?\n"
    )
    typo = tmp_path / "typo.yaml"
    typo.write_text(head + "    kind: factual\n    expected: []\n")
    with pytest.raises(DatasetError, match="unknown keys"):
        load(typo)
    kind = tmp_path / "kind.yaml"
    kind.write_text(head + "    kind: trivia\n")
    with pytest.raises(DatasetError, match="unknown kind"):
        load(kind)


def test_parse_vtt_reads_timings_and_text() -> None:
    cues = parse_vtt(
        "WEBVTT\nKind: captions\n\nNOTE a comment\n\n1\n00:00:01.500 --> 00:00:04.000 align:start\n"
        "two\nlines\n\n01:02:03.004 --> 01:02:05.000\nlater\n"
    )
    assert [(c.start, c.end, c.text) for c in cues] == [
        (1.5, 4.0, "two lines"),
        (3723.004, 3725.0, "later"),
    ]
    with pytest.raises(DatasetError):
        parse_vtt("00:00:01.000 --> 00:00:02.000\nno header\n")
