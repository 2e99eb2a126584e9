"""Questions about whole videos (a summary, "what is it about", an outline, a comparison), which
a few retrieved passages cannot answer, and the offline extractive outline that answers them
without a model.

English heuristics, like the rest of the offline path: a question in another language is
answered from retrieved passages as usual.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Final, Literal

from services.video_rag.domain.moments import best_excerpt
from services.video_rag.domain.prompts import (
    Passage,
    content_words,
    format_timestamp,
    stem,
    terms,
)

WholeVideoKind = Literal["summary", "comparison"]

_SUMMARY: Final = re.compile(
    r"\b(?:summar(?:y|ies|ise|ize|ising|izing)|outline|overview|recap|tl\s*;?\s*dr|gist"
    r"|(?:main|key|important)\s+(?:points?|ideas?|topics?|takeaways?|arguments?)"
    r"|what(?:'s|\s+is|\s+are)\s+(?:this|that|the|these|those|both|each|all)?\s*(?:\w+\s+)?"
    r"(?:videos?|talks?|episodes?|clips?|lectures?|tutorials?|reviews?)\s+(?:all\s+)?about"
    r"|what\s+(?:is|are)\s+(?:it|they)\s+(?:all\s+)?about"
    r"|what\s+(?:does|do)\s+(?:it|they|this|the)\s*(?:\w+\s+)?(?:cover|discuss|talk\s+about))",
    re.IGNORECASE,
)
_COMPARISON: Final = re.compile(
    r"\b(?:compare[sd]?|comparing|comparison|differ|differs|different|differences?|versus|vs\.?"
    r"|contrast|in\s+common|similarit(?:y|ies)|which\s+(?:one|video)\s+is\s+better)\b",
    re.IGNORECASE,
)
# Words that say what kind of question it is, not which video it is about.
_GENERIC_WORDS: Final = (
    "video videos talk episode clip lecture tutorial review summary summarize summarise outline "
    "overview recap compare comparison differ difference differences versus contrast main key "
    "points ideas topics give tell please both two first second"
)
_GENERIC: Final = frozenset(stem(word) for word in _GENERIC_WORDS.split())
OUTLINE_PARTS: Final = 6
_MIN_SENTENCE_WORDS: Final = 5
_MAX_QUOTE_CHARS: Final = 200
_SENTENCE: Final = re.compile(r"[^.!?…]+[.!?…]*")


def whole_video_kind(question: str, videos_in_scope: int) -> WholeVideoKind | None:
    """`comparison` for a question comparing videos (two or more in scope), `summary` for one
    about a video as a whole, else None (an ordinary question, answered from passages)."""
    if videos_in_scope >= 2 and _COMPARISON.search(question):
        return "comparison"
    if _SUMMARY.search(question):
        return "summary"
    return None


def videos_named(question: str, titles: Mapping[str, str | None]) -> list[str]:
    """The videos whose title the question names (by its distinctive words: "the bread video"
    names "Sourdough bread for beginners"), best matches only; empty when none is named."""
    asked = terms(question) - _GENERIC
    scores: dict[str, int] = {}
    for video_id, title in titles.items():
        named = terms(title or "") - _GENERIC
        if video_id.lower() in question.lower():
            named.add(stem(video_id.lower()))
            asked.add(stem(video_id.lower()))
        scores[video_id] = len(asked & named)
    best = max(scores.values(), default=0)
    if best == 0:
        return []
    return [video_id for video_id, score in scores.items() if score == best]


def title_words_asked(question: str, titles: Mapping[str, str | None]) -> dict[str, str]:
    """The words of `question` that only one of `titles` has (stemmed), each with that video:
    "How heavy is the Aerolite?" -> {"aerolite": <the Aerolite review>}. Letters and digits
    only, three characters or more, not only digits; words that say what kind of video it is
    and words shared by two titles ("laptop") are left out. Whether such a word names its video
    also depends on what the other videos say (see `service.chat`)."""
    asked = terms(question) - _GENERIC
    words = {
        video_id: {
            stem(word)
            for word in content_words(title or "")
            if len(word) >= 3 and word.isalnum() and not word.isdigit()
        }
        - _GENERIC
        for video_id, title in titles.items()
    }
    seen = Counter(word for title_words in words.values() for word in title_words)
    return {
        word: video_id
        for video_id, title_words in words.items()
        for word in sorted(title_words & asked)
        if seen[word] == 1
    }


def without_title_words(question: str, titles: Sequence[str | None]) -> str:
    """`question` with the words of `titles` taken out (they say which video, not what is
    asked), or the question itself when there are no titles or nothing else would be left."""
    named = {word for title in titles for word in terms(title or "")}
    if not named:
        return question
    kept = " ".join(
        token
        for token in question.split()
        if not (words := content_words(token)) or any(stem(word) not in named for word in words)
    )
    return kept if content_words(kept) else question


def outline(passages: Sequence[Passage], parts: int = OUTLINE_PARTS) -> str:
    """An extractive outline of each video of `passages` (in the order given, passages in time
    order): the most representative sentence of each of up to `parts` stretches of the video,
    with its time and citation marker::

        "Sourdough Bread" in 4 parts:
        - 0:05 "Today we bake a simple sourdough loaf." [1]
        - 2:10 "Let the dough rest in the fridge overnight." [3]
    """
    by_video: dict[str, list[Passage]] = {}
    for passage in passages:
        by_video.setdefault(passage.video_id, []).append(passage)
    sections = []
    for video_passages in by_video.values():
        lines = _outline_lines(video_passages, parts)
        if not lines:
            continue
        first = video_passages[0]
        name = f'"{first.title}"' if first.title else f"Video {first.video_id}"
        count = f"{len(lines)} part" + ("s" if len(lines) != 1 else "")
        sections.append(f"{name} in {count}:\n" + "\n".join(lines))
    return "\n\n".join(sections)


def _outline_lines(passages: Sequence[Passage], parts: int) -> list[str]:
    frequency = Counter(stem(word) for passage in passages for word in content_words(passage.text))
    size = math.ceil(len(passages) / max(1, min(parts, len(passages))))
    lines = []
    for start in range(0, len(passages), size):
        best: tuple[float, Passage, str] | None = None
        for passage in passages[start : start + size]:
            for sentence in _SENTENCE.findall(passage.text):
                sentence = " ".join(sentence.split())
                words = [stem(w) for w in content_words(sentence)]
                if len(sentence.split()) < _MIN_SENTENCE_WORDS or not words:
                    continue
                score = sum(math.log1p(frequency[w]) for w in set(words)) / math.sqrt(len(words))
                if best is None or score > best[0]:
                    best = (score, passage, sentence)
        if best is not None:
            _, passage, sentence = best
            quote = sentence if len(sentence) <= _MAX_QUOTE_CHARS else _clip(sentence)
            if passage.timed:
                at = best_excerpt(passage.text, passage.moments, sentence).at_seconds
                when = format_timestamp(passage.start_seconds if at is None else at) + " "
            else:
                when = ""
            lines.append(f'- {when}"{quote}" [{passage.number}]')
    return lines


def _clip(sentence: str) -> str:
    clipped = sentence[:_MAX_QUOTE_CHARS].rsplit(" ", 1)[0]
    return clipped + "…"
