"""NOT_FOUND_THRESHOLD is what `domain.relevance.calibrate_threshold` finds on the labelled set:
each question of tests/eval is prepared as POST /api/chat would (condensed, retrieved, with the
not-found check off), and the support of its passages is scored against its label."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.video_rag.bootstrap import Dependencies
from services.video_rag.domain.prompts import offline_standalone_question
from services.video_rag.domain.relevance import calibrate_threshold, support
from services.video_rag.providers.embeddings import load_offline_model
from services.video_rag.service.chat import prepare_question
from services.video_rag.settings import OFFLINE_EMBEDDING_DIMENSIONS, load_settings
from tests.eval.dataset import load
from tests.helpers import add_videos, ask, invoke, new_session

pytestmark = [pytest.mark.db]

# How far (in hundredths) the setting may sit from the calibrated value: a question added to the
# set moves the calibration a little without the setting being wrong.
TOLERANCE = 2


def test_the_default_threshold_is_the_one_the_labelled_set_calibrates(deps: Dependencies) -> None:
    default = load_settings({}).not_found_threshold
    deps.settings = replace(deps.settings, not_found_threshold=0, chat_rate_limit_per_minute=0)
    eval_set = load()
    session = new_session()
    for transcript in eval_set.transcripts:
        item = {
            "video_id": transcript.video_id,
            "title": transcript.title,
            "format": "vtt",
            "content": transcript.content,
        }
        add_videos(session, transcripts=[item])
    headers = {"X-Session-Id": session}
    model = load_offline_model()

    scores = []
    for question in eval_set.questions:
        invoke("DELETE", "chat/messages", headers=headers)
        extra = {"video_ids": list(question.video_ids)} if question.video_ids else {}
        if question.previous is not None:
            ask(headers, question.previous, **extra)
        prepared = prepare_question(deps, session, question.question, question.video_ids)
        if prepared.whole_videos:
            continue  # answered from whole transcripts: no not-found check
        standalone = offline_standalone_question(prepared.question, prepared.history)
        score = support(
            standalone,
            [passage.text for passage in prepared.passages],
            lambda texts: model.embed(texts, OFFLINE_EMBEDDING_DIMENSIONS),
        )
        scores.append((score, question.answerable))

    calibrated = calibrate_threshold(scores) * 100
    assert abs(default - calibrated) <= TOLERANCE, (default, calibrated)
    # What the default does on the set: the questions on another subject are caught, and no
    # answerable question is refused.
    refused = [answerable for score, answerable in scores if score * 100 < default]
    assert refused.count(True) == 0
    assert refused.count(False) >= 4
