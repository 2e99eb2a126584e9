"""Chunking: group a video's captions into overlapping, timed passages of bounded size, the units
that are embedded and retrieved.

Captions are cleaned with `clean_caption_text` and ordered by start time (stably). Consecutive
captions are joined with single spaces into chunks of at most `max_chars` characters. When a
chunk is full, it ends at an earlier caption that closes a sentence if that keeps it at least
three quarters full. A caption longer than `max_chars` is first split into pieces of at most
``max(min(overlap_chars, max_chars // 2), 50)`` characters, at a sentence end or else a word
boundary (a longer word is cut), whose times are apportioned by character offset; pieces then
behave like captions (so a long caption still gets overlap).

Each chunk after the first begins with the longest run of trailing captions (whole captions or
pieces) of the previous chunk whose joined length is at most
``min(overlap_chars, max_chars // 2)``, shortened further if needed so that at least the next new
caption still fits; `Chunk.overlap_chars` says how much of a chunk's text is that repetition.

Chunks are also bounded in time, so that a citation's timestamp lands near what it cites: a chunk
takes no further caption that starts more than `max_seconds` after the chunk's start (it always
takes at least one new caption), and its overlap reaches back at most a third of `max_seconds`.
Dense speech fills `max_chars` first; sparse captions (talks with pauses, uploaded outlines) are
cut by time. Each chunk keeps where each of its captions starts (`Chunk.moments`), so that a
citation can point at the sentence it cites rather than at the chunk's start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from services.video_rag.domain.captions import Caption, clean_caption_text

__all__ = [
    "DEFAULT_MAX_CHARS",
    "DEFAULT_MAX_SECONDS",
    "DEFAULT_OVERLAP_CHARS",
    "MIN_MAX_CHARS",
    "Chunk",
    "chunk_captions",
]

DEFAULT_MAX_CHARS: Final = 1200
DEFAULT_OVERLAP_CHARS: Final = 200
DEFAULT_MAX_SECONDS: Final = 60.0
MIN_MAX_CHARS: Final = 50

# A chunk may end early at a sentence end only if it is at least this full.
_SENTENCE_BREAK_MIN_FILL: Final = 0.75
_SENTENCE_ENDS: Final = ".!?…"
_CLOSING_PUNCTUATION: Final = "\"'”’)]"


@dataclass(frozen=True)
class Chunk:
    """A passage of a video's transcript: `text` spans `start_seconds`..`end_seconds`.

    ``text[:overlap_chars]`` repeats the end of the previous chunk (0 for the first chunk, or
    when nothing could be repeated); the chunk's new text is ``text[overlap_chars:].lstrip()``.
    """

    ordinal: int
    start_seconds: float
    end_seconds: float
    text: str
    overlap_chars: int = 0
    moments: tuple[tuple[int, float], ...] = ()
    """Where each caption (or piece of a long one) starts in `text`: (character offset, start
    seconds), in order, the first at offset 0; `moments.seconds_at` reads it."""


class TooManyChunks(Exception):
    """The captions make more chunks than the limit allowed (chunking stopped there)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} chunks")
        self.limit = limit


