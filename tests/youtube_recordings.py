"""A fake YouTube for tests, serving the responses recorded in youtube-transcript-api's wheel.

`RecordedYouTube` knows exactly the URLs youtube-transcript-api 1.2.x requests (watch page GET,
innertube player POST, timedtext GET) plus the oEmbed endpoint, answers them per video id and
scenario, logs every request, and raises `UnexpectedRequestError` for anything else, so a test
can never reach the network. Use `factory` as the `http_client_factory` of the source:

    youtube = RecordedYouTube()
    youtube.add_video(RECORDED_VIDEO_ID)                      # the real recording, 9 tracks
    youtube.add_video("intro000001", captions=[("Hello & welcome", 0.0, 2.5)], title="Intro")
    youtube.add_video("blocked0001", "blocked")
    source = YouTubeTranscriptSource(http_client_factory=youtube.factory)
    ...
    assert [r.kind for r in youtube.requests_of(video_id="intro000001")] == [
        "watch", "player", "timedtext"]
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from http import HTTPStatus
from importlib.resources import files
from typing import Any, Literal, get_args
from urllib.parse import parse_qs, urlencode, urlsplit
from xml.sax.saxutils import escape, quoteattr

import requests
from requests.adapters import BaseAdapter
from requests.models import PreparedRequest, Response
from requests.structures import CaseInsensitiveDict

ASSETS_PACKAGE = "youtube_transcript_api.test.assets"

# The video the main recordings are of, and what they contain.
RECORDED_VIDEO_ID = "GJLlxj_dtq8"
RECORDED_TITLE = "Surface Go Review - It’s Awesome"
RECORDED_CHANNEL = "Dave2D"
RECORDED_API_KEY = "AIzaSyAO_FJ2SlqU8Q4STEHLGCilw_Y9_11qcW8"  # INNERTUBE_API_KEY in the page
# Captions of transcript.xml.static, as the library returns them (tags stripped, empty dropped).
RECORDED_CAPTIONS: tuple[tuple[str, float, float], ...] = (
    ("Hey, this is just a test", 0.0, 1.54),
    ("this is not the original transcript", 1.54, 4.16),
    ("just something shorter, I made up for testing", 5.7, 3.239),
)

Scenario = Literal[
    "ok",  # watch page, player JSON with caption tracks, timedtext XML
    "transcripts_disabled",  # player JSON without captions -> TranscriptsDisabled
    "unavailable",  # playability ERROR "This video is unavailable" -> VideoUnavailable
    "blocked",  # playability LOGIN_REQUIRED "not a bot" -> RequestBlocked
    "too_many_requests",  # watch page HTTP 429 (captcha page) -> IpBlocked
    "captcha",  # watch page HTTP 200 but a captcha page -> IpBlocked
    "age_restricted",  # playability LOGIN_REQUIRED age gate -> AgeRestricted
    "po_token_required",  # 9 tracks, but `en` (manual) demands a PO token -> PoTokenRequired
    "unplayable",  # playability CUSTOM with reason and sub-reasons -> VideoUnplayable
    "consent",  # cookie-consent page first, the real page once the CONSENT cookie is sent
    "consent_failed",  # consent page the library cannot answer -> FailedToCreateConsentCookie
    "unparsable",  # watch page without an innertube API key -> YouTubeDataUnparsable
    "http_error",  # watch page HTTP 500 -> YouTubeRequestFailed
    "empty_timedtext",  # tracks listed, but timedtext answers 200 with an empty body (as YouTube
    # does when it silently wants a PO token) -> the library's XML parser raises ParseError
    "network_error",  # the first request raises requests.ConnectionError
    "timeout",  # the first request raises requests.ReadTimeout
]
SCENARIOS: tuple[str, ...] = get_args(Scenario)

OembedScenario = Literal[
    "ok",  # 200 with title and author_name
    "not_found",  # 404 (what YouTube answers for unknown ids)
    "unauthorized",  # 401 (private / embedding disabled)
    "server_error",  # 500
    "garbage",  # 200 with an HTML body
    "missing_fields",  # 200 JSON without title and author_name
    "network_error",  # requests.ConnectionError
    "timeout",  # requests.ReadTimeout
]

RequestKind = Literal["watch", "player", "timedtext", "oembed", "unexpected"]
CaptionTuple = tuple[str, float, float]

_BLOCKING_SCENARIOS = {"network_error": requests.ConnectionError, "timeout": requests.ReadTimeout}
_PLAYER_ASSETS: dict[str, tuple[str, str | None]] = {
    # scenario -> (asset, the video id in the asset to rewrite to the requested one)
    "ok": ("youtube.innertube.json.static", RECORDED_VIDEO_ID),
    "empty_timedtext": ("youtube.innertube.json.static", RECORDED_VIDEO_ID),
    "consent": ("youtube.innertube.json.static", RECORDED_VIDEO_ID),
    "transcripts_disabled": ("youtube_transcripts_disabled.innertube.json.static", "dsMFmonKDD4"),
    "unavailable": ("youtube_video_unavailable.innertube.json.static", None),
    "blocked": ("youtube_request_blocked.innertube.json.static", None),
    "age_restricted": ("youtube_age_restricted.innertube.json.static", "Njp5uhTorCo"),
    "po_token_required": ("youtube_po_token_required.innertube.json.static", RECORDED_VIDEO_ID),
    "unplayable": ("youtube_unplayable.innertube.json.static", None),
}
_UNPARSABLE_PAGE = "<!DOCTYPE html><html><head><title>YouTube</title></head><body></body></html>"


class UnexpectedRequestError(AssertionError):
    """A request the fake YouTube does not serve (it would have gone to the network)."""


@dataclass(frozen=True)
class Track:
    """A caption track to offer instead of the recorded nine."""

    language_code: str
    name: str
    is_generated: bool = False

    @property
    def key(self) -> str:
        """`en` for a manual track, `a.en` for an auto-generated one (YouTube's vssId style)."""
        return f"a.{self.language_code}" if self.is_generated else self.language_code


# The caption tracks of RECORDED_VIDEO_ID in youtube.innertube.json.static, in order.
RECORDED_TRACKS: tuple[Track, ...] = (
    Track("zh", "Chinese"),
    Track("cs", "Czech"),
    Track("en", "English"),
    Track("en", "English (auto-generated)", is_generated=True),
    Track("de", "German"),
    Track("hi", "Hindi"),
    Track("ja", "Japanese"),
    Track("ko", "Korean"),
    Track("es", "Spanish"),
)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake YouTube received."""

    method: str
    url: str
    kind: RequestKind
    video_id: str | None
    timeout: Any
    proxies: dict[str, str]
    headers: dict[str, str]


@dataclass
class _Video:
    scenario: Scenario
    tracks: tuple[Track, ...] | None
    captions: tuple[CaptionTuple, ...] | None
    captions_by_track: dict[str, tuple[CaptionTuple, ...]]
    title: str
    channel: str
    oembed: OembedScenario


def timedtext_xml(captions: Iterable[CaptionTuple]) -> str:
    """A timedtext document (the format YouTube serves) with `captions` (text, start, duration).

    Text is XML-escaped once; the library unescapes it and strips tags, as it does for YouTube.
    """
    lines = ['<?xml version="1.0" encoding="utf-8" ?>', "<transcript>"]
    for text, start, duration in captions:
        lines.append(
            f"    <text start={quoteattr(_number(start))} dur={quoteattr(_number(duration))}>"
            f"{escape(text)}</text>"
        )
    lines.append("</transcript>")
    return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    return format(float(value), "g") if float(value).is_integer() else repr(float(value))


@cache
def read_asset(name: str) -> str:
    """The text of one recording shipped in youtube-transcript-api's wheel."""
    return (files(ASSETS_PACKAGE) / name).read_text(encoding="utf-8")


class RecordedSession(requests.Session):
    """A requests.Session whose every request is answered by a `RecordedYouTube`.

    Adapters that the library mounts (Webshare mounts retrying HTTPAdapters) stay visible in
    `adapters` for inspection but are never used.
    """

    def __init__(self, youtube: RecordedYouTube) -> None:
        super().__init__()
        self.trust_env = False  # ignore *_PROXY / netrc of the machine running the tests
        self.closed = False
        self._recorded_adapter = _RecordedAdapter(youtube)
        self.mount("https://", self._recorded_adapter)
        self.mount("http://", self._recorded_adapter)

    def get_adapter(self, url: str) -> BaseAdapter:
        """Always the recorded adapter, whatever has been mounted since."""
        return self._recorded_adapter

    def close(self) -> None:
        """Close, and remember having been closed."""
        self.closed = True
        super().close()


class _RecordedAdapter(BaseAdapter):
    def __init__(self, youtube: RecordedYouTube) -> None:
        super().__init__()
        self._youtube = youtube

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> Response:
        return self._youtube._serve(request, timeout, dict(proxies or {}))

    def close(self) -> None:
        pass


class RecordedYouTube:
    """Fake youtube.com for youtube-transcript-api and oEmbed. Thread-safe.

    Videos must be added with `add_video` (or a `default_scenario` given); a transcript
    request for any other id, or any unknown URL, raises `UnexpectedRequestError` (also
    collected in `unexpected`). oEmbed answers 404 for ids that were not added.

    `latency_seconds` delays every response (for concurrency tests); a request whose read
    timeout is shorter than the latency raises requests.ReadTimeout after waiting the timeout.
    """

    def __init__(
        self, *, default_scenario: Scenario | None = None, latency_seconds: float = 0.0
    ) -> None:
        self._lock = threading.Lock()
        self._videos: dict[str, _Video] = {}
        self._requests: list[RecordedRequest] = []
        self._sessions: list[RecordedSession] = []
        self._unexpected: list[str] = []
        self._default_scenario = default_scenario
        self.latency_seconds = latency_seconds

    # -- configuration ---------------------------------------------------------------------

    def add_video(
        self,
        video_id: str,
        scenario: Scenario = "ok",
        *,
        tracks: Sequence[Track] | None = None,
        captions: Sequence[CaptionTuple] | None = None,
        captions_by_track: Mapping[str, Sequence[CaptionTuple]] | None = None,
        title: str | None = None,
        channel: str | None = None,
        oembed: OembedScenario = "ok",
    ) -> RecordedYouTube:
        """Serve `video_id` with `scenario`. Returns self, so calls can be chained.

        tracks: caption tracks to offer instead of the recorded nine ("ok", "consent" and
            "empty_timedtext" only).
        captions: what every track of the video says (default: transcript.xml.static).
        captions_by_track: per track, keyed `Track.key` ("en" manual, "a.en" generated);
            wins over `captions`.
        title / channel: what oEmbed answers (default: the recording's for RECORDED_VIDEO_ID,
            otherwise "Recorded video <id>" / "Recorded Channel").
        """
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; one of {SCENARIOS}")
        is_recorded = video_id == RECORDED_VIDEO_ID
        video = _Video(
            scenario=scenario,
            tracks=tuple(tracks) if tracks is not None else None,
            captions=tuple(captions) if captions is not None else None,
            captions_by_track={k: tuple(v) for k, v in (captions_by_track or {}).items()},
            title=title or (RECORDED_TITLE if is_recorded else f"Recorded video {video_id}"),
            channel=channel or (RECORDED_CHANNEL if is_recorded else "Recorded Channel"),
            oembed=oembed,
        )
        with self._lock:
            self._videos[video_id] = video
        return self

    def factory(self) -> RecordedSession:
        """A new session served by this fake; pass the method as `http_client_factory`."""
        session = RecordedSession(self)
        with self._lock:
            self._sessions.append(session)
        return session

    # -- inspection ------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def sessions(self) -> list[RecordedSession]:
        """Every session `factory` has made, in order (a copy)."""
        with self._lock:
            return list(self._sessions)

    @property
    def unexpected(self) -> list[str]:
        """'METHOD URL' of every request that was refused (a copy)."""
        with self._lock:
            return list(self._unexpected)

    def requests_of(
        self, *, kind: RequestKind | None = None, video_id: str | None = None
    ) -> list[RecordedRequest]:
        """The requests of one kind and/or for one video."""
        return [
            r
            for r in self.requests
            if (kind is None or r.kind == kind) and (video_id is None or r.video_id == video_id)
        ]

    def clear(self) -> None:
        """Forget the requests, sessions and refusals logged so far (videos stay)."""
        with self._lock:
            self._requests.clear()
            self._sessions.clear()
            self._unexpected.clear()

    # -- serving ---------------------------------------------------------------------------

    def _serve(self, request: PreparedRequest, timeout: Any, proxies: dict[str, str]) -> Response:
        method = (request.method or "").upper()
        url = request.url or ""
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        kind: RequestKind = "unexpected"
        video_id: str | None = None
        if parts.scheme == "https" and parts.netloc == "www.youtube.com":
            if method == "GET" and parts.path == "/watch":
                kind, video_id = "watch", _first(query, "v")
            elif method == "POST" and parts.path == "/youtubei/v1/player":
                kind, video_id = "player", _player_video_id(request)
            elif method == "GET" and parts.path == "/api/timedtext":
                kind, video_id = "timedtext", _first(query, "v")
            elif method == "GET" and parts.path == "/oembed":
                kind, video_id = "oembed", _oembed_video_id(_first(query, "url"))
        headers = {k: v if isinstance(v, str) else v.decode() for k, v in request.headers.items()}
        with self._lock:
            self._requests.append(
                RecordedRequest(method, url, kind, video_id, timeout, proxies, headers)
            )
            video = self._videos.get(video_id) if video_id is not None else None
        if video is None and kind in ("watch", "player", "timedtext"):
            if self._default_scenario is None or video_id is None:
                kind = "unexpected"
            else:
                video = _Video(
                    scenario=self._default_scenario,
                    tracks=None,
                    captions=None,
                    captions_by_track={},
                    title=f"Recorded video {video_id}",
                    channel="Recorded Channel",
                    oembed="not_found",
                )
        if kind == "unexpected":
            return self._refuse(method, url)

        self._wait(timeout, request)
        if kind == "oembed":
            return self._serve_oembed(request, query, video_id, video)
        assert video is not None
        assert video_id is not None
        if kind == "watch":
            return self._serve_watch(request, video_id, video)
        if kind == "player":
            if _first(query, "key") != RECORDED_API_KEY:
                return self._refuse(method, url)
            return self._serve_player(request, video_id, video)
        return self._serve_timedtext(request, query, video)

    def _refuse(self, method: str, url: str) -> Response:
        with self._lock:
            self._unexpected.append(f"{method} {url}")
        raise UnexpectedRequestError(f"the fake YouTube does not serve {method} {url}")

    def _wait(self, timeout: Any, request: PreparedRequest) -> None:
        if self.latency_seconds <= 0:
            return
        read_timeout = timeout[1] if isinstance(timeout, tuple) else timeout
        if read_timeout is not None and read_timeout < self.latency_seconds:
            time.sleep(read_timeout)
            raise requests.ReadTimeout("read timed out (recorded latency)", request=request)
        time.sleep(self.latency_seconds)

    def _serve_watch(self, request: PreparedRequest, video_id: str, video: _Video) -> Response:
        scenario = video.scenario
        if scenario in _BLOCKING_SCENARIOS:
            error = _BLOCKING_SCENARIOS[scenario]
            raise error(f"recorded {scenario}", request=request)
        if scenario == "too_many_requests":
            return _response(request, 429, read_asset("youtube_too_many_requests.html.static"))
        if scenario == "captcha":
            return _response(request, 200, read_asset("youtube_too_many_requests.html.static"))
        if scenario == "unparsable":
            return _response(request, 200, _UNPARSABLE_PAGE)
        if scenario == "http_error":
            return _response(request, 500, "<html><body>Internal Server Error</body></html>")
        if scenario == "consent_failed":
            return _response(request, 200, read_asset("youtube_consent_page_invalid.html.static"))
        if scenario == "consent" and "CONSENT=YES+" not in request.headers.get("Cookie", ""):
            return _response(request, 200, read_asset("youtube_consent_page.html.static"))
        page = read_asset("youtube.html.static").replace(RECORDED_VIDEO_ID, video_id)
        return _response(request, 200, page)

    def _serve_player(self, request: PreparedRequest, video_id: str, video: _Video) -> Response:
        asset, recorded_id = _PLAYER_ASSETS[video.scenario]
        body = read_asset(asset)
        if recorded_id is not None:
            body = body.replace(recorded_id, video_id)
        if video.tracks is not None and video.scenario in ("ok", "consent", "empty_timedtext"):
            data = json.loads(body)
            renderer = data["captions"]["playerCaptionsTracklistRenderer"]
            renderer["captionTracks"] = [_caption_track(video_id, t) for t in video.tracks]
            body = json.dumps(data)
        return _response(request, 200, body, "application/json; charset=UTF-8")

    def _serve_timedtext(
        self, request: PreparedRequest, query: dict[str, list[str]], video: _Video
    ) -> Response:
        if video.scenario == "empty_timedtext":
            return _response(request, 200, "", "text/xml; charset=UTF-8")
        language = _first(query, "lang") or ""
        key = f"a.{language}" if _first(query, "kind") == "asr" else language
        captions = video.captions_by_track.get(key, video.captions)
        body = read_asset("transcript.xml.static") if captions is None else timedtext_xml(captions)
        return _response(request, 200, body, "text/xml; charset=UTF-8")

    def _serve_oembed(
        self,
        request: PreparedRequest,
        query: dict[str, list[str]],
        video_id: str | None,
        video: _Video | None,
    ) -> Response:
        if video_id is None:
            return _response(request, 400, "Bad Request", "text/html; charset=utf-8")
        if _first(query, "format") not in (None, "json"):
            return _response(request, 501, "Not Implemented", "text/html; charset=utf-8")
        scenario: OembedScenario = "not_found" if video is None else video.oembed
        if scenario in _BLOCKING_SCENARIOS:
            error = _BLOCKING_SCENARIOS[scenario]
            raise error(f"recorded oEmbed {scenario}", request=request)
        if scenario == "not_found":
            return _response(request, 404, "Not Found", "text/html; charset=utf-8")
        if scenario == "unauthorized":
            return _response(request, 401, "Unauthorized", "text/html; charset=utf-8")
        if scenario == "server_error":
            return _response(request, 500, "<html>Oops</html>", "text/html; charset=utf-8")
        if scenario == "garbage":
            return _response(request, 200, "<html><body>not json</body></html>", "text/html")
        assert video is not None
        payload: dict[str, Any] = {
            "type": "video",
            "version": "1.0",
            "provider_name": "YouTube",
            "provider_url": "https://www.youtube.com/",
            "thumbnail_url": f"https://i.ytimg.com/vi/{video_id}/hqdefault.jpg",
            "width": 200,
            "height": 113,
        }
        if scenario == "ok":
            payload["title"] = video.title
            payload["author_name"] = video.channel
            payload["author_url"] = "https://www.youtube.com/@recorded"
        return _response(request, 200, json.dumps(payload), "application/json")


def _first(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _player_video_id(request: PreparedRequest) -> str | None:
    body = request.body
    try:
        data = json.loads(body.decode() if isinstance(body, bytes) else str(body))
    except (ValueError, UnicodeDecodeError):
        return None
    video_id = data.get("videoId") if isinstance(data, dict) else None
    return video_id if isinstance(video_id, str) else None


def _oembed_video_id(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    if parts.netloc not in ("www.youtube.com", "youtube.com") or parts.path != "/watch":
        return None
    return _first(parse_qs(parts.query), "v")


def _caption_track(video_id: str, track: Track) -> dict[str, Any]:
    query = {
        "v": video_id,
        "ei": "recorded",
        "caps": "asr",
        "hl": "en",
        "key": "yt8",
        **({"kind": "asr"} if track.is_generated else {}),
        "lang": track.language_code,
    }
    entry: dict[str, Any] = {
        "baseUrl": f"https://www.youtube.com/api/timedtext?{urlencode(query)}&fmt=srv3",
        "name": {"runs": [{"text": track.name}]},
        "vssId": f"{'a' if track.is_generated else ''}.{track.language_code}",
        "languageCode": track.language_code,
        "isTranslatable": True,
        "trackName": "",
    }
    if track.is_generated:
        entry["kind"] = "asr"
    return entry


def _response(
    request: PreparedRequest,
    status: int,
    body: str,
    content_type: str = "text/html; charset=utf-8",
) -> Response:
    response = Response()
    response.status_code = status
    response.reason = HTTPStatus(status).phrase
    response.headers = CaseInsensitiveDict({"Content-Type": content_type})
    response.raw = io.BytesIO(body.encode("utf-8"))
    response.encoding = "utf-8"
    response.url = request.url or ""
    response.request = request
    return response
