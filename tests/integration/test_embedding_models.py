"""Embedding models end to end through the functions: the offline embedder by default (256 wide,
semantic), a local 768-wide model through the real langchain-openai client against a local
OpenAI-compatible server, and one session across a change of model (it never mixes them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from benchmarks.offline_embedders import TRANSCRIPTS
from services.video_rag.bootstrap import Dependencies, set_dependencies
from services.video_rag.db.models import Transcript
from tests.conftest import FakeClock
from tests.fakes import RecordingAnswerer
from tests.helpers import app_with_model, ask, body_of, invoke, session_with
from tests.support.fake_openai import FakeOpenAI

pytestmark = [pytest.mark.db]


def segments(video: str) -> list[dict[str, Any]]:
    """One passage of the benchmark's transcript per caption, 70 s apart: one chunk each."""
    return [
        {"text": text, "start": index * 70.0, "duration": 60.0}
        for index, text in enumerate(TRANSCRIPTS[video])
    ]


def upload(headers: dict[str, str], video_id: str, video: str) -> dict[str, Any]:
    item = {"video_id": video_id, "title": video, "format": "segments", "content": segments(video)}
    added = invoke("POST", "videos", headers=headers, json_body={"transcripts": [item]})
    (result,) = body_of(added)["videos"]
    assert result["status"] == "added", result
    return dict(result)


def stored_models(db: Session) -> dict[str, tuple[str, int]]:
    rows = db.execute(
        select(Transcript.video_id, Transcript.embedding_model, Transcript.embedding_dimensions)
    )
    return {video_id: (model, width) for video_id, model, width in rows}


@pytest.fixture
def local_model(deps: Dependencies, clock: FakeClock) -> Iterator[tuple[Dependencies, FakeOpenAI]]:
    """The app with a local chat model and a local 768-wide embedding model on one server, the
    README's second Ollama pairing (`EMBEDDING_MODEL=nomic-embed-text`)."""
    fake = FakeOpenAI(dimensions=768, chat_replies=["From the transcript [1]."])
    with app_with_model(
        deps, clock, fake, api_key=None, CHAT_MODEL="llama3.2", EMBEDDING_MODEL="nomic-embed-text"
    ) as (local, server):
        assert local.settings.problems == ()
        yield local, server


def test_the_offline_embedder_retrieves_a_paraphrased_passage(
    deps: Dependencies, db: Session
) -> None:
    deps.answerer = answerer = RecordingAnswerer()
    headers = session_with()
    upload(headers, "sourdough01", "sourdough")
    upload(headers, "laptopvid01", "laptop")
    assert stored_models(db) == {
        "sourdough01": ("wordllama-l2-supercat@256", 256),
        "laptopvid01": ("wordllama-l2-supercat@256", 256),
    }
    answer = ask(headers, "How long should the dough sit in the refrigerator?")
    assert answer["model"] == "offline-extractive"
    retrieved = [(p.video_id, p.start_seconds) for p in answerer.passages]
    # "let it rest in the fridge overnight", among the RETRIEVAL_K (6) passages the answer sees
    assert ("sourdough01", 6 * 70.0) in retrieved, retrieved
    answer = ask(headers, "Can I plug in a memory card from my camera?")
    retrieved = [(p.video_id, p.start_seconds) for p in answerer.passages]
    assert retrieved[0] == ("laptopvid01", 6 * 70.0), retrieved  # "no SD card reader"

    health = body_of(invoke("GET", "health"))
    assert health["provider"]["embeddings"] == "offline"
    assert health["provider"]["embedding_model"] == "wordllama-l2-supercat@256"
    assert health["provider"]["embedding_dimensions"] == 256


