"""Citation moments: the sentence of a passage that supports a claim, and when it is said.

A passage keeps where each of its captions starts (character offset, seconds); the moment of a
sentence is the start of the caption it begins in. The sentence chosen for a claim is the one that
shares the most content words (crudely stemmed) with the claim, then with the question; ties go to
the earliest.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from services.video_rag.domain.prompts import Passage, content_words, stem, terms

# A point between two digits ("Bluetooth 5.3", "2.3 kilograms") does not end a sentence.
_IN_SENTENCE: Final = r"(?:[^.!?…]|(?<=\d)\.(?=\d))"
_SENTENCE: Final = re.compile(rf"{_IN_SENTENCE}*[.!?…]+[\"'”’)\]]*|{_IN_SENTENCE}+$")
MAX_EXCERPT_CHARS: Final = 240
SHORT_SENTENCE_CHARS: Final = 40  # a shorter sentence comes with the next one
MIN_QUOTED_WORDS: Final = 3  # a shorter quote is too likely to occur by chance


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
    """The excerpt of `text` that supports `claim` and the moment it is said.

    When `claim` quotes `text` (the longest piece of it between ellipses, at least
    `MIN_QUOTED_WORDS` words, found whatever the spacing, case and punctuation), its moment is
    where the quote starts and the excerpt is the sentence(s) holding it. Otherwise it is the
    sentence that shares most words with `claim` (then `question`), with the next one when it is
    short, and the moment it starts; the passage's beginning when nothing matches."""
    candidates = sentences(text)
    if not candidates:
        return Excerpt(text[:MAX_EXCERPT_CHARS], seconds_at(moments, 0) if timed else None)
    quoted = locate_quote(text, claim)
    if quoted is not None:
        start, end = quoted
        first = max(i for i, (offset, _) in enumerate(candidates) if offset <= start or i == 0)
        last = max(i for i, (offset, _) in enumerate(candidates) if offset < end or i == 0)
        begin = candidates[first][0]
        if start - begin > MAX_EXCERPT_CHARS // 2:  # a long sentence: from the quote on
            begin = start
        finish = candidates[last][0] + len(candidates[last][1])
        excerpt = ("…" if begin > candidates[first][0] else "") + text[begin:finish]
        return Excerpt(_cut(excerpt), seconds_at(moments, start) if timed else None)
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
    return Excerpt(_cut(excerpt), seconds_at(moments, offset) if timed else None)


def _cut(excerpt: str) -> str:
    if len(excerpt) > MAX_EXCERPT_CHARS:
        return excerpt[:MAX_EXCERPT_CHARS].rsplit(" ", 1)[0] + "…"
    return excerpt


_QUOTE_WORD: Final = re.compile(r"[^\W_]+")


def locate_quote(text: str, claim: str) -> tuple[int, int] | None:
    """Where `claim` quotes `text`: the (start, end) of the longest piece of `claim` between
    ellipses, matched word for word (case, spacing, punctuation and bracketed annotations such
    as ``[Music]`` aside), first occurrence; None when it has fewer than `MIN_QUOTED_WORDS`
    words or `text` does not hold it."""
    pieces = [_QUOTE_WORD.findall(piece) for piece in re.split(r"…|\.\.\.", claim)]
    words = max(pieces, key=len, default=[])
    if len(words) < MIN_QUOTED_WORDS:
        return None
    gap = r"(?:[\W_]|\[[^\]]*\])+"
    pattern = r"(?<![^\W_])" + gap.join(re.escape(w) for w in words) + r"(?![^\W_])"
    found = re.search(pattern, text, re.IGNORECASE)
    return None if found is None else found.span()


_CITED: Final = re.compile(r"\[(\d{1,3})\]")
_QUOTE_PAIRS: Final = {'"': '"', "”": "“"}


def claims_by_marker(answer: str) -> dict[int, str]:
    """For each cited number, the claim where it is first cited: the quotation that ends right
    before the marker (``"…" [1]``, on the same line), else the sentence of `answer` holding the
    marker (its markers removed)."""
    claims: dict[int, str] = {}
    seen: set[int] = set()
    for marker in _CITED.finditer(answer):
        number = int(marker.group(1))
        if number not in seen:
            seen.add(number)
            quoted = _quotation_before(answer, marker.start())
            if quoted is not None:
                claims[number] = quoted
    for _, sentence in sentences(answer):
        for number in _CITED.findall(sentence):
            claims.setdefault(int(number), _CITED.sub("", sentence).strip())
    return claims


