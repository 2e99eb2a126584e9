"""The add-videos pipeline (service/videos.py): one check per request, at most two units of work
per item, every item fetched and embedded at once while the database sees at most
INGEST_CONCURRENCY units of work, room in the session taken before fetching and embedding, and
responses built from the service's objects without changing them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any

import pytest

from services.video_rag.bootstrap import Dependencies
from services.video_rag.db.unit_of_work import UnitOfWork
from services.video_rag.providers.youtube import FetchedTranscript, VideoMetadata
from services.video_rag.service import videos as service
from tests.factories import row_counts
from tests.fakes import FakeTranscriptSource
from tests.helpers import body_of, invoke

pytestmark = [pytest.mark.db]

TEN = [f"pipeline{index:03d}" for index in range(10)]


class UnitsOfWork:
    """Stands in for `Dependencies.uow`: counts the units of work entered, and the most open at
    once."""

    def __init__(self, make: Callable[[], UnitOfWork]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self.entered = 0
        self.open = 0
        self.most_open = 0

    def __call__(self) -> _Counted:
        return _Counted(self, self._make())

    def _enter(self) -> None:
        with self._lock:
            self.entered += 1
            self.open += 1
            self.most_open = max(self.most_open, self.open)

    def _exit(self) -> None:
        with self._lock:
            self.open -= 1


class _Counted:
    def __init__(self, counter: UnitsOfWork, uow: UnitOfWork) -> None:
        self._counter = counter
        self._uow = uow

    def __enter__(self) -> UnitOfWork:
        self._counter._enter()
        return self._uow.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._uow.__exit__(exc_type, exc, tb)
        finally:
            self._counter._exit()


class GatheringSource:
    """A transcript source whose fetches return only once `parties` of them are waiting at the
    same time (a broken barrier, after 10 s, fails the fetch and so the test)."""

    def __init__(self, inner: FakeTranscriptSource, parties: int) -> None:
        self.inner = inner
        self.barrier = threading.Barrier(parties, timeout=10)

    def fetch(self, video_id: str, languages: Sequence[str]) -> FetchedTranscript:
        self.barrier.wait()
        return self.inner.fetch(video_id, languages)

    def metadata(self, video_id: str) -> VideoMetadata:
        return self.inner.metadata(video_id)


class CountingEmbeddings:
    """Small fixed vectors, counting the texts embedded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.texts = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            self.texts += len(texts)
        return [[1.0, float(len(text)), 0.5, 0.25] for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return [1.0, float(len(text)), 0.5, 0.25]


@pytest.fixture
def source(deps: Dependencies) -> FakeTranscriptSource:
    fake = FakeTranscriptSource()
    for index, video_id in enumerate(TEN):
        fake.add(video_id, f"topic number {index}")
    deps.transcript_source = fake
    return fake


@pytest.fixture
def units(deps: Dependencies, monkeypatch: pytest.MonkeyPatch) -> UnitsOfWork:
    counter = UnitsOfWork(deps.uow)
    monkeypatch.setattr(deps, "uow", counter)
    return counter


def new_session() -> str:
    return str(body_of(invoke("POST", "sessions"))["session_id"])


def add(session_id: str, **body: object) -> list[dict[str, Any]]:
    response = invoke("POST", "videos", json_body=body, headers={"X-Session-Id": session_id})
    assert response.status_code == 200, response.get_body()
    return list(body_of(response)["videos"])


def segments(count: int) -> list[dict[str, object]]:
    """Content of an upload that makes `count` passages (one caption each, 61 s apart)."""
    return [{"text": f"part {i} of the talk", "start": i * 61.0} for i in range(count)]


@pytest.mark.parametrize("passages_per_hour", [0, 100_000])
def test_ten_new_videos_take_one_check_and_at_most_two_units_of_work_each(
    deps: Dependencies, source: FakeTranscriptSource, units: UnitsOfWork, passages_per_hour: int
) -> None:
    deps.settings = replace(deps.settings, client_passages_per_hour=passages_per_hour)
    me = new_session()
    before = units.entered
    results = add(me, urls=TEN)
    assert [r["status"] for r in results] == ["added"] * 10
    # The session check of the trigger, the request's check, then per video the count of its
    # passages (only when CLIENT_PASSAGES_PER_HOUR is on) and the storing transaction.
    per_video = 2 if passages_per_hour else 1
    assert units.entered - before == 1 + 1 + per_video * 10

    # Another session reuses the ten shared transcripts: one unit of work each (the link).
    other = new_session()
    before = units.entered
    assert [r["status"] for r in add(other, urls=TEN)] == ["added"] * 10
    assert units.entered - before == 1 + 1 + 10
    assert sorted(source.fetches) == TEN  # fetched once

    # Already added: only the checks.
    before = units.entered
    assert [r["status"] for r in add(other, urls=TEN[:3])] == ["already_added"] * 3
    assert units.entered - before == 2


def test_every_video_is_fetched_at_once_while_the_database_sees_ingest_concurrency(
    deps: Dependencies, source: FakeTranscriptSource, units: UnitsOfWork
) -> None:
    deps.settings = replace(deps.settings, ingest_concurrency=2, client_passages_per_hour=100_000)
    deps.transcript_source = GatheringSource(source, parties=6)
    me = new_session()
    units.most_open = 0
    results = add(me, urls=TEN[:6])  # each fetch waits until all six are fetching
    assert [r["status"] for r in results] == ["added"] * 6
    assert units.most_open <= 2
    assert row_counts_for(deps)["session_video"] == 6


def row_counts_for(deps: Dependencies) -> dict[str, int]:
    from sqlalchemy.orm import Session

    with Session(deps.engine) as db:
        return row_counts(db)


def test_nothing_is_fetched_that_the_session_video_limit_refuses(
    deps: Dependencies, source: FakeTranscriptSource
) -> None:
    deps.settings = replace(deps.settings, max_videos_per_session=4)
    me = new_session()
    assert add(me, urls=TEN[:1])[0]["status"] == "added"
    results = add(me, urls=TEN[1:6])
    statuses = sorted(r["status"] for r in results)
    assert statuses == ["added"] * 3 + ["failed"] * 2
    for failed in (r for r in results if r["status"] == "failed"):
        assert failed["error"]["code"] == "session_video_limit"
        assert "already has 4 videos (the limit is 4)" in failed["error"]["message"]
    assert len(source.fetches) == 4  # the refused ones were not fetched


def test_nothing_is_embedded_that_the_session_chunk_limit_refuses(
    deps: Dependencies, source: FakeTranscriptSource
) -> None:
    embedder = CountingEmbeddings()
    deps.embedder = embedder
    deps.settings = replace(deps.settings, max_chunks_per_session=12)
    me = new_session()
    uploads = [
        {"video_id": f"upload{index}", "format": "segments", "content": segments(5)}
        for index in range(3)
    ]
    results = add(me, transcripts=uploads)
    statuses = sorted(r["status"] for r in results)
    assert statuses == ["added", "added", "failed"]
    (failed,) = [r for r in results if r["status"] == "failed"]
    assert failed["error"]["code"] == "session_chunk_limit"
    assert embedder.texts == 10  # the third upload's passages were never embedded
    # The room the refused item did not use is still there: exactly the limit.
    more = add(
        me, transcripts=[{"video_id": "upload9", "format": "segments", "content": segments(2)}]
    )
    assert more[0]["status"] == "added"


def test_the_same_video_twice_in_one_request_is_added_once(
    deps: Dependencies, source: FakeTranscriptSource
) -> None:
    me = new_session()
    results = add(me, urls=[TEN[0], f"https://youtu.be/{TEN[0]}", TEN[1]])
    assert sorted(r["status"] for r in results[:2]) == ["added", "already_added"]
    assert results[2]["status"] == "added"
    assert sorted(source.fetches) == [TEN[0], TEN[1]]


def test_the_response_leaves_the_service_objects_as_they_were(
    deps: Dependencies, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: the trigger built each item with `vars(result.video).pop(...)`, removing
    attributes from the frozen VideoView the service gave it."""
    from datetime import UTC, datetime

    view = service.VideoView(
        video_id="abcdefghijk",
        title="A title",
        channel="A channel",
        language="en",
        is_generated=False,
        duration_seconds=12.5,
        chunks=3,
        added_at=datetime(2024, 5, 1, tzinfo=UTC),
        url="https://www.youtube.com/watch?v=abcdefghijk",
    )
    before = dict(vars(view))
    results = [
        service.AddResult("abcdefghijk", "abcdefghijk", "added", video=view),
        service.AddResult("again", "abcdefghijk", "already_added", video=view),
        service.AddResult("nope", None, "failed", error=service.ItemError("invalid_url", "bad")),
    ]
    monkeypatch.setattr(service, "add_requested_videos", lambda *args, **kwargs: results)
    me = new_session()
    body = add(me, urls=["abcdefghijk"])
    assert vars(view) == before
    expected = {
        "video_id": "abcdefghijk",
        "title": "A title",
        "channel": "A channel",
        "language": "en",
        "is_generated": False,
        "duration_seconds": 12.5,
        "chunks": 3,
        "error": None,
    }
    assert body[0] == {"input": "abcdefghijk", "status": "added", **expected}
    assert body[1] == {"input": "again", "status": "already_added", **expected}
    assert body[2] == {
        "input": "nope",
        "video_id": None,
        "status": "failed",
        "title": None,
        "channel": None,
        "language": None,
        "is_generated": None,
        "duration_seconds": None,
        "chunks": None,
        "error": {"code": "invalid_url", "message": "bad"},
    }


class OverlapEmbeddings(CountingEmbeddings):
    """CountingEmbeddings that take a moment and record how many items embed at once."""

    def __init__(self) -> None:
        super().__init__()
        self.now = self.most = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.05)
        with self._lock:
            self.now -= 1
        return super().embed_documents(texts)


def test_at_most_ingest_concurrency_items_hold_vectors_at_once(deps: Dependencies) -> None:
    """Memory follows INGEST_CONCURRENCY, not MAX_VIDEOS_PER_REQUEST: however many uploads a
    request carries, only that many are embedded (and hold their vectors) at the same time."""
    embedder = OverlapEmbeddings()
    deps.embedder = embedder
    deps.settings = replace(deps.settings, ingest_concurrency=2)
    uploads = [
        {"video_id": f"many{index}", "format": "segments", "content": segments(3)}
        for index in range(8)
    ]
    results = add(new_session(), transcripts=uploads)
    assert [r["status"] for r in results] == ["added"] * 8
    assert 1 <= embedder.most <= 2
