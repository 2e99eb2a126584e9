"""YouTube video references: pull the 11-character video id out of whatever a user pasted, and
build watch links (optionally at a timestamp) for citations.

The parser is an allow-list, not a heuristic: only http(s) URLs (or scheme-less ones) on the
known YouTube hosts, with one of the known path shapes, are accepted. Anything else, including
look-alike hosts, userinfo tricks, ports and other schemes, is rejected with ``None``.
"""

from __future__ import annotations

import math
import re
from typing import Final
from urllib.parse import parse_qsl

__all__ = [
    "MAX_REFERENCE_LENGTH",
    "VIDEO_ID_PATTERN",
    "parse_video_reference",
    "watch_url",
]

YOUTUBE_VIDEO_ID: Final = r"[A-Za-z0-9_-]{11}"
"""A YouTube video id: exactly 11 URL-safe base64 characters."""
VIDEO_ID_PATTERN: Final = re.compile(YOUTUBE_VIDEO_ID)
"""YOUTUBE_VIDEO_ID compiled (use with ``fullmatch``)."""
ANY_VIDEO_ID: Final = r"[A-Za-z0-9_-]{1,64}"
"""A video id the API accepts: YouTube's, or an upload's own (1 to 64 of these characters)."""
ANY_VIDEO_ID_PATTERN: Final = re.compile(ANY_VIDEO_ID)

MAX_REFERENCE_LENGTH: Final = 2048

_MAIN_HOSTS: Final = frozenset(
    {"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"}
)
_NOCOOKIE_HOSTS: Final = frozenset({"youtube-nocookie.com", "www.youtube-nocookie.com"})
_SHORT_HOSTS: Final = frozenset({"youtu.be", "www.youtu.be"})

_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_ID = rf"(?P<id>{YOUTUBE_VIDEO_ID})"
_MAIN_PATH: Final = re.compile(rf"/(?:(?:watch|shorts|embed|live|v|e)/{_ID}|(?P<watch>watch))/?")
_NOCOOKIE_PATH: Final = re.compile(rf"/(?:embed|v)/{_ID}/?")
_SHORT_PATH: Final = re.compile(rf"/{_ID}/?")


def parse_video_reference(raw: str) -> str | None:
    """The video id that `raw` refers to, or None when it is not a YouTube video reference.

    Accepts a bare id and http(s) or scheme-less URLs on youtube.com (www, m, music),
    youtube-nocookie.com and youtu.be: ``/watch?v=ID``, ``/watch/ID``, ``/shorts/ID``,
    ``/embed/ID``, ``/live/ID``, ``/v/ID``, ``/e/ID`` and ``youtu.be/ID``, with any other query
    parameters, a fragment, a trailing slash, surrounding whitespace and any host-name case.
    Rejects other hosts, userinfo, any explicit port, other schemes, non-ASCII or control
    characters, more than one distinct ``v`` value, and input longer than 2048 characters.
    """
    if not isinstance(raw, str) or len(raw) > MAX_REFERENCE_LENGTH:
        return None
    text = raw.strip()
    if not text or not text.isascii() or not text.isprintable() or " " in text:
        return None
    if VIDEO_ID_PATTERN.fullmatch(text):
        return text

    rest = _strip_scheme(text)
    if rest is None or "\\" in rest:
        return None

    authority_end = len(rest)
    for delimiter in "/?#":
        found = rest.find(delimiter)
        if found != -1:
            authority_end = min(authority_end, found)
    host = rest[:authority_end].lower()
    remainder = rest[authority_end:]

    remainder, _, _fragment = remainder.partition("#")
    path, _, query = remainder.partition("?")
    query_ok, query_id = _query_id(query)
    if not query_ok:
        return None

    if host in _MAIN_HOSTS:
        match = _MAIN_PATH.fullmatch(path)
    elif host in _NOCOOKIE_HOSTS:
        match = _NOCOOKIE_PATH.fullmatch(path)
    elif host in _SHORT_HOSTS:
        match = _SHORT_PATH.fullmatch(path)
    else:  # includes hosts with userinfo ("@") or a port (":"), which never match the allow-list
        return None
    if match is None:
        return None

    path_id = match.group("id")
    if path_id is None:  # bare /watch: the id must come from the query
        return query_id
    if query_id is not None and query_id != path_id:
        return None
    return path_id


def _strip_scheme(text: str) -> str | None:
    """`text` without a leading ``http://``, ``https://`` or ``//``; None for any other scheme."""
    if text.startswith("//"):
        return text[2:]
    scheme = _SCHEME.match(text)
    if scheme is None:
        return text
    if scheme.group().lower() in ("http:", "https:") and text[scheme.end() :].startswith("//"):
        return text[scheme.end() + 2 :]
    # Another scheme (javascript:, data:, file:, ...) or "host:port/..." without a scheme.
    return None


def _query_id(query: str) -> tuple[bool, str | None]:
    """Whether `query`'s ``v`` parameters are acceptable (absent, or all the same well-formed
    id), and that id."""
    values = {value for key, value in parse_qsl(query, keep_blank_values=True) if key == "v"}
    if not values:
        return True, None
    if len(values) > 1:
        return False, None
    (value,) = values
    if VIDEO_ID_PATTERN.fullmatch(value) is None:
        return False, None
    return True, value


def video_link(
    video_id: str, link_url: str | None = None, at_seconds: float | None = None
) -> str | None:
    """Where a citation of `video_id` at `at_seconds` links: an upload's own `link_url` with a
    media fragment (``#t=84``), else YouTube's watch page when the id is a YouTube id, else
    nowhere (None)."""
    if link_url:
        base = link_url.split("#", 1)[0]
        if at_seconds is None or not math.isfinite(at_seconds) or at_seconds < 0:
            return base
        return f"{base}#t={math.floor(at_seconds)}"
    if VIDEO_ID_PATTERN.fullmatch(video_id):
        return watch_url(video_id, at_seconds)
    return None


def watch_url(video_id: str, start_seconds: float | None = None) -> str:
    """The canonical watch link for `video_id`, starting at `start_seconds` (floored to whole
    seconds, as ``&t=84s``) when given.

    Raises ValueError for a malformed id or a negative or non-finite start.
    """
    if not VIDEO_ID_PATTERN.fullmatch(video_id):
        raise ValueError("not a YouTube video id")
    url = f"https://www.youtube.com/watch?v={video_id}"
    if start_seconds is None:
        return url
    if not math.isfinite(start_seconds) or start_seconds < 0:
        raise ValueError("start_seconds must be a finite number >= 0")
    return f"{url}&t={math.floor(start_seconds)}s"