def _quotation_before(answer: str, position: int) -> str | None:
    """The quoted text that ends (closing quotation mark, then spaces) at `position`."""
    before = answer[:position].rstrip(" \t")
    if not before or before[-1] not in _QUOTE_PAIRS:
        return None
    line_start = before.rfind("\n") + 1
    opening = before.rfind(_QUOTE_PAIRS[before[-1]], line_start, len(before) - 1)
    if opening < 0:
        return None
    quoted = before[opening + 1 : -1].strip()
    return quoted or None


# ---------------------------------------------------------------------------------------------
# Offline answers: which caption of the retrieved passages answers the question


WordSimilarity = Callable[[Sequence[str], Sequence[str]], Sequence[Sequence[float]]]
"""Cosine similarity of each word of the first list with each word of the second (a matrix)."""
TextSimilarity = Callable[[str, Sequence[str]], Sequence[float]]
"""Cosine similarity of a text with each of several texts."""


@dataclass(frozen=True)
class MomentWeights:
    """How `rank_moments` weighs what a caption has in common with the question (tuned on the
    labelled set of tests/eval, see `benchmarks.evaluation`)."""

    context: float = 0.15
    """A word of the previous question (a follow-up's context) counts this much."""
    soft_threshold: float = 0.3
    """Two different words match, as much as they are similar, from this similarity on."""
    window: float = 0.3
    """Words of the neighbouring captions count this much more."""
    meaning: float = 0.5
    """The caption's similarity of meaning with the question (its words and its neighbours')."""
    rank: float = 0.02
    """Taken off per place of the passage in retrieval order."""
    named: float = 0.5
    """Per question word found in the caption's video title (the question names the video)."""
    quantity: float = 0.3
    """For a caption with a number when the question asks how much, how many, how long..."""
    unit: float = 0.3
    """For a caption with the kind of measure the question asks for ("how hot": degrees)."""
    focus: float = 2.0
    """A word that says what a "which"/"what" question asks for ("which codecs") counts this
    much more."""


@dataclass(frozen=True)
class Moment:
    """A caption (or, in a transcript without timings, a sentence) of a passage: `text` is
    ``passage.text[start:end]``."""

    passage: Passage
    start: int
    end: int
    score: float
    matched: float = 0.0
    """The share of the question's words (weighted) the caption and its neighbours hold."""
    named: bool = False
    """The question (or the previous one it leans on) names the caption's video by a
    distinctive word of its title."""

    @property
    def text(self) -> str:
        return self.passage.text[self.start : self.end]


# Title words that say what kind of video it is, not which one.
_KIND_WORDS: Final = frozenset(
    stem(word) for word in "review tutorial episode clip lecture guide vlog part".split()
)
_QUANTITY_QUESTION: Final = re.compile(
    r"\bhow (?:much|many|long|heavy|big|large|fast|far|old|often|hot|warm|cold|loud|bright"
    r"|thick|thin|wide|tall|deep|high|low)\b|\bwhat (?:price|temperature|size|weight)\b",
    re.IGNORECASE,
)
# What a question asks to measure, and the words that give such a measure in a caption.
_TIME: Final = (
    r"\b(?:seconds?|minutes?|hours?|days?|nights?|weeks?|months?|years?|overnight|morning"
    r"|evening|spring|summer|autumn|fall|winter|until|after|once)\b"
)
_LENGTH: Final = (
    r"\b(?:millimet(?:er|re)s?|centimet(?:er|re)s?|met(?:er|re)s?|mm|cm|inch(?:es)?|feet|foot"
    r"|yards?|miles?|kilomet(?:er|re)s?|km)\b|\d(?:mm|cm|m|in)\b|\d\s?(?:\"|'')"
)
_MEASURES: Final = tuple(
    (re.compile(asked, re.IGNORECASE), re.compile(given, re.IGNORECASE))
    for asked, given in (
        (r"\bhow (?:hot|warm|cold|cool)\b|\btemperatures?\b", r"\bdegrees?\b|°|celsius|fahrenheit"),
        (r"\bhow (?:long|soon|quickly|often)\b|\bwhen\b|\bwhat time\b", _TIME),
        (r"\bhow (?:long|far|tall|wide|deep|thick|thin|big|small)\b|\bsize\b", _LENGTH),
        (
            r"\bhow (?:heavy|light)\b|\bweigh",
            r"\b(?:grams?|kilo(?:gram)?s?|kg|pounds?|lbs?|ounces?|oz|tons?)\b|\dg\b",
        ),
        (r"\bhow (?:loud|noisy|quiet)\b|\bnoise level\b", r"\bdecibels?\b|\bdb\b|\ddb\b"),
        (r"\bhow bright\b|\bbrightness\b", r"\bnits?\b|\blumens?\b"),
        (
            r"\bcosts?\b|\bprice[ds]?\b|\bhow much (?:is|are|does|do)\b|\bsells? for\b",
            r"[$€£¥]\s?\d|\b(?:dollars?|euros?|pounds|bucks)\b",
        ),
    )
)
# "Which codecs ...", "what power adapter ...": the words that say what is asked for.
_FOCUS: Final = re.compile(
    r"\b(?:which|what)\s+((?:[^\W\d_][\w'-]*\s+){0,2}?[^\W\d_][\w'-]*)"
    r"\s+(?:does|do|did|is|are|was|were|can|could|should|will|would|has|have|had|comes?|goes?)\b",
    re.IGNORECASE,
)
_NUMBER: Final = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty"
    r"|thirty|forty|fifty|sixty|hundred|thousand|half|dozen)\b",
    re.IGNORECASE,
)