def chunk_captions(
    captions: Sequence[Caption],
    max_chars: int = DEFAULT_MAX_CHARS,
    overlap_chars: int = DEFAULT_OVERLAP_CHARS,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    max_chunks: int | None = None,
) -> list[Chunk]:
    """Overlapping chunks of at most `max_chars` characters covering all the captions' text.

    Ordinals run 0..n-1 and start times never decrease; a chunk starts when its first caption
    starts and ends at the latest end of its captions. Returns [] when no caption has text.
    Raises ValueError when `max_chars` < 50, `overlap_chars` < 0, `overlap_chars` >=
    `max_chars` or `max_seconds` <= 0, and TooManyChunks as soon as the captions need more than
    `max_chunks` chunks (so a hostile transcript costs no more than the limit).
    """
    if not max_seconds > 0:
        raise ValueError(f"max_seconds must be positive, got {max_seconds}")
    if max_chars < MIN_MAX_CHARS:
        raise ValueError(f"max_chars must be at least {MIN_MAX_CHARS}, got {max_chars}")
    if overlap_chars < 0:
        raise ValueError(f"overlap_chars must not be negative, got {overlap_chars}")
    if overlap_chars >= max_chars:
        raise ValueError(
            f"overlap_chars must be smaller than max_chars, got {overlap_chars} >= {max_chars}"
        )
    overlap_cap = min(overlap_chars, max_chars // 2)
    overlap_seconds = max_seconds / 3

    texts, starts, ends = _units(captions, max_chars, piece_chars=max(overlap_cap, MIN_MAX_CHARS))
    count = len(texts)
    lengths = [len(text) for text in texts]
    fill_for_sentence_break = max_chars * _SENTENCE_BREAK_MIN_FILL

    chunks: list[Chunk] = []
    first = 0  # first unit of the chunk being built (overlap units come first)
    new = 0  # first unit not yet in any chunk
    overlap_length = 0  # joined length of units[first:new]
    while new < count:
        if max_chunks is not None and len(chunks) >= max_chunks:
            raise TooManyChunks(max_chunks)
        length = overlap_length
        fills: list[int] = []  # fills[k]: chunk length when it ends with unit new + k
        stop = new
        while stop < count:
            if stop > new and starts[stop] - starts[first] > max_seconds:
                break
            added = lengths[stop] + (1 if stop > first else 0)
            if length + added > max_chars:
                break
            length += added
            fills.append(length)
            stop += 1
        # stop > new: overlaps are shortened so that the next unit always fits.

        if stop < count and not _ends_sentence(texts[stop - 1]):
            for candidate in range(stop - 1, new, -1):
                if fills[candidate - 1 - new] < fill_for_sentence_break:
                    break
                if _ends_sentence(texts[candidate - 1]):
                    stop = candidate
                    break

        moments: list[tuple[int, float]] = []
        offset = 0
        for unit in range(first, stop):
            moments.append((offset, starts[unit]))
            offset += lengths[unit] + 1
        chunks.append(
            Chunk(
                ordinal=len(chunks),
                start_seconds=starts[first],
                end_seconds=max(ends[first:stop]),
                text=" ".join(texts[first:stop]),
                overlap_chars=overlap_length,
                moments=tuple(moments),
            )
        )
        if stop >= count:
            break

        limit = min(overlap_cap, max_chars - lengths[stop] - 1)
        chunk_first = first
        first, overlap_length = stop, 0
        while first > chunk_first:
            added = lengths[first - 1] + (1 if first < stop else 0)
            if overlap_length + added > limit or starts[stop] - starts[first - 1] > overlap_seconds:
                break
            overlap_length += added
            first -= 1
        new = stop
    return chunks


def _units(
    captions: Sequence[Caption], max_chars: int, piece_chars: int
) -> tuple[list[str], list[float], list[float]]:
    """Cleaned, non-empty caption texts in start order with their times; captions longer than
    `max_chars` become pieces of at most `piece_chars`. Starts are made non-decreasing."""
    texts: list[str] = []
    starts: list[float] = []
    ends: list[float] = []
    for caption in sorted(captions, key=_start):
        text = clean_caption_text(caption.text)
        if not text:
            continue
        start, end = caption.start, max(caption.end, caption.start)
        if len(text) <= max_chars:
            texts.append(text)
            starts.append(start)
            ends.append(end)
            continue
        offsets = _split_offsets(text, piece_chars)
        seconds_per_char = (end - start) / len(text)
        following = [piece_start for piece_start, _ in offsets[1:]] + [len(text)]
        for (piece_start, piece_end), next_start in zip(offsets, following, strict=True):
            piece_start_seconds = min(end, start + piece_start * seconds_per_char)
            texts.append(text[piece_start:piece_end])
            starts.append(piece_start_seconds)
            ends.append(max(piece_start_seconds, min(end, start + next_start * seconds_per_char)))
    # A late piece of a long caption may start after the next caption does; pull it back so
    # that chunk start times never decrease (it stays within its own caption's span).
    for index in range(len(starts) - 2, -1, -1):
        if starts[index] > starts[index + 1]:
            starts[index] = starts[index + 1]
    return texts, starts, ends


def _start(caption: Caption) -> float:
    return caption.start


def _split_offsets(text: str, limit: int) -> list[tuple[int, int]]:
    """(start, end) offsets of pieces of `text` (single-spaced) of at most `limit` characters,
    cut at a sentence end in the second half of the window if there is one, else at the last
    space, else (one word longer than `limit`) mid-word."""
    pieces: list[tuple[int, int]] = []
    position, size = 0, len(text)
    while size - position > limit:
        window_end = position + limit  # exclusive end of the longest possible piece
        cut = max(
            text.rfind(mark, position + limit // 2, window_end + 1) for mark in (". ", "? ", "! ")
        )
        if cut != -1:
            cut += 1  # keep the punctuation, cut at the space after it
        else:
            cut = text.rfind(" ", position + 1, window_end + 1)
        if cut == -1:
            pieces.append((position, window_end))
            position = window_end
        else:
            pieces.append((position, cut))
            position = cut + 1
    pieces.append((position, size))
    return pieces


def _ends_sentence(text: str) -> bool:
    last = text.rstrip(_CLOSING_PUNCTUATION)[-1:]
    return last != "" and last in _SENTENCE_ENDS
