"""Citation moments: the sentence of a passage that supports a claim, and when it is said.

A passage keeps where each of its captions starts (character offset, seconds); the moment of a
sentence is the start of the caption it begins in. The sentence chosen for a claim is the one that
shares the most content words (crudely stemmed) with the claim, then with the question; ties go to
the earliest.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from services.video_rag.domain.prompts import terms

_SENTENCE: Final = re.compile(r"[^.!?…]*[.!?…]+[\"'”’)\]]*|[^.!?…]+$")
MAX_EXCERPT_CHARS: Final = 240
SHORT_SENTENCE_CHARS: Final = 40  # a shorter sentence comes with the next one


@dataclass(frozen=True)
class Excerpt:
    """A sentence (or two) of a passage and the moment it is said (None when the transcript has
    no timings)."""

    text: str
    at_seconds: float | None


def seconds_at(moments: Sequence[Sequence[float]], offset: int) -> float | None:
    """The start of the caption holding character `offset`, from (offset, seconds) pairs in
    order; None without moments."""
    if not moments:
        return None
    offsets = [int(pair[0]) for pair in moments]
    index = max(0, bisect.bisect_right(offsets, offset) - 1)
    return float(moments[index][1])


def sentences(text: str) -> list[tuple[int, str]]:
    """The sentences of `text` with their character offsets (whitespace trimmed)."""
    found = []
    for match in _SENTENCE.finditer(text):
        raw = match.group()
        stripped = raw.strip()
        if stripped:
            found.append((match.start() + len(raw) - len(raw.lstrip()), stripped))
    return found


def best_excerpt(
    text: str,
    moments: Sequence[Sequence[float]],
    claim: str,
    question: str = "",
    timed: bool = True,
) -> Excerpt:
    """The sentence of `text` that best supports `claim` (then `question`), with the next one
    when it is short, and the moment it starts; the passage's beginning when nothing matches."""
    candidates = sentences(text)
    if not candidates:
        return Excerpt(text[:MAX_EXCERPT_CHARS], seconds_at(moments, 0) if timed else None)
    wanted = terms(claim)
    asked = terms(question)
    best = max(
        range(len(candidates)),
        key=lambda i: (
            len(wanted & terms(candidates[i][1])),
            len(asked & terms(candidates[i][1])),
            -i,
        ),
    )
    offset, excerpt = candidates[best]
    if len(excerpt) < SHORT_SENTENCE_CHARS and best + 1 < len(candidates):
        excerpt = f"{excerpt} {candidates[best + 1][1]}"
    if len(excerpt) > MAX_EXCERPT_CHARS:
        excerpt = excerpt[:MAX_EXCERPT_CHARS].rsplit(" ", 1)[0] + "…"
    return Excerpt(excerpt, seconds_at(moments, offset) if timed else None)


def claims_by_marker(answer: str) -> dict[int, str]:
    """For each cited number, the sentence of `answer` where it is first cited (its markers
    removed)."""
    claims: dict[int, str] = {}
    for _, sentence in sentences(answer):
        for number in re.findall(r"\[(\d{1,3})\]", sentence):
            claims.setdefault(int(number), re.sub(r"\[\d{1,3}\]", "", sentence))
    return claims