def _units(passage: Passage) -> list[tuple[int, int]]:
    """(start, end) of each caption of `passage` (of each sentence without caption starts),
    one longer than MAX_EXCERPT_CHARS cut into pieces of at most half that, at spaces."""
    text = passage.text
    if passage.timed and passage.moments:
        offsets = [int(pair[0]) for pair in passage.moments]
        ends = [*offsets[1:], len(text)]
        spans = [(start, end) for start, end in zip(offsets, ends, strict=True) if end > start]
    else:
        spans = [(offset, offset + len(sentence)) for offset, sentence in sentences(text)]
    units = []
    for start, end in spans:
        while end - start > MAX_EXCERPT_CHARS:
            cut = text.rfind(" ", start + 1, start + MAX_EXCERPT_CHARS // 2)
            cut = cut if cut > start else start + MAX_EXCERPT_CHARS // 2
            units.append((start, cut))
            start = cut + 1
        units.append((start, end))
    return units


def rank_moments(
    question: str,
    passages: Sequence[Passage],
    context: str = "",
    *,
    words_similarity: WordSimilarity | None = None,
    text_similarity: TextSimilarity | None = None,
    weights: MomentWeights = MomentWeights(),
) -> list[Moment]:
    """Every caption of `passages`, best answer to `question` first.

    A caption scores the share of the question's content words it holds, each word weighted by
    its rarity among the captions (a word every caption has tells nothing) and words of the
    video's own title left out (they name the video, not the answer); `context` (the previous
    question a follow-up leans on) adds its other words at `weights.context`. Without
    `words_similarity` only words of the same stem match; with it, different words match as
    much as they are similar ("fridge" and "refrigerator"); the word a "which"/"what" question
    asks for ("which codecs") counts `weights.focus` more. Then the neighbouring captions'
    words, the similarity of meaning (`text_similarity`), the passage's retrieval rank, a
    number for "how much" questions and the kind of measure asked for ("how hot":
    degrees, "how soon": hours, days...) adjust the score. Ties go to the earlier
    passage and caption. A caption is `named` when the question (or `context`) holds a
    distinctive word of its video's title.
    """
    own = list(dict.fromkeys(content_words(question)))
    around = [w for w in dict.fromkeys(content_words(context)) if w not in own]
    asked = own + around
    weight_of = {w: 1.0 for w in own} | {w: weights.context for w in around}
    for found in _FOCUS.finditer(question):
        for head in content_words(found.group(1))[-1:]:
            weight_of[head] = weight_of.get(head, 0.0) * (1.0 + weights.focus)
    units: list[tuple[Passage, int, int, list[str], list[str]]] = []
    for passage in passages:
        spans = _units(passage)
        said = [content_words(passage.text[start:end]) for start, end in spans]
        for i, (start, end) in enumerate(spans):
            near = [w for j in (i - 1, i, i + 1) if 0 <= j < len(spans) for w in said[j]]
            units.append((passage, start, end, said[i], near))
    if not units or not asked:
        return [Moment(p, start, end, 0.0) for p, start, end, _, _ in units]
    stems = [{stem(w) for w in unit[3]} for unit in units]
    # A word no caption holds is as rare as one that a single caption holds: it is not more
    # telling for being absent, and would otherwise let a loose soft match outweigh an exact one.
    rarity = {
        w: math.log((len(units) + 1) / (max(sum(stem(w) in s for s in stems), 1) + 0.5))
        for w in asked
    }
    named_videos = {
        p.video_id
        for p in passages
        if (terms(p.title or "") - _KIND_WORDS) & terms(" ".join(asked))
    }
    quantity = bool(_QUANTITY_QUESTION.search(question) or _QUANTITY_QUESTION.search(context))
    measures = [given for asked_for, given in _MEASURES if asked_for.search(question)] or [
        given for asked_for, given in _MEASURES if asked_for.search(context)
    ]
    vocabulary = list(dict.fromkeys(w for unit in units for w in unit[4]))
    similar = _soft_matches(asked, vocabulary, words_similarity, weights.soft_threshold)
    meaning = _meanings(question, asked, units, text_similarity)
    scored = []
    for index, (passage, start, end, words, near) in enumerate(units):
        title = terms(passage.title or "")
        wanted = [w for w in asked if stem(w) not in title]
        total = sum(rarity[w] * weight_of[w] for w in wanted) or 1.0

        def covered(present: list[str], wanted: list[str] = wanted, total: float = total) -> float:
            have = {stem(w) for w in present}
            return (
                sum(rarity[w] * weight_of[w] * _match(w, have, present, similar) for w in wanted)
                / total
            )

        matched = covered(words) + weights.window * covered(near)
        score = matched
        score += weights.meaning * meaning[index]
        score -= weights.rank * passage.number
        score += weights.named * (len(wanted) < len(asked))
        caption = passage.text[start:end]
        if quantity and _NUMBER.search(caption):
            score += weights.quantity
        if any(given.search(caption) for given in measures):
            score += weights.unit
        named = passage.video_id in named_videos
        scored.append((-score, index, Moment(passage, start, end, score, matched, named)))
    scored.sort(key=lambda item: (item[0], item[1]))
    return [moment for _, _, moment in scored]


def _soft_matches(
    asked: Sequence[str],
    vocabulary: Sequence[str],
    similarity: WordSimilarity | None,
    threshold: float,
) -> dict[tuple[str, str], float]:
    """(asked word, transcript word) -> similarity, for the pairs at least `threshold` similar."""
    if similarity is None or not asked or not vocabulary:
        return {}
    matrix = similarity(asked, vocabulary)
    return {
        (a, v): float(value)
        for a, row in zip(asked, matrix, strict=True)
        for v, value in zip(vocabulary, row, strict=True)
        if value >= threshold
    }


def _match(
    word: str, stems: set[str], present: Sequence[str], similar: dict[tuple[str, str], float]
) -> float:
    """1.0 when a word of the same stem is present, else the best soft match (or 0.0)."""
    if stem(word) in stems:
        return 1.0
    return max((similar.get((word, other), 0.0) for other in present), default=0.0)


def _meanings(
    question: str,
    asked: Sequence[str],
    units: Sequence[tuple[Passage, int, int, list[str], list[str]]],
    similarity: TextSimilarity | None,
) -> list[float]:
    """The similarity of meaning between each caption with its neighbours and the question's
    words less those of the caption's video title (0.0 each without `similarity`)."""
    if similarity is None:
        return [0.0] * len(units)
    by_query: dict[str, list[int]] = {}
    for index, unit in enumerate(units):
        title = terms(unit[0].title or "")
        query = " ".join(w for w in asked if stem(w) not in title) or question
        by_query.setdefault(query, []).append(index)
    found = [0.0] * len(units)
    for query, indexes in by_query.items():
        values = similarity(query, [" ".join(units[i][4]) for i in indexes])
        for i, value in zip(indexes, values, strict=True):
            found[i] = float(value)
    return found


LEAD_SECONDS: Final = 5.0
"""A quote starts with its sentence when that began at most this long before the caption."""


def quote_span(moment: Moment, max_chars: int = MAX_EXCERPT_CHARS) -> tuple[int, int]:
    """What to quote of `moment`'s passage: from the start of the sentence its caption begins
    in (when that sentence began at most LEAD_SECONDS earlier; else from the caption) to the end
    of the sentence it ends in; at most `max_chars` (then from the caption, cut at a word)."""
    text = moment.passage.text
    found = sentences(text)
    ends = [(offset, offset + len(sentence)) for offset, sentence in found] or [(0, len(text))]
    start = max((s for s, _ in ends if s <= moment.start), default=moment.start)
    if start < moment.start:
        began, caption = (seconds_at(moment.passage.moments, o) for o in (start, moment.start))
        if began is None or caption is None or caption - began > LEAD_SECONDS:
            start = moment.start
    last = len(text[: moment.end].rstrip()) - 1
    end = next((e for s, e in ends if s <= last < e), moment.end)
    end = max(end, len(text[: moment.end].rstrip()))
    if end - start > max_chars:
        start = moment.start
    if end - start > max_chars:
        cut = text[start : start + max_chars + 1].rsplit(" ", 1)[0].rstrip()
        end = start + max(len(cut), 1)
    return start, end
