"""Adding, listing and removing videos through the registered functions, on the real database,
with a fake transcript source (the real YouTube client is covered with recorded responses)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.video_rag.bootstrap import Dependencies
from services.video_rag.db.models import SessionVideo, Transcript, Video
from services.video_rag.db.repositories import VideoRepository
from tests.factories import row_counts
from tests.fakes import FailingEmbeddings, FakeTranscriptSource
from tests.helpers import add_videos, body_of, invoke, new_session

pytestmark = [pytest.mark.db]

VTT = "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\nHello from the uploaded transcript\n\n" + (
    "00:00:04.000 --> 00:00:09.500\nIt talks about batteries &amp; chargers [Music]\n"
)


@pytest.fixture
def source(deps: Dependencies) -> FakeTranscriptSource:
    fake = FakeTranscriptSource()
    fake.add("GJLlxj_dtq8", "battery life of the surface go")
    fake.add("aaaaaaaaaaa", "cooking pasta")
    fake.add("bbbbbbbbbbb", "mountain hiking")
    deps.transcript_source = fake
    return fake


def listed(session_id: str) -> list[dict]:
    response = invoke("GET", "videos", headers={"X-Session-Id": session_id})
    assert response.status_code == 200
    return body_of(response)["videos"]


def remove(session_id: str, video_id: str):
    return invoke(
        "DELETE",
        "videos/{video_id}",
        headers={"X-Session-Id": session_id},
        route_params={"video_id": video_id},
    )


def test_add_list_add_again_share_delete_and_readd(
    source: FakeTranscriptSource, db: Session
) -> None:
    me = new_session()
    (result,) = add_videos(me, urls=["https://youtu.be/GJLlxj_dtq8?t=42"])
    assert result["input"] == "https://youtu.be/GJLlxj_dtq8?t=42"
    assert result["video_id"] == "GJLlxj_dtq8"
    assert result["status"] == "added"
    assert result["title"] == "Title of GJLlxj_dtq8"
    assert result["channel"] == "Fake channel"
    assert result["language"] == "en"
    assert result["is_generated"] is False
    assert result["duration_seconds"] == 60.0
    assert result["chunks"] >= 1
    assert result["error"] is None

    (video,) = listed(me)
    assert video["url"] == "https://www.youtube.com/watch?v=GJLlxj_dtq8"
    assert video["chunks"] == result["chunks"]
    assert video["added_at"].endswith("Z")

    (again,) = add_videos(me, urls=["GJLlxj_dtq8"])
    assert again["status"] == "already_added"
    assert again["title"] == "Title of GJLlxj_dtq8"

    other = new_session()
    (shared,) = add_videos(other, urls=["https://www.youtube.com/watch?v=GJLlxj_dtq8&list=PL1"])
    assert shared["status"] == "added"
    assert source.fetches == ["GJLlxj_dtq8"]  # fetched and embedded once
    assert row_counts(db)["transcript"] == 1

    assert remove(me, "GJLlxj_dtq8").status_code == 204
    assert listed(me) == []
    assert [v["video_id"] for v in listed(other)] == ["GJLlxj_dtq8"]
    (readded,) = add_videos(me, urls=["GJLlxj_dtq8"])
    assert readded["status"] == "added"
    assert source.fetches == ["GJLlxj_dtq8"]


def test_removing_what_the_session_does_not_have_is_404_whoever_has_it(
    source: FakeTranscriptSource,
) -> None:
    owner, stranger = new_session(), new_session()
    add_videos(owner, urls=["GJLlxj_dtq8"])
    for video_id in ("GJLlxj_dtq8", "zzzzzzzzzzz", "not-an-id", "x" * 300):
        response = remove(stranger, video_id)
        assert response.status_code == 404
        assert body_of(response)["error"]["code"] == "video_not_found"
    assert [v["video_id"] for v in listed(owner)] == ["GJLlxj_dtq8"]


def test_each_item_fails_alone_and_results_keep_input_order(source: FakeTranscriptSource) -> None:
    source.fail("blockedvid1", "youtube_blocked", "YouTube blocked this IP; set a proxy")
    source.fail("disabledvid", "transcripts_disabled", "subtitles are disabled")
    me = new_session()
    results = add_videos(
        me,
        urls=[
            "https://example.com/watch?v=GJLlxj_dtq8",
            "https://youtube.com.evil.example/watch?v=GJLlxj_dtq8",
            "aaaaaaaaaaa",
            "blockedvid1",
            "disabledvid",
            "https://m.youtube.com/shorts/bbbbbbbbbbb",
        ],
    )
    assert [(r["status"], r["error"] and r["error"]["code"]) for r in results] == [
        ("failed", "invalid_url"),
        ("failed", "invalid_url"),
        ("added", None),
        ("failed", "youtube_blocked"),
        ("failed", "transcripts_disabled"),
        ("added", None),
    ]
    assert results[3]["error"]["message"] == "YouTube blocked this IP; set a proxy"
    assert sorted(source.fetches) == ["aaaaaaaaaaa", "bbbbbbbbbbb", "blockedvid1", "disabledvid"]
    assert {v["video_id"] for v in listed(me)} == {"aaaaaaaaaaa", "bbbbbbbbbbb"}


def test_uploaded_transcripts_are_parsed_stored_and_private(
    source: FakeTranscriptSource, db: Session
) -> None:
    me = new_session()
    (result,) = add_videos(
        me,
        transcripts=[
            {
                "video_id": "GJLlxj_dtq8",
                "title": "My private title",
                "language": "de",
                "format": "vtt",
                "content": VTT,
            }
        ],
    )
    assert result["status"] == "added"
    assert result["input"] == "GJLlxj_dtq8"
    assert (result["title"], result["language"], result["duration_seconds"]) == (
        "My private title",
        "de",
        9.5,
    )
    assert source.fetches == []
    (transcript,) = db.scalars(select(Transcript)).all()
    assert transcript.source == "upload"
    chunk_text = db.scalar(select(Transcript.chunk_count))
    assert chunk_text == 1

    # Another session adding the same video gets YouTube's transcript and title, not the upload.
    other = new_session()
    (theirs,) = add_videos(other, urls=["GJLlxj_dtq8"])
    assert theirs["status"] == "added"
    assert theirs["title"] == "Title of GJLlxj_dtq8"
    assert source.fetches == ["GJLlxj_dtq8"]

    # Removing the upload deletes it (it belonged to this session alone).
    assert remove(me, "GJLlxj_dtq8").status_code == 204
    assert db.scalars(select(Transcript.source)).all() == ["youtube"]


def test_segments_and_srt_uploads(source: FakeTranscriptSource) -> None:
    me = new_session()
    results = add_videos(
        me,
        transcripts=[
            {
                "video_id": "segmentsvid",
                "format": "segments",
                "content": [
                    {"text": "first words", "start": 0, "duration": 2},
                    {"text": "second words", "start": 2.5, "duration": 3},
                ],
            },
            {
                "video_id": "srtsrtsrtsr",
                "format": "srt",
                "content": "1\r\n00:00:01,000 --> 00:00:02,500\r\nHi there\r\n",
            },
        ],
    )
    assert [(r["status"], r["language"], r["duration_seconds"]) for r in results] == [
        ("added", "en", 5.5),
        ("added", "en", 2.5),
    ]


@pytest.mark.parametrize(
    ("fmt", "content"),
    [
        ("vtt", "not a vtt file"),
        ("vtt", "WEBVTT\n\n00:00:0x.000 --> 00:00:02.000\nbroken time\n"),
        ("srt", "1\n00:00:05,000 --> 00:00:01,000\nends before it starts\n"),
        ("segments", [{"text": "", "start": 0, "duration": 1}]),
        ("segments", "not a list"),
    ],
)
def test_invalid_uploads_fail_their_item_and_store_nothing(
    source: FakeTranscriptSource, db: Session, fmt: str, content: object
) -> None:
    me = new_session()
    (result,) = add_videos(
        me, transcripts=[{"video_id": "GJLlxj_dtq8", "format": fmt, "content": content}]
    )
    assert result["status"] == "failed"
    assert result["error"]["code"] == "invalid_transcript"
    assert result["error"]["message"]
    assert row_counts(db)["transcript"] == 0


def test_request_limits(source: FakeTranscriptSource, deps: Dependencies) -> None:
    me = new_session()
    bodies: list[dict] = [{}, {"urls": []}, {"urls": ["GJLlxj_dtq8"] * 11}]
    for body in bodies:
        response = invoke("POST", "videos", json_body=body, headers={"X-Session-Id": me})
        assert response.status_code == 400
        assert body_of(response)["error"]["code"] == "validation_error"
    bad = invoke(
        "POST",
        "videos",
        json_body={"urls": "GJLlxj_dtq8", "languages": ["english!"]},
        headers={"X-Session-Id": me},
    )
    fields = {d["field"] for d in body_of(bad)["error"]["details"]}
    assert fields == {"urls", "languages.0"}


def test_session_video_limit(source: FakeTranscriptSource, deps: Dependencies) -> None:
    from dataclasses import replace

    deps.settings = replace(deps.settings, max_videos_per_session=2)
    me = new_session()
    results = add_videos(me, urls=["GJLlxj_dtq8", "aaaaaaaaaaa", "bbbbbbbbbbb"])
    statuses = sorted(r["status"] for r in results)
    assert statuses == ["added", "added", "failed"]
    (failed,) = [r for r in results if r["status"] == "failed"]
    assert failed["error"]["code"] == "session_video_limit"
    assert len(listed(me)) == 2


def test_without_a_session_nothing_happens(source: FakeTranscriptSource) -> None:
    response = invoke("POST", "videos", json_body={"urls": ["GJLlxj_dtq8"]})
    assert body_of(response)["error"]["code"] == "session_required"
    response = invoke("POST", "videos", body=b"{oops", headers={"X-Session-Id": "C" * 43})
    assert body_of(response)["error"]["code"] == "session_not_found"
    assert source.fetches == []


def test_embedding_failure_fails_the_item_and_stores_nothing(
    source: FakeTranscriptSource, deps: Dependencies, db: Session
) -> None:
    deps.embedder = FailingEmbeddings()
    me = new_session()
    (result,) = add_videos(me, urls=["GJLlxj_dtq8"])
    assert result["status"] == "failed"
    assert result["error"]["code"] == "embedding_error"
    assert "unreachable" not in result["error"]["message"]  # provider details stay in the logs
    counts = row_counts(db)
    assert (counts["video"], counts["transcript"], counts["transcript_chunk"]) == (0, 0, 0)


def test_a_crash_between_chunks_and_commit_leaves_nothing(
    source: FakeTranscriptSource, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(self: VideoRepository, *args: object) -> bool:
        raise RuntimeError("process died mid-transaction")

    monkeypatch.setattr(VideoRepository, "link", crash)
    me = new_session()
    response = invoke(
        "POST", "videos", json_body={"urls": ["GJLlxj_dtq8"]}, headers={"X-Session-Id": me}
    )
    assert response.status_code == 500
    assert body_of(response)["error"]["code"] == "internal_error"
    counts = row_counts(db)
    assert (counts["video"], counts["transcript"], counts["transcript_chunk"]) == (0, 0, 0)
    assert counts["session_video"] == 0


def test_twenty_sessions_add_the_same_new_video_at_once(
    source: FakeTranscriptSource, db: Session
) -> None:
    source.delay_seconds = 0.2
    sessions = [new_session() for _ in range(20)]
    barrier = threading.Barrier(len(sessions))
    results: dict[str, list[dict]] = {}
    errors: list[BaseException] = []

    def worker(session_id: str) -> None:
        try:
            barrier.wait()
            results[session_id] = add_videos(session_id, urls=["GJLlxj_dtq8"])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert all(r[0]["status"] == "added" for r in results.values())
    assert len(db.scalars(select(Transcript.id)).all()) == 1
    assert len(db.scalars(select(Video.id)).all()) == 1
    assert len(db.scalars(select(SessionVideo.session_id)).all()) == 20
    assert source.fetches == ["GJLlxj_dtq8"]


def test_many_uploads_in_one_request_store_concurrently_without_deadlock(
    source: FakeTranscriptSource, deps: Dependencies, db: Session
) -> None:
    from dataclasses import replace

    deps.settings = replace(deps.settings, ingest_concurrency=8, max_videos_per_request=10)
    me = new_session()
    for _ in range(3):
        uploads = [
            {"video_id": f"upload{index:05d}", "format": "vtt", "content": VTT}
            for index in range(10)
        ]
        results = add_videos(me, transcripts=uploads)
        assert {r["status"] for r in results} <= {"added", "already_added"}
    assert len(listed(me)) == 10
    assert row_counts(db)["transcript"] == 10