def test_a_local_768_wide_model_ingests_and_retrieves(
    local_model: tuple[Dependencies, FakeOpenAI], db: Session
) -> None:
    deps, server = local_model
    headers = session_with()
    video = upload(headers, "tomatoes001", "tomatoes")
    embedding_requests = [body for path, body in server.requests if path.endswith("/embeddings")]
    assert sum(len(body["input"]) for body in embedding_requests) == video["chunks"]
    assert all(body["model"] == "nomic-embed-text" for body in embedding_requests)
    assert all("dimensions" not in body for body in embedding_requests)
    assert stored_models(db) == {"tomatoes001": ("nomic-embed-text", 768)}
    assert deps.get_embedder().dimensions == 768  # learned from the server's first answer

    answer = ask(headers, "How often should I water?")
    assert answer["answer"] == "From the transcript [1]."
    assert answer["model"] == "llama3.2"
    assert answer["sources"]
    assert {s["video_id"] for s in answer["sources"]} == {"tomatoes001"}
    (_, question), *_ = [r for r in server.requests if r[0].endswith("/embeddings")][-1:]
    assert question["input"] == ["How often should I water?"]
    ((_, chat),) = server.chat_requests
    assert chat["model"] == "llama3.2"
    assert '<passage id="1"' in FakeOpenAI.message_text(chat)

    health = body_of(invoke("GET", "health"))
    assert health["provider"]["embeddings"] == "openai"
    assert health["provider"]["embedding_model"] == "nomic-embed-text"
    assert "embedding_dimensions" not in health["provider"]  # the model's own


def test_a_session_never_mixes_models_when_the_configuration_changes(
    deps: Dependencies, local_model: tuple[Dependencies, FakeOpenAI], db: Session
) -> None:
    local, server = local_model
    local.answerer = deps.answerer = answerer = RecordingAnswerer()
    headers = session_with()
    upload(headers, "tomatoes001", "tomatoes")  # 768 wide, by the local model
    set_dependencies(deps)  # the offline embedder from here on: 256 wide
    upload(headers, "headphone01", "headphones")
    assert stored_models(db) == {
        "tomatoes001": ("nomic-embed-text", 768),
        "headphone01": ("wordllama-l2-supercat@256", 256),
    }
    videos = body_of(invoke("GET", "videos", headers=headers))["videos"]
    assert {v["video_id"] for v in videos} == {"tomatoes001", "headphone01"}

    question = "What's eating holes in my leaves? And how long do the headphones play?"
    ask(headers, question)
    assert {p.video_id for p in answerer.passages} == {"headphone01"}

    set_dependencies(local)
    ask(headers, question)
    assert answerer.passages
    assert {p.video_id for p in answerer.passages} == {"tomatoes001"}
    # A question naming a video none of whose passages the configured model embedded is
    # searched in every video instead.
    answerer.passages = []
    ask(headers, "Do the headphones say how often to water tomatoes?")
    assert {p.video_id for p in answerer.passages} == {"tomatoes001"}
    assert not server.chat_requests  # answered offline, retrieved with the local model


def test_shared_transcripts_are_shared_per_model(
    deps: Dependencies, local_model: tuple[Dependencies, FakeOpenAI], db: Session, clock: FakeClock
) -> None:
    """The same YouTube video added under two models is two transcripts; under one model, one."""
    from tests.fakes import FakeTranscriptSource

    local, _ = local_model
    source = FakeTranscriptSource()
    source.add("GJLlxj_dtq8", "battery life")
    for dependencies in (local, deps, local):
        dependencies.transcript_source = source
        set_dependencies(dependencies)
        added = invoke(
            "POST", "videos", headers=session_with(), json_body={"urls": ["GJLlxj_dtq8"]}
        )
        assert body_of(added)["videos"][0]["status"] == "added"
    rows = db.execute(select(Transcript.embedding_model, Transcript.embedding_dimensions))
    assert sorted(rows) == [("nomic-embed-text", 768), ("wordllama-l2-supercat@256", 256)]
    assert source.fetches == ["GJLlxj_dtq8"] * 2  # the third add reused the local model's
