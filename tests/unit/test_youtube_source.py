"""YouTubeTranscriptSource against the real youtube-transcript-api, fed recorded responses."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from requests.adapters import HTTPAdapter
from youtube_transcript_api import NotTranslatable, YouTubeRequestFailed
from youtube_transcript_api.proxies import GenericProxyConfig, WebshareProxyConfig

from services.video_rag.providers.youtube import (
    FetchedTranscript,
    ProxySettings,
    TranscriptFetchError,
    TranscriptSource,
    VideoMetadata,
    YouTubeTranscriptSource,
    build_proxy_config,
    is_valid_video_id,
)
from tests.youtube_recordings import (
    RECORDED_CAPTIONS,
    RECORDED_CHANNEL,
    RECORDED_TITLE,
    RECORDED_VIDEO_ID,
    OembedScenario,
    RecordedYouTube,
    Scenario,
    Track,
    UnexpectedRequestError,
    timedtext_xml,
)

OTHER_ID = "aBc_-123XyZ"
PROXY_URL = "http://proxyuser:s3cret-pass@proxy.example:3128"


@pytest.fixture
def youtube() -> RecordedYouTube:
    return RecordedYouTube().add_video(RECORDED_VIDEO_ID)


@pytest.fixture
def source(youtube: RecordedYouTube) -> YouTubeTranscriptSource:
    return YouTubeTranscriptSource(http_client_factory=youtube.factory)


def fetch_error(
    source: YouTubeTranscriptSource, video_id: str, *languages: str
) -> TranscriptFetchError:
    with pytest.raises(TranscriptFetchError) as caught:
        source.fetch(video_id, list(languages) or ["en"])
    return caught.value


def caption_tuples(transcript: FetchedTranscript) -> list[tuple[str, float, float]]:
    return [(c.text, c.start, c.duration) for c in transcript.captions]


# -- success and language choice -------------------------------------------------------------


def test_fetch_follows_the_language_preference_order(
    source: YouTubeTranscriptSource, youtube: RecordedYouTube
) -> None:
    transcript = source.fetch(RECORDED_VIDEO_ID, ["de", "en"])

    assert transcript.video_id == RECORDED_VIDEO_ID
    assert (transcript.language, transcript.language_name) == ("de", "German")
    assert transcript.is_generated is False
    assert caption_tuples(transcript) == list(RECORDED_CAPTIONS)
    assert [r.kind for r in youtube.requests] == ["watch", "player", "timedtext"]
    assert "lang=de" in youtube.requests_of(kind="timedtext")[0].url
    assert youtube.unexpected == []


def test_manual_transcript_beats_generated_one_in_the_same_language(
    source: YouTubeTranscriptSource, youtube: RecordedYouTube
) -> None:
    transcript = source.fetch(RECORDED_VIDEO_ID, ["en"])

    assert (transcript.language, transcript.language_name) == ("en", "English")
    assert transcript.is_generated is False
    timedtext_url = youtube.requests_of(kind="timedtext")[0].url
    assert "lang=en" in timedtext_url
    assert "kind=asr" not in timedtext_url


def test_earlier_language_beats_kind_and_generated_track_is_used(
    youtube: RecordedYouTube, source: YouTubeTranscriptSource
) -> None:
    youtube.add_video(
        OTHER_ID,
        tracks=[Track("fr", "French"), Track("en", "English (auto-generated)", is_generated=True)],
        captions_by_track={"a.en": [("auto english", 0.0, 1.0)], "fr": [("bonjour", 0.0, 1.0)]},
    )

    transcript = source.fetch(OTHER_ID, ["en", "fr"])

    assert (transcript.language, transcript.is_generated) == ("en", True)
    assert transcript.language_name == "English (auto-generated)"
    assert caption_tuples(transcript) == [("auto english", 0.0, 1.0)]
    assert "kind=asr" in youtube.requests_of(kind="timedtext")[0].url


@pytest.mark.parametrize(
    ("tracks", "languages", "expected"),
    [
        ([Track("en-GB", "English (UK)"), Track("fr", "French")], ["en"], "en-GB"),
        (
            [Track("en", "English (auto)", is_generated=True), Track("de", "German")],
            ["en-US"],
            "en",
        ),
        (
            [Track("en-US", "English (US)", is_generated=True), Track("en-GB", "English (UK)")],
            ["en", "de"],
            "en-GB",
        ),
        ([Track("pt-BR", "Portuguese"), Track("de", "German")], ["pt-PT", "de"], "de"),
    ],
)
def test_regional_variant_is_accepted_when_no_code_matches_exactly(
    youtube: RecordedYouTube,
    source: YouTubeTranscriptSource,
    tracks: list[Track],
    languages: list[str],
    expected: str,
) -> None:
    youtube.add_video(OTHER_ID, tracks=tracks)

    assert source.fetch(OTHER_ID, languages).language == expected


def test_empty_language_list_accepts_any_transcript_manual_first(
    source: YouTubeTranscriptSource,
) -> None:
    transcript = source.fetch(RECORDED_VIDEO_ID, [])

    assert (transcript.language, transcript.is_generated) == ("zh", False)


def test_other_video_ids_and_custom_captions(
    youtube: RecordedYouTube, source: YouTubeTranscriptSource
) -> None:
    captions = [
        ('Tom & Jerry\'s "best" <b>bits</b>', 0.0, 2.5),
        ("second line", 2.5, 1.25),
        ("   ", 3.75, 1.0),
        ("third", 1.0, 0.5),
    ]
    youtube.add_video(OTHER_ID, captions=captions)

    transcript = source.fetch(OTHER_ID, ["en"])

    assert transcript.video_id == OTHER_ID
    # Library: entities decoded, tags stripped. Adapter: ordered by start, text left uncleaned.
    assert caption_tuples(transcript) == [
        ('Tom & Jerry\'s "best" bits', 0.0, 2.5),
        ("third", 1.0, 0.5),
        ("second line", 2.5, 1.25),
        ("   ", 3.75, 1.0),
    ]
    assert {r.video_id for r in youtube.requests} == {OTHER_ID}
    assert all(OTHER_ID in r.url or r.kind == "player" for r in youtube.requests)


def test_timedtext_xml_escapes_text() -> None:
    xml = timedtext_xml([("a < b & c", 1.5, 2.0)])

    assert '<text start="1.5" dur="2">a &lt; b &amp; c</text>' in xml


def test_every_request_has_a_timeout_and_sessions_are_closed(youtube: RecordedYouTube) -> None:
    source = YouTubeTranscriptSource(http_client_factory=youtube.factory, timeout_seconds=2.5)

    source.fetch(RECORDED_VIDEO_ID, ["en"])
    source.metadata(RECORDED_VIDEO_ID)

    assert [r.timeout for r in youtube.requests] == [2.5, 2.5, 2.5, 5.0]
    assert len(youtube.sessions) == 2
    assert all(session.closed for session in youtube.sessions)


def test_each_fetch_gets_a_fresh_session(
    source: YouTubeTranscriptSource, youtube: RecordedYouTube
) -> None:
    source.fetch(RECORDED_VIDEO_ID, ["en"])
    source.fetch(RECORDED_VIDEO_ID, ["de"])

    assert len(youtube.sessions) == 2
    assert youtube.sessions[0] is not youtube.sessions[1]


def test_consent_page_is_answered_by_the_library(
    youtube: RecordedYouTube, source: YouTubeTranscriptSource
) -> None:
    youtube.add_video(OTHER_ID, "consent")

    assert source.fetch(OTHER_ID, ["en"]).language == "en"
    watch_requests = youtube.requests_of(kind="watch")
    assert len(watch_requests) == 2
    assert "CONSENT=YES+" in watch_requests[1].headers["Cookie"]


def test_one_source_is_safe_to_share_between_threads() -> None:
    youtube = RecordedYouTube(latency_seconds=0.01)
    video_ids = [f"video{n:06d}" for n in range(8)]
    for n, video_id in enumerate(video_ids):
        youtube.add_video(video_id, captions=[(f"video number {n}", 0.0, 1.0)])
    source = YouTubeTranscriptSource(http_client_factory=youtube.factory)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda v: source.fetch(v, ["en"]), video_ids))

    assert [r.captions[0].text for r in results] == [f"video number {n}" for n in range(8)]
    assert len(youtube.requests) == 3 * len(video_ids)
    assert len(youtube.sessions) == len(video_ids)


def test_source_satisfies_the_protocol(source: YouTubeTranscriptSource) -> None:
    typed: TranscriptSource = source
    assert isinstance(typed.metadata(RECORDED_VIDEO_ID), VideoMetadata)


# -- failures --------------------------------------------------------------------------------


def test_no_transcript_lists_the_available_languages(
    source: YouTubeTranscriptSource, youtube: RecordedYouTube
) -> None:
    error = fetch_error(source, RECORDED_VIDEO_ID, "fr", "pt")

    assert error.code == "no_transcript"
    assert error.message == (
        "no transcript in fr, pt; available: zh (manual), cs (manual), en (manual), "
        "de (manual), hi (manual), ja (manual), ko (manual), es (manual), en (auto-generated)"
    )
    assert youtube.requests_of(kind="timedtext") == []


def test_no_transcript_when_the_video_has_no_tracks(
    youtube: RecordedYouTube, source: YouTubeTranscriptSource
) -> None:
    youtube.add_video(OTHER_ID, tracks=[])

    error = fetch_error(source, OTHER_ID, "en")

    assert (error.code, error.message) == ("no_transcript", "no transcript in en; available: none")


@pytest.mark.parametrize(
    ("scenario", "code", "fragments"),
    [
        ("transcripts_disabled", "transcripts_disabled", ["disabled"]),
        ("unavailable", "video_unavailable", ["unavailable"]),
        ("age_restricted", "age_restricted", ["age-restricted", "`transcripts`"]),
        ("unplayable", "video_unavailable", ["Custom Reason", "Sub Reason 1", "Sub Reason 2"]),
        ("blocked", "youtube_blocked", ["cloud", "YOUTUBE_PROXY_HTTP_URL", "`transcripts`"]),
        ("too_many_requests", "youtube_blocked", ["WEBSHARE_PROXY_USERNAME"]),
        ("captcha", "youtube_blocked", ["YOUTUBE_PROXY_HTTPS_URL", "WEBSHARE_PROXY_PASSWORD"]),
        ("consent_failed", "youtube_error", ["consent"]),
        ("unparsable", "youtube_error", ["could not parse"]),
        ("http_error", "youtube_error", ["HTTP 500"]),
        ("network_error", "youtube_error", ["could not reach YouTube: connection failed"]),
        ("timeout", "youtube_error", ["could not reach YouTube: timed out"]),
    ],
)
def test_failures_map_to_error_codes(
    youtube: RecordedYouTube,
    source: YouTubeTranscriptSource,
    scenario: Scenario,
    code: str,
    fragments: list[str],
) -> None:
    youtube.add_video(OTHER_ID, scenario)

    error = fetch_error(source, OTHER_ID, "en")

    assert error.code == code
    for fragment in fragments:
        assert fragment in error.message
    assert "<" not in error.message
    assert youtube.requests_of(kind="timedtext") == []
    assert youtube.unexpected == []


def test_empty_timedtext_response_is_a_youtube_error(
    youtube: RecordedYouTube, source: YouTubeTranscriptSource
) -> None:
    youtube.add_video(OTHER_ID, "empty_timedtext")

    error = fetch_error(source, OTHER_ID, "en")

    assert error.code == "youtube_error"
    assert "`transcripts`" in error.message
    assert [r.kind for r in youtube.requests] == ["watch", "player", "timedtext"]


def test_po_token_required_is_a_youtube_error_without_fetching_the_track(
    youtube: RecordedYouTube, source: YouTubeTranscriptSource
) -> None:
    youtube.add_video(OTHER_ID, "po_token_required")

    error = fetch_error(source, OTHER_ID, "en")

    assert error.code == "youtube_error"
    assert "PO token" in error.message
    assert "`transcripts`" in error.message
    assert youtube.requests_of(kind="timedtext") == []
    # In that recording only the manual English track needs a PO token.
    assert source.fetch(OTHER_ID, ["de"]).language == "de"


@pytest.mark.parametrize(
    "video_id",
    [
        "",
        "short",
        "GJLlxj_dtq8x",
        "GJLlxj_dtq",
        "GJLlxj/dtq8",
        "GJLlxj_dtq\n",
        "GJLlxj dtq8",
        "https://www.youtube.com/watch?v=GJLlxj_dtq8",
    ],
)
def test_malformed_video_id_makes_no_request(
    youtube: RecordedYouTube, source: YouTubeTranscriptSource, video_id: str
) -> None:
    assert not is_valid_video_id(video_id)

    error = fetch_error(source, video_id, "en")

    assert error.code == "video_unavailable"
    assert youtube.requests == []
    assert youtube.sessions == []
    assert source.metadata(video_id) == VideoMetadata(None, None)
    assert youtube.requests == []


def test_unknown_urls_and_unconfigured_videos_are_refused(
    youtube: RecordedYouTube, source: YouTubeTranscriptSource
) -> None:
    with pytest.raises(UnexpectedRequestError):
        youtube.factory().get("https://example.com/", timeout=1)
    with pytest.raises(UnexpectedRequestError):
        source.fetch("unknown0000", ["en"])

    assert youtube.unexpected == [
        "GET https://example.com/",
        "GET https://www.youtube.com/watch?v=unknown0000",
    ]


def test_default_scenario_serves_unconfigured_videos() -> None:
    youtube = RecordedYouTube(default_scenario="ok")
    source = YouTubeTranscriptSource(http_client_factory=youtube.factory)

    assert source.fetch("anything123", ["en"]).video_id == "anything123"


def test_slow_youtube_times_out() -> None:
    youtube = RecordedYouTube(latency_seconds=0.2).add_video(RECORDED_VIDEO_ID)
    source = YouTubeTranscriptSource(http_client_factory=youtube.factory, timeout_seconds=0.02)

    error = fetch_error(source, RECORDED_VIDEO_ID, "en")

    assert (error.code, error.message) == ("youtube_error", "could not reach YouTube: timed out")


def test_errors_the_recordings_cannot_produce_are_mapped_too(
    source: YouTubeTranscriptSource,
) -> None:
    http_error = requests.HTTPError("503 Server Error: Service Unavailable for url: https://x")
    failed = source._map_library_error(YouTubeRequestFailed(OTHER_ID, http_error))
    not_translatable = source._map_library_error(NotTranslatable(OTHER_ID))
    retries_exhausted = source._map_request_error(requests.exceptions.RetryError("429"))
    bad_json = source._map_request_error(requests.exceptions.JSONDecodeError("x", "doc", 0))

    assert (failed.code, failed.message) == (
        "youtube_error",
        "a request to YouTube failed (HTTP 503); try again later",
    )
    assert not_translatable.code == "youtube_error"
    assert retries_exhausted.code == "youtube_blocked"
    assert bad_json.code == "youtube_error"


# -- proxies ---------------------------------------------------------------------------------


def test_no_proxy_by_default(source: YouTubeTranscriptSource, youtube: RecordedYouTube) -> None:
    source.fetch(RECORDED_VIDEO_ID, ["en"])

    assert build_proxy_config(None) is None
    assert build_proxy_config(ProxySettings()) is None
    assert youtube.sessions[0].proxies == {}
    assert all(r.proxies == {} for r in youtube.requests)


def test_generic_proxy_is_used_for_transcripts_and_metadata(youtube: RecordedYouTube) -> None:
    settings = ProxySettings(
        http_url=PROXY_URL,
        https_url="http://other.example:8080",
        webshare_username="ws-user",
        webshare_password="ws-pass",
    )
    source = YouTubeTranscriptSource(settings, http_client_factory=youtube.factory)

    source.fetch(RECORDED_VIDEO_ID, ["en"])
    source.metadata(RECORDED_VIDEO_ID)

    config = build_proxy_config(settings)
    assert isinstance(config, GenericProxyConfig)
    assert not isinstance(config, WebshareProxyConfig)
    expected = {"http": PROXY_URL, "https": "http://other.example:8080"}
    assert all(session.proxies == expected for session in youtube.sessions)
    assert [r.proxies for r in youtube.requests] == [expected] * 4
    assert youtube.requests[-1].kind == "oembed"


def test_single_generic_proxy_url_serves_both_schemes(youtube: RecordedYouTube) -> None:
    source = YouTubeTranscriptSource(
        ProxySettings(https_url=PROXY_URL), http_client_factory=youtube.factory
    )

    source.fetch(RECORDED_VIDEO_ID, ["en"])

    assert youtube.sessions[0].proxies == {"http": PROXY_URL, "https": PROXY_URL}


def test_webshare_proxy_when_both_credentials_are_set(youtube: RecordedYouTube) -> None:
    settings = ProxySettings(webshare_username="ws-user", webshare_password="ws-pass")
    source = YouTubeTranscriptSource(settings, http_client_factory=youtube.factory)

    source.fetch(RECORDED_VIDEO_ID, ["en"])

    assert isinstance(build_proxy_config(settings), WebshareProxyConfig)
    session = youtube.sessions[0]
    webshare_url = "http://ws-user-rotate:ws-pass@p.webshare.io:80/"
    assert session.proxies == {"http": webshare_url, "https": webshare_url}
    assert session.headers["Connection"] == "close"
    adapter = session.adapters["https://"]
    assert isinstance(adapter, HTTPAdapter)
    assert adapter.max_retries.total == 10


@pytest.mark.parametrize(
    "settings",
    [
        ProxySettings(webshare_username="ws-user"),
        ProxySettings(webshare_password="ws-pass"),
        ProxySettings(http_url="", https_url=""),
    ],
)
def test_incomplete_proxy_settings_mean_no_proxy(settings: ProxySettings) -> None:
    assert settings.kind == "none"
    assert build_proxy_config(settings) is None


def test_blocked_despite_webshare_retries_and_never_leaks_credentials(
    youtube: RecordedYouTube, caplog: pytest.LogCaptureFixture
) -> None:
    youtube.add_video(OTHER_ID, "blocked")
    settings = ProxySettings(webshare_username="ws-user", webshare_password="ws-pass")
    source = YouTubeTranscriptSource(settings, http_client_factory=youtube.factory)

    with caplog.at_level(logging.DEBUG):
        error = fetch_error(source, OTHER_ID, "en")

    assert error.code == "youtube_blocked"
    assert "even though a proxy is configured" in error.message
    assert len(youtube.requests_of(kind="player")) == 10  # WebshareProxyConfig's default
    for text in (error.message, str(error), caplog.text):
        assert "ws-pass" not in text


def test_network_error_through_a_proxy_does_not_leak_it(
    youtube: RecordedYouTube, caplog: pytest.LogCaptureFixture
) -> None:
    youtube.add_video(OTHER_ID, "network_error")
    source = YouTubeTranscriptSource(
        ProxySettings(http_url=PROXY_URL), http_client_factory=youtube.factory
    )

    with caplog.at_level(logging.DEBUG):
        error = fetch_error(source, OTHER_ID, "en")

    assert error.code == "youtube_error"
    assert error.__cause__ is None
    assert error.__suppress_context__
    for text in (error.message, str(error), caplog.text):
        assert "s3cret" not in text
        assert "proxy.example" not in text


def test_proxy_settings_repr_hides_credentials() -> None:
    settings = ProxySettings(PROXY_URL, None, "ws-user", "ws-pass")
    assert settings.kind == "generic"
    assert "s3cret" not in repr(settings)
    assert "ws-pass" not in repr(settings)
    assert "proxy.example" in repr(settings)


# -- metadata --------------------------------------------------------------------------------


def test_metadata_from_oembed(source: YouTubeTranscriptSource, youtube: RecordedYouTube) -> None:
    youtube.add_video(OTHER_ID, title="A title", channel="A channel")

    assert source.metadata(RECORDED_VIDEO_ID) == VideoMetadata(RECORDED_TITLE, RECORDED_CHANNEL)
    assert source.metadata(OTHER_ID) == VideoMetadata("A title", "A channel")
    request = youtube.requests[0]
    assert (request.method, request.kind, request.video_id) == ("GET", "oembed", RECORDED_VIDEO_ID)
    assert request.url == (
        "https://www.youtube.com/oembed?url=https%3A%2F%2Fwww.youtube.com%2Fwatch%3Fv%3D"
        f"{RECORDED_VIDEO_ID}&format=json"
    )
    assert request.timeout == 5.0


@pytest.mark.parametrize(
    "oembed",
    [
        "not_found",
        "unauthorized",
        "server_error",
        "garbage",
        "missing_fields",
        "network_error",
        "timeout",
    ],
)
def test_metadata_failures_return_nothing(
    youtube: RecordedYouTube,
    source: YouTubeTranscriptSource,
    oembed: OembedScenario,
    caplog: pytest.LogCaptureFixture,
) -> None:
    youtube.add_video(OTHER_ID, oembed=oembed)

    with caplog.at_level(logging.INFO):
        assert source.metadata(OTHER_ID) == VideoMetadata(None, None)
    assert caplog.records


def test_metadata_of_an_unknown_video_returns_nothing(
    source: YouTubeTranscriptSource, youtube: RecordedYouTube
) -> None:
    assert source.metadata("unknown0000") == VideoMetadata(None, None)
    assert youtube.requests[0].kind == "oembed"


def test_metadata_swallows_even_unexpected_errors() -> None:
    def broken_factory() -> requests.Session:
        raise RuntimeError("no client")

    source = YouTubeTranscriptSource(http_client_factory=broken_factory)

    assert source.metadata(RECORDED_VIDEO_ID) == VideoMetadata(None, None)
