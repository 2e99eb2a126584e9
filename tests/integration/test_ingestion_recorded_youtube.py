"""POST /api/videos end to end with the REAL youtube-transcript-api, fed YouTube responses
recorded in its wheel (no network), and the real database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.video_rag.bootstrap import Dependencies
from services.video_rag.db.models import Transcript, TranscriptChunk
from services.video_rag.providers.youtube import YouTubeTranscriptSource
from tests.helpers import add_videos, new_session
from tests.youtube_recordings import RECORDED_TITLE, RECORDED_VIDEO_ID, RecordedYouTube

pytestmark = [pytest.mark.db]


@pytest.fixture
def youtube(deps: Dependencies) -> Iterator[RecordedYouTube]:
    recorded = RecordedYouTube()
    deps.transcript_source = YouTubeTranscriptSource(http_client_factory=recorded.factory)
    yield recorded
    assert recorded.unexpected == []


def add(body: dict) -> list[dict]:
    return add_videos(new_session(), **body)


def test_recorded_video_in_the_preferred_language(youtube: RecordedYouTube, db: Session) -> None:
    youtube.add_video(RECORDED_VIDEO_ID)
    (result,) = add(
        {
            "urls": [f"https://www.youtube.com/watch?v={RECORDED_VIDEO_ID}"],
            "languages": ["de", "en"],
        }
    )
    assert result["status"] == "added", result
    assert (result["language"], result["is_generated"]) == ("de", False)
    assert result["title"] == RECORDED_TITLE
    assert result["channel"] == "Dave2D"
    assert result["chunks"] == 1
    (chunk,) = db.scalars(select(TranscriptChunk)).all()
    assert chunk.text  # the recorded captions, cleaned
    assert chunk.start_seconds == 0.0
    assert db.scalar(select(Transcript.source)) == "youtube"


def test_failures_map_to_item_codes_while_others_succeed(youtube: RecordedYouTube) -> None:
    youtube.add_video(
        "okvideo0001",
        captions=[("Hello &amp; welcome [Music]", 0.0, 2.5), ("to the show", 2.5, 2.0)],
    )
    youtube.add_video("blocked0001", "blocked")
    youtube.add_video("disabled001", "transcripts_disabled")
    youtube.add_video("unavailabl1", "unavailable")
    youtube.add_video("agerestrict", "age_restricted")
    youtube.add_video("networkdown", "network_error")
    youtube.add_video(RECORDED_VIDEO_ID)
    results = add(
        {
            "urls": [
                "okvideo0001",
                "blocked0001",
                "disabled001",
                "unavailabl1",
                "agerestrict",
                "networkdown",
                f"youtu.be/{RECORDED_VIDEO_ID}",
            ],
            "languages": ["fr"],
        }
    )
    codes = [r["error"]["code"] if r["error"] else r["status"] for r in results]
    assert codes == [
        "no_transcript",  # the custom video offers the recorded tracks, none in French
        "youtube_blocked",
        "transcripts_disabled",
        "video_unavailable",
        "age_restricted",
        "youtube_error",
        "no_transcript",
    ]
    assert "WEBSHARE_PROXY_USERNAME" in results[1]["error"]["message"]
    assert "transcripts" in results[1]["error"]["message"]
    assert "de" in results[6]["error"]["message"]  # lists the languages that exist


def test_captions_are_cleaned_before_chunking(youtube: RecordedYouTube, db: Session) -> None:
    youtube.add_video(
        "okvideo0001",
        captions=[("Hello &amp; welcome [Music]", 0.0, 2.5), ("to the show", 2.5, 2.0)],
    )
    (result,) = add({"urls": ["okvideo0001"]})
    assert result["status"] == "added"
    (chunk,) = db.scalars(select(TranscriptChunk)).all()
    assert chunk.text == "Hello & welcome to the show"
    assert (chunk.start_seconds, chunk.end_seconds) == (0.0, 4.5)
