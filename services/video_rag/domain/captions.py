"""Captions: the timed text of a video, parsed from an uploaded WebVTT or SRT file or a list of
segments, and cleaned into plain spoken text.

Everything here is pure and dependency-free. Parse failures raise `TranscriptFormatError`, whose
message is specific (it names the line or segment) and safe to show to an API client: any quoted
input is truncated and escaped.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = [
    "MAX_CAPTIONS",
    "MAX_TRANSCRIPT_CHARS",
    "TRANSCRIPT_FORMATS",
    "Caption",
    "TranscriptFormatError",
    "clean_caption_text",
    "parse_transcript",
]

MAX_TRANSCRIPT_CHARS: Final = 1_000_000
"""Largest accepted raw transcript by default (characters of VTT/SRT content, or of segment
text): the default of the MAX_TRANSCRIPT_CHARS setting, which callers pass as `max_chars`."""

MAX_CAPTIONS: Final = 50_000
"""Most cues/segments accepted in one transcript by default: the default of the
MAX_CAPTIONS_PER_UPLOAD setting, which callers pass as `max_captions`."""

MAX_MEDIA_SECONDS: Final = 48 * 3600
"""No caption of an upload starts or lasts past this (a 10-hour lecture fits with room to spare);
larger times are mistakes or attacks (1e308 made the duration infinite)."""

TRANSCRIPT_FORMATS: Final = ("vtt", "srt", "segments", "text")

_QUOTE_LIMIT: Final = 40


@dataclass(frozen=True)
class Caption:
    """One timed piece of a transcript. `start` and `duration` are seconds, finite and >= 0."""

    text: str
    start: float
    duration: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and self.start >= 0):
            raise ValueError(f"caption start must be a finite number >= 0, got {self.start!r}")
        if not (math.isfinite(self.duration) and self.duration >= 0):
            raise ValueError(
                f"caption duration must be a finite number >= 0, got {self.duration!r}"
            )

    @property
    def end(self) -> float:
        """When the caption stops showing, in seconds."""
        return self.start + self.duration


class TranscriptFormatError(ValueError):
    """A transcript that cannot be parsed; the message is safe to show to an API client."""


# ---------------------------------------------------------------------------------------------
# Text cleaning

# Control characters are removed (the whitespace ones become spaces), as are invisible format
# characters that only confuse search and display (zero-width space, direction marks and
# embeddings, word joiner, BOM) and lone surrogates, which cannot be stored as UTF-8.
_WHITESPACE_CONTROLS: Final = "\t\n\x0b\x0c\r\x85"
_DELETED_RANGES: Final = (
    (0x00, 0x1F),
    (0x7F, 0x9F),
    (0xAD, 0xAD),
    (0x200B, 0x200B),
    (0x200E, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x2069),
    (0xD800, 0xDFFF),
    (0xFEFF, 0xFEFF),
)
_CONTROL_TABLE: Final[dict[int, str | None]] = {
    code: None for low, high in _DELETED_RANGES for code in range(low, high + 1)
}
_CONTROL_TABLE.update({ord(char): " " for char in _WHITESPACE_CONTROLS})

_MUSIC_SIGNS: Final = "♪♫♬♩"
# Text without any of these characters only needs its whitespace collapsed.
_NEEDS_CLEANING: Final = re.compile(
    "[&<>\\[\\]()"
    + _MUSIC_SIGNS
    + "".join(
        f"\\u{low:04x}-\\u{high:04x}"
        for low, high in _DELETED_RANGES
        if not (low == 0 and high == 0x1F)
    )
    + "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f]"
)

_LINE_BREAK_TAG: Final = re.compile(r"<\s*br\s*/?\s*>", re.IGNORECASE)
# Markup tags (<i>, </b>, <font color="...">, <c.colorE5E5E5>, <v Speaker>, <ruby>) and WebVTT
# timestamp tags (<00:00:01.000>). A "<" followed by a space or digit ("a < b", "<3") is text.
_TAG: Final = re.compile(
    r"</?[A-Za-z][A-Za-z0-9]*(?:[\s./][^<>]*)?>|<(?:\d{1,6}:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?>"
)
# Square brackets mark non-speech in captions ("[Music]", "[Applause]", YouTube's "[ __ ]");
# a bracket holding digits ("item [2]") is kept.
_BRACKETED_MARKER: Final = re.compile(r"\[[^\[\]0-9]{0,80}\]")
_NON_SPEECH_WORDS: Final = (
    "music|applause|laughter|laughing|laughs|cheering|cheers|clapping|inaudible|silence|"
    "crosstalk|chuckles|chuckling|sighs|coughs|coughing|indistinct|unintelligible|foreign|"
    "no audio|blank audio|background noise"
)
# Parentheses are only a marker when they hold a known sound: "(music)", "(upbeat music)",
# "(audience laughing)"; "(and I mean it)" is speech.
_PARENTHESIZED_MARKER: Final = re.compile(
    rf"\(\s*(?:[A-Za-z'-]+\s+){{0,2}}(?:{_NON_SPEECH_WORDS})(?:\s+[A-Za-z'-]+){{0,2}}\s*\)",
    re.IGNORECASE,
)
_MUSIC_SIGN_RUN: Final = re.compile(f"[{_MUSIC_SIGNS}]+")
# ">>" speaker-change markers of broadcast-style captions.
_SPEAKER_CHANGE: Final = re.compile(r"(?<!\S)>>+(?!\S)")


def clean_caption_text(text: str) -> str:
    """Plain spoken text from one caption's raw text.

    Unescapes HTML entities (twice, for YouTube's double-escaped ``&amp;#39;``), strips markup
    and WebVTT timestamp tags, drops non-speech markers (``[Music]``, ``(applause)``, runs of
    ``♪``, ``>>``), removes control and invisible format characters, and collapses all
    whitespace to single spaces. Returns "" when nothing spoken is left.
    """
    if _NEEDS_CLEANING.search(text) is None:
        return " ".join(text.split())
    text = text.translate(_CONTROL_TABLE)
    for _ in range(2):
        if "&" not in text:
            break
        text = html.unescape(text)
    text = text.translate(_CONTROL_TABLE)
    if "<" in text:
        text = _LINE_BREAK_TAG.sub(" ", text)
        text = _TAG.sub("", text)
    if "[" in text:
        text = _BRACKETED_MARKER.sub(" ", text)
    if "(" in text:
        text = _PARENTHESIZED_MARKER.sub(" ", text)
    text = _MUSIC_SIGN_RUN.sub(" ", text)
    if ">" in text:
        text = _SPEAKER_CHANGE.sub(" ", text)
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------------
# Parsing


def parse_transcript(
    fmt: str,
    content: object,
    max_captions: int = MAX_CAPTIONS,
    max_chars: int = MAX_TRANSCRIPT_CHARS,
) -> list[Caption]:
    """Captions from an uploaded transcript, in document order, with cleaned text.

    `fmt` is ``"vtt"`` or ``"srt"`` (`content` is the file's text), ``"segments"`` (`content`
    is a list of ``{"text": str, "start": number, "duration": number}`` objects; ``duration``
    may be omitted (0) or replaced by ``end``) or ``"text"`` (plain text without timings: one
    caption per paragraph, all at 0 s). Cues whose text cleans to nothing are dropped; a
    transcript with no text at all is an error.

    Raises TranscriptFormatError with a client-safe message naming the offending line or
    segment, or saying that there are more than `max_captions` captions (or paragraphs) or
    more than `max_chars` characters (of content, or of segment text).
    """
    if not isinstance(fmt, str):
        raise TranscriptFormatError("transcript format must be a string")
    normalized = fmt.strip().lower()
    if normalized == "segments":
        return _parse_segments(content, max_captions, max_chars)
    if normalized not in ("vtt", "srt", "text"):
        raise TranscriptFormatError(
            f"unsupported transcript format {_quote(fmt)}; "
            "expected 'vtt', 'srt', 'segments' or 'text'"
        )
    if not isinstance(content, str):
        raise TranscriptFormatError(f"{normalized} content must be a string")
    if len(content) > max_chars:
        raise TranscriptFormatError(
            f"transcript is too large: {len(content)} characters (limit {max_chars})"
        )
    if normalized == "text":
        return _parse_plain_text(content, max_captions)
    lines = content.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    first_cue_line = _skip_vtt_header(lines) if normalized == "vtt" else 0
    cues = _parse_cue_blocks(lines, first_cue_line, vtt=normalized == "vtt", limit=max_captions)
    return _captions_from_cues(cues)


@dataclass
class _RawCue:
    start_ms: int
    end_ms: int
    lines: list[str]


_TIMESTAMP: Final = re.compile(r"(?:([0-9]{1,6}):)?([0-9]{1,2}):([0-9]{1,2})(?:[.,]([0-9]{1,3}))?")
_DIGITS: Final = re.compile(r"[0-9]+")
# "00:00:01,000 -> 00:00:02,000" and similar near misses of a timing line.
_MISSPELLED_TIMING: Final = re.compile(r"\s*[0-9]+:[0-9:.,]*\s*(?:-+|=+|–|—)?>\s*[0-9]+:")
_VTT_SKIPPED_BLOCKS: Final = ("NOTE", "STYLE", "REGION")


def _skip_vtt_header(lines: list[str]) -> int:
    """Index of the first line after the WebVTT header block; raises if there is no header."""
    index = 0
    while index < len(lines) and not lines[index].strip():
        index += 1
    if index == len(lines):
        index = 0
    header = lines[index].rstrip()
    if not (header == "WEBVTT" or header.startswith(("WEBVTT ", "WEBVTT\t"))):
        raise TranscriptFormatError(f"line {index + 1}: expected the 'WEBVTT' header")
    index += 1
    # Header metadata ("Kind: captions", "Language: en") runs to the first blank line; tolerate
    # a first cue that follows without one.
    while index < len(lines) and lines[index].strip() and "-->" not in lines[index]:
        index += 1
    return index


def _blocks(lines: list[str], first: int) -> list[list[tuple[int, str]]]:
    """Runs of non-blank lines, each line with its 1-based line number."""
    blocks: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    for index in range(first, len(lines)):
        line = lines[index]
        if line.strip():
            current.append((index + 1, line))
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _parse_cue_blocks(lines: list[str], first: int, *, vtt: bool, limit: int) -> list[_RawCue]:
    """The cues of a WebVTT or SRT body.

    A block is an optional identifier (the SRT number), a timing line and text lines. Text
    lines after a timing line belong to its cue until the next timing line (a missing blank
    line is tolerated; a number just before a timing line is taken as that cue's identifier).
    A block without a timing line continues the previous cue's text (SRT files with blank lines
    inside a cue), except a lone number right before a block that starts with a timing line.
    """
    cues: list[_RawCue] = []
    blocks = _blocks(lines, first)
    for block_index, block in enumerate(blocks):
        first_line = block[0][1].strip()
        if vtt and first_line.startswith(_VTT_SKIPPED_BLOCKS):
            keyword = first_line.split(maxsplit=1)[0]
            if keyword in _VTT_SKIPPED_BLOCKS:
                continue
        cues_before = len(cues)
        leading: list[str] = []
        target = leading
        for position, (line_number, line) in enumerate(block):
            if "-->" not in line:
                if _MISSPELLED_TIMING.match(line):
                    raise TranscriptFormatError(
                        f"line {line_number}: invalid cue timing line {_quote(line.strip())}; "
                        f"expected '00:00:01.000 --> 00:00:04.000'"
                    )
                target.append(line)
                continue
            if target and (position == 1 or _DIGITS.fullmatch(target[-1].strip())):
                target.pop()  # the cue identifier
            start_ms, end_ms = _parse_timing(line, line_number)
            cue = _RawCue(start_ms, end_ms, [])
            cues.append(cue)
            if len(cues) > limit:
                raise _too_many_captions(limit)
            target = cue.lines
        if not leading:
            continue
        next_block_is_cue = block_index + 1 < len(blocks) and "-->" in blocks[block_index + 1][0][1]
        if len(leading) == 1 and _DIGITS.fullmatch(leading[0].strip()) and next_block_is_cue:
            continue  # a cue number separated from its timing line by a blank line
        if cues_before == 0:
            line_number, line = next(
                ((number, text) for number, text in block if not _DIGITS.fullmatch(text.strip())),
                block[0],
            )
            raise TranscriptFormatError(
                f"line {line_number}: expected a cue timing line like "
                f"'00:00:01.000 --> 00:00:04.000', got {_quote(line.strip())}"
            )
        cues[cues_before - 1].lines.extend(leading)
    return cues


def _parse_timing(line: str, line_number: int) -> tuple[int, int]:
    """Start and end milliseconds of a cue timing line (cue settings after the end are
    ignored)."""
    left, _, right = line.partition("-->")
    start_text = left.strip()
    if not start_text:
        raise TranscriptFormatError(f"line {line_number}: missing start timestamp")
    right_parts = right.split(maxsplit=1)
    if not right_parts:
        raise TranscriptFormatError(f"line {line_number}: missing end timestamp")
    start_ms = _parse_timestamp(start_text, line_number)
    end_ms = _parse_timestamp(right_parts[0], line_number)
    if end_ms < start_ms:
        raise TranscriptFormatError(
            f"line {line_number}: cue ends before it starts "
            f"({_quote(start_text)} --> {_quote(right_parts[0])})"
        )
    return start_ms, end_ms


def _parse_timestamp(text: str, line_number: int) -> int:
    """Milliseconds of ``[hh:]mm:ss[.mmm]`` (``,`` or ``.`` before the fraction)."""
    match = _TIMESTAMP.fullmatch(text)
    if match is not None:
        hours, minutes, seconds, fraction = match.groups("")
        if int(minutes) < 60 and int(seconds) < 60:
            whole_seconds = (int(hours or 0) * 60 + int(minutes)) * 60 + int(seconds)
            return whole_seconds * 1000 + int(fraction.ljust(3, "0"))
    raise TranscriptFormatError(f"line {line_number}: invalid timestamp {_quote(text)}")


def _captions_from_cues(cues: list[_RawCue]) -> list[Caption]:
    if not cues:
        raise TranscriptFormatError("transcript contains no captions")
    captions: list[Caption] = []
    for cue in cues:
        text = clean_caption_text("\n".join(cue.lines))
        if text:
            captions.append(Caption(text, cue.start_ms / 1000, (cue.end_ms - cue.start_ms) / 1000))
    if not captions:
        raise TranscriptFormatError("transcript contains no caption text")
    return captions


def _too_many_captions(limit: int) -> TranscriptFormatError:
    return TranscriptFormatError(
        f"transcript has too many captions (limit {limit}, MAX_CAPTIONS_PER_UPLOAD)"
    )


def _parse_plain_text(content: str, limit: int) -> list[Caption]:
    """Plain text: one untimed caption per paragraph (blank-line separated)."""
    paragraphs = re.split(r"\n\s*\n", content.removeprefix("\ufeff").replace("\r\n", "\n"))
    captions = [
        Caption(text, 0.0, 0.0) for text in (clean_caption_text(p) for p in paragraphs) if text
    ]
    if len(captions) > limit:
        raise _too_many_captions(limit)
    if not captions:
        raise TranscriptFormatError("the transcript has no text")
    return captions


def _parse_segments(content: object, limit: int, max_chars: int) -> list[Caption]:
    if not isinstance(content, Sequence) or isinstance(content, str | bytes | bytearray):
        raise TranscriptFormatError("segments content must be a list of objects")
    if len(content) > limit:
        raise _too_many_captions(limit)
    if not content:
        raise TranscriptFormatError("transcript contains no captions")
    captions: list[Caption] = []
    total_chars = 0
    for index, segment in enumerate(content):
        where = f"segments[{index}]"
        if not isinstance(segment, Mapping):
            raise TranscriptFormatError(f"{where}: expected an object with 'text' and 'start'")
        if "text" not in segment:
            raise TranscriptFormatError(f"{where}: missing 'text'")
        raw_text = segment["text"]
        if not isinstance(raw_text, str):
            raise TranscriptFormatError(f"{where}: 'text' must be a string")
        total_chars += len(raw_text)
        if total_chars > max_chars:
            raise TranscriptFormatError(
                f"transcript is too large: more than {max_chars} characters of text"
            )
        if "start" not in segment:
            raise TranscriptFormatError(f"{where}: missing 'start'")
        start = _seconds(segment["start"], where, "start")
        duration_value = segment.get("duration")
        end_value = segment.get("end")
        duration = 0.0 if duration_value is None else _seconds(duration_value, where, "duration")
        if end_value is not None:
            end = _seconds(end_value, where, "end")
            if end < start:
                raise TranscriptFormatError(f"{where}: 'end' is before 'start'")
            if duration_value is None:
                duration = end - start
            elif abs(start + duration - end) > 0.001:
                raise TranscriptFormatError(f"{where}: 'duration' and 'end' disagree")
        text = clean_caption_text(raw_text)
        if text:
            captions.append(Caption(text, start, duration))
    if not captions:
        raise TranscriptFormatError("transcript contains no caption text")
    return captions


def _seconds(value: object, where: str, field: str) -> float:
    """`value` as seconds: a finite, non-negative JSON number (not a bool or a string)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TranscriptFormatError(f"{where}: '{field}' must be a number")
    try:
        seconds = float(value)
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds):
        raise TranscriptFormatError(f"{where}: '{field}' must be a finite number")
    if seconds < 0:
        raise TranscriptFormatError(f"{where}: '{field}' must not be negative")
    if seconds > MAX_MEDIA_SECONDS:
        raise TranscriptFormatError(
            f"{where}: '{field}' is past {MAX_MEDIA_SECONDS // 3600} hours, longer than any video"
        )
    return seconds


def _quote(text: str) -> str:
    """`text` quoted for an error message: at most 40 characters, control characters escaped."""
    if len(text) > _QUOTE_LIMIT:
        text = text[:_QUOTE_LIMIT] + "…"
    return repr(text)
