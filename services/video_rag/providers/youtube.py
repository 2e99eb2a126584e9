"""YouTube adapter: transcripts through youtube-transcript-api, titles through oEmbed.

Everything that can go wrong while talking to YouTube ends up as a `TranscriptFetchError` with a
stable `code` and a `message` that is safe to show to an API client (no proxy URLs, credentials
or raw HTML). Only the 11-character video id ever reaches YouTube.

youtube-transcript-api is not thread-safe, so `YouTubeTranscriptSource` builds a fresh
`YouTubeTranscriptApi` and a fresh `requests.Session` for every call; one source object can be
shared by all threads.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from xml.etree.ElementTree import ParseError

import requests
from requests.models import PreparedRequest
from youtube_transcript_api import (
    AgeRestricted,
    CouldNotRetrieveTranscript,
    FailedToCreateConsentCookie,
    InvalidVideoId,
    NoTranscriptFound,
    PoTokenRequired,
    RequestBlocked,
    Transcript,
    TranscriptList,
    TranscriptsDisabled,
    VideoUnavailable,
    VideoUnplayable,
    YouTubeDataUnparsable,
    YouTubeRequestFailed,
    YouTubeTranscriptApi,
    YouTubeTranscriptApiException,
)
from youtube_transcript_api.proxies import GenericProxyConfig, ProxyConfig, WebshareProxyConfig

from services.video_rag.domain.captions import Caption
from services.video_rag.domain.youtube_urls import VIDEO_ID_PATTERN

logger = logging.getLogger(__name__)

TranscriptErrorCode = Literal[
    "video_unavailable",
    "transcripts_disabled",
    "no_transcript",
    "age_restricted",
    "youtube_blocked",
    "youtube_error",
]

WATCH_URL = "https://www.youtube.com/watch"
OEMBED_URL = "https://www.youtube.com/oembed"

_URL_USERINFO = re.compile(r"(?<=//)[^/@\s]+@")
_TAG = re.compile(r"<[^>]*>")
_WHITESPACE = re.compile(r"\s+")
_HTTP_STATUS = re.compile(r"^\s*(\d{3})\b")

_PROXY_ENV_HINT = (
    "set YOUTUBE_PROXY_HTTP_URL/YOUTUBE_PROXY_HTTPS_URL or "
    "WEBSHARE_PROXY_USERNAME/WEBSHARE_PROXY_PASSWORD"
)
_UPLOAD_HINT = "upload the transcript in the request's `transcripts` list"

# What a changed YouTube response can make the library's parsing code raise besides its own errors.
_PARSE_ERRORS: tuple[type[Exception], ...] = (
    KeyError,
    IndexError,
    TypeError,
    ValueError,
    AttributeError,
    ParseError,
)


def is_valid_video_id(video_id: str) -> bool:
    """Whether `video_id` looks like a YouTube video id (11 of `A-Z a-z 0-9 _ -`)."""
    return isinstance(video_id, str) and VIDEO_ID_PATTERN.fullmatch(video_id) is not None


def redact_url_credentials(text: str) -> str:
    """`text` with the user:password part of any URL in it replaced by `***`."""
    return _URL_USERINFO.sub("***@", text)


@dataclass(frozen=True)
class ProxySettings:
    """Proxies for requests to YouTube, which blocks many cloud (e.g. Azure) IP ranges.

    A generic HTTP(S) proxy wins over Webshare when both are configured.
    """

    http_url: str | None = None  # YOUTUBE_PROXY_HTTP_URL
    https_url: str | None = None  # YOUTUBE_PROXY_HTTPS_URL
    webshare_username: str | None = None  # WEBSHARE_PROXY_USERNAME
    webshare_password: str | None = field(default=None, repr=False)  # WEBSHARE_PROXY_PASSWORD

    def __repr__(self) -> str:
        """A repr that never shows credentials (proxy URLs often carry user:password)."""
        return (
            f"ProxySettings(http_url={_redacted_or_none(self.http_url)}, "
            f"https_url={_redacted_or_none(self.https_url)}, "
            f"webshare_username={self.webshare_username!r})"
        )

    @property
    def kind(self) -> Literal["generic", "webshare", "none"]:
        """Which proxy configuration these settings select."""
        if self.http_url or self.https_url:
            return "generic"
        if self.webshare_username and self.webshare_password:
            return "webshare"
        return "none"


def _redacted_or_none(url: str | None) -> str:
    return "None" if url is None else repr(redact_url_credentials(url))


def build_proxy_config(settings: ProxySettings | None) -> ProxyConfig | None:
    """The youtube-transcript-api proxy config that `settings` select, or None for no proxy."""
    if settings is None:
        return None
    kind = settings.kind
    if kind == "generic":
        return GenericProxyConfig(
            http_url=settings.http_url or None, https_url=settings.https_url or None
        )
    if kind == "webshare":
        return WebshareProxyConfig(
            proxy_username=settings.webshare_username or "",
            proxy_password=settings.webshare_password or "",
        )
    return None


@dataclass(frozen=True)
class FetchedTranscript:
    """One transcript track of a video, as fetched (text not cleaned yet)."""

    video_id: str
    language: str  # language code as YouTube names it, e.g. "en"
    language_name: str
    is_generated: bool
    captions: list[Caption]  # raw text as fetched, in order of start time


@dataclass(frozen=True)
class VideoMetadata:
    """What oEmbed tells about a video; None where it could not be found out."""

    title: str | None
    channel: str | None


class TranscriptFetchError(Exception):
    """A transcript could not be fetched. `message` is safe to show to an API client."""

    def __init__(self, code: TranscriptErrorCode, message: str) -> None:
        self.code: TranscriptErrorCode = code
        self.message = message
        super().__init__(f"{code}: {message}")


class TranscriptSource(Protocol):
    """Where transcripts and video metadata come from (YouTube, or a fake in tests)."""

    def fetch(self, video_id: str, languages: Sequence[str]) -> FetchedTranscript:
        """The best transcript of `video_id` by the preference order `languages`.

        Raises `TranscriptFetchError`.
        """
        ...

    def metadata(self, video_id: str) -> VideoMetadata:
        """Title and channel of `video_id`; `VideoMetadata(None, None)` if unknown. Never raises."""
        ...


class YouTubeTranscriptSource:
    """`TranscriptSource` backed by YouTube. Safe to share between threads."""

    def __init__(
        self,
        proxy: ProxySettings | None = None,
        *,
        http_client_factory: Callable[[], requests.Session] | None = None,
        timeout_seconds: float = 10.0,
        metadata_timeout_seconds: float = 5.0,
    ) -> None:
        """`http_client_factory` must return a new session on every call (default
        `requests.Session`). Each HTTP request gets `timeout_seconds` (connect and read, each)
        unless it sets its own; oEmbed requests get `metadata_timeout_seconds`."""
        if timeout_seconds <= 0 or metadata_timeout_seconds <= 0:
            raise ValueError("timeouts must be positive")
        self._proxy = proxy
        self._proxy_config_kind = "none" if proxy is None else proxy.kind
        self._http_client_factory: Callable[[], requests.Session] = (
            http_client_factory or requests.Session
        )
        self._timeout_seconds = timeout_seconds
        self._metadata_timeout_seconds = metadata_timeout_seconds

    def fetch(self, video_id: str, languages: Sequence[str]) -> FetchedTranscript:
        """Fetch the transcript of `video_id` that best matches `languages`.

        `languages` is a preference order of language codes. Within one language a manually
        created transcript beats an auto-generated one; an earlier language beats a later one
        whatever its kind. If no code matches exactly, a regional variant of a requested
        language (`en-GB` for `en`, or `en` for `en-US`) is accepted. An empty `languages`
        accepts any transcript (manual ones first).

        Raises `TranscriptFetchError` for every failure, including network errors.
        """
        if not is_valid_video_id(video_id):
            raise TranscriptFetchError(
                "video_unavailable", "not a valid YouTube video id (expected 11 characters)"
            )
        wanted = _normalize_languages(languages)
        session = self._new_session(self._timeout_seconds)
        try:
            api = YouTubeTranscriptApi(
                proxy_config=build_proxy_config(self._proxy), http_client=session
            )
            transcript = _choose_transcript(api.list(video_id), wanted)
            fetched = transcript.fetch()
            captions = [
                Caption(text=snippet.text, start=snippet.start, duration=snippet.duration)
                for snippet in fetched.snippets
            ]
        except TranscriptFetchError:
            raise
        except YouTubeTranscriptApiException as error:
            mapped = self._map_library_error(error)
            logger.info(
                "transcript fetch failed for %s: %s (%s)",
                video_id,
                mapped.code,
                type(error).__name__,
            )
            raise mapped from error
        except requests.RequestException as error:
            mapped = self._map_request_error(error)
            logger.warning(
                "transcript fetch failed for %s: %s (%s: %s)",
                video_id,
                mapped.code,
                type(error).__name__,
                redact_url_credentials(str(error)),
            )
            # No chaining: requests' messages can name the proxy.
            raise mapped from None
        except _PARSE_ERRORS as error:
            logger.warning(
                "unexpected response from YouTube for %s (%s)",
                video_id,
                type(error).__name__,
                exc_info=True,
            )
            raise TranscriptFetchError(
                "youtube_error",
                "YouTube answered in a format this server does not understand; "
                f"try again later or {_UPLOAD_HINT}",
            ) from error
        finally:
            session.close()

        captions.sort(key=lambda caption: caption.start)  # stable: keeps YouTube's order on ties
        return FetchedTranscript(
            video_id=video_id,
            language=fetched.language_code,
            language_name=fetched.language,
            is_generated=fetched.is_generated,
            captions=captions,
        )

    def metadata(self, video_id: str) -> VideoMetadata:
        """Title and channel from YouTube's oEmbed endpoint; `VideoMetadata(None, None)` on any
        failure (logged, never raised)."""
        unknown = VideoMetadata(title=None, channel=None)
        if not is_valid_video_id(video_id):
            logger.info("no metadata lookup for an invalid video id")
            return unknown
        try:
            session = self._new_session(self._metadata_timeout_seconds)
        except Exception:
            logger.warning("could not create an HTTP client for oEmbed", exc_info=True)
            return unknown
        try:
            proxy_config = build_proxy_config(self._proxy)
            if proxy_config is not None:
                proxies = proxy_config.to_requests_dict()
                session.proxies = {"http": proxies["http"], "https": proxies["https"]}
            response = session.get(
                OEMBED_URL,
                params={"url": f"{WATCH_URL}?v={video_id}", "format": "json"},
                timeout=self._metadata_timeout_seconds,
            )
            if response.status_code != 200:
                logger.info("oEmbed returned HTTP %s for %s", response.status_code, video_id)
                return unknown
            payload: Any = response.json()
        except requests.RequestException as error:
            # requests.JSONDecodeError is a RequestException too.
            logger.warning(
                "oEmbed lookup failed for %s (%s: %s)",
                video_id,
                type(error).__name__,
                redact_url_credentials(str(error)),
            )
            return unknown
        except Exception as error:
            logger.warning("oEmbed lookup failed for %s (%s)", video_id, type(error).__name__)
            return unknown
        finally:
            session.close()

        if not isinstance(payload, dict):
            logger.warning("oEmbed returned no JSON object for %s", video_id)
            return unknown
        metadata = VideoMetadata(
            title=_text_field(payload, "title"), channel=_text_field(payload, "author_name")
        )
        if metadata.title is None or metadata.channel is None:
            logger.info("oEmbed response for %s lacks title or author_name", video_id)
        return metadata

    def _new_session(self, timeout: float) -> requests.Session:
        session = self._http_client_factory()
        _apply_default_timeout(session, timeout)
        return session

    def _map_library_error(self, error: YouTubeTranscriptApiException) -> TranscriptFetchError:
        if isinstance(error, VideoUnplayable):
            return TranscriptFetchError("video_unavailable", _unplayable_message(error))
        if isinstance(error, VideoUnavailable | InvalidVideoId):
            return TranscriptFetchError(
                "video_unavailable", "the video is unavailable (removed, private or never existed)"
            )
        if isinstance(error, TranscriptsDisabled):
            return TranscriptFetchError(
                "transcripts_disabled", "captions/transcripts are disabled for this video"
            )
        if isinstance(error, NoTranscriptFound):
            return TranscriptFetchError(
                "no_transcript", "the video has no transcript in the requested languages"
            )
        if isinstance(error, AgeRestricted):
            return TranscriptFetchError(
                "age_restricted",
                "the video is age-restricted; its transcript cannot be fetched without signing "
                f"in, so {_UPLOAD_HINT}",
            )
        if isinstance(error, RequestBlocked):  # IpBlocked (HTTP 429, captcha) included
            return TranscriptFetchError("youtube_blocked", self._blocked_message())
        if isinstance(error, PoTokenRequired):
            return TranscriptFetchError(
                "youtube_error",
                "YouTube demands a PO token (proof-of-origin) for this video's captions, which "
                f"this server cannot provide; {_UPLOAD_HINT}",
            )
        if isinstance(error, YouTubeRequestFailed):
            match = _HTTP_STATUS.match(error.reason)
            status = f" (HTTP {match.group(1)})" if match else ""
            return TranscriptFetchError(
                "youtube_error", f"a request to YouTube failed{status}; try again later"
            )
        if isinstance(error, YouTubeDataUnparsable):
            return TranscriptFetchError(
                "youtube_error",
                "YouTube returned a page this server could not parse; try again later or "
                f"{_UPLOAD_HINT}",
            )
        if isinstance(error, FailedToCreateConsentCookie):
            return TranscriptFetchError(
                "youtube_error",
                "YouTube asked for cookie consent and the consent could not be given; "
                f"try again later or {_UPLOAD_HINT}",
            )
        if isinstance(error, CouldNotRetrieveTranscript):
            return TranscriptFetchError(
                "youtube_error", f"YouTube did not provide the transcript ({type(error).__name__})"
            )
        return TranscriptFetchError(
            "youtube_error", f"fetching the transcript failed ({type(error).__name__})"
        )

    def _map_request_error(self, error: requests.RequestException) -> TranscriptFetchError:
        if isinstance(error, requests.exceptions.RetryError):
            # With retries configured (Webshare), urllib3 retries HTTP 429 and then gives up
            # with a RetryError instead of the library's IpBlocked.
            return TranscriptFetchError("youtube_blocked", self._blocked_message())
        if isinstance(error, requests.exceptions.JSONDecodeError):
            reason = "YouTube returned data that could not be parsed"
            return TranscriptFetchError("youtube_error", f"{reason}; try again later")
        if isinstance(error, requests.Timeout):
            reason = "timed out"
        elif isinstance(error, requests.exceptions.ProxyError):
            reason = "the proxy could not be reached"
        elif isinstance(error, requests.exceptions.SSLError):
            reason = "TLS error"
        elif isinstance(error, requests.ConnectionError):
            reason = "connection failed"
        elif isinstance(error, requests.exceptions.TooManyRedirects):
            reason = "too many redirects"
        else:
            reason = "request failed"
        return TranscriptFetchError("youtube_error", f"could not reach YouTube: {reason}")

    def _blocked_message(self) -> str:
        if self._proxy_config_kind == "none":
            return (
                "YouTube blocked the request; it blocks many cloud-provider IPs (Azure included). "
                f"To work around it, {_PROXY_ENV_HINT} (a rotating residential proxy works "
                f"best), or {_UPLOAD_HINT}"
            )
        return (
            "YouTube blocked the request even though a proxy is configured; it blocks many "
            f"cloud and datacenter IPs. Use a rotating residential proxy ({_PROXY_ENV_HINT}), "
            f"or {_UPLOAD_HINT}"
        )


def _apply_default_timeout(session: requests.Session, timeout: float) -> None:
    """Make every request of `session` that has no timeout of its own use `timeout`.

    requests waits forever by default, and youtube-transcript-api passes no timeout.
    """
    send = session.send

    def send_with_timeout(request: PreparedRequest, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = timeout
        return send(request, **kwargs)

    session.send = send_with_timeout  # type: ignore[method-assign]


def _normalize_languages(languages: Iterable[str]) -> list[str]:
    wanted: list[str] = []
    for language in languages:
        code = language.strip()
        if code and code not in wanted:
            wanted.append(code)
    return wanted


def _primary_subtag(language_code: str) -> str:
    return language_code.split("-", 1)[0].lower()


def _choose_transcript(transcripts: TranscriptList, wanted: Sequence[str]) -> Transcript:
    # Iteration yields manually created transcripts first, then generated ones.
    available = list(transcripts)
    if not wanted:
        if available:
            return available[0]
        raise TranscriptFetchError("no_transcript", "the video has no transcripts at all")
    try:
        # Exact codes, by preference order; manual before generated within each code.
        return transcripts.find_transcript(wanted)
    except NoTranscriptFound:
        pass
    for code in wanted:
        primary = _primary_subtag(code)
        variants = [t for t in available if _primary_subtag(t.language_code) == primary]
        if variants:
            return min(
                variants,
                key=lambda t: (
                    t.is_generated,
                    t.language_code.lower() != code.lower(),
                    t.language_code.lower() != primary,
                ),
            )
    raise TranscriptFetchError("no_transcript", _no_transcript_message(wanted, available))


def _no_transcript_message(wanted: Sequence[str], available: Sequence[Transcript]) -> str:
    if available:
        listed = ", ".join(
            f"{t.language_code} ({'auto-generated' if t.is_generated else 'manual'})"
            for t in available
        )
    else:
        listed = "none"
    return f"no transcript in {', '.join(wanted)}; available: {listed}"


def _safe_text(text: str, limit: int = 200) -> str:
    cleaned = _WHITESPACE.sub(" ", _TAG.sub(" ", redact_url_credentials(text))).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


def _unplayable_message(error: VideoUnplayable) -> str:
    details = [_safe_text(str(part)) for part in [error.reason, *error.sub_reasons] if part]
    details = [detail for detail in details if detail]
    if not details:
        return "the video cannot be played"
    return f"the video cannot be played: {'; '.join(details)}"


def _text_field(payload: Mapping[str, Any], name: str) -> str | None:
    value = payload.get(name)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None
