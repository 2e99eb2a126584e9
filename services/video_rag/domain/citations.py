"""Citation markers in a model's answer: keep the ones that refer to passages it was given.

A marker is a bracketed list of passage numbers and ranges: ``[1]``, ``[1, 3]``, ``[1;3]``,
``[2-4]`` (also with an en dash), or the fullwidth ``【1】``. ``[1][2]`` is two markers. Numbers
have one to three ASCII digits and a range spans at most `MAX_RANGE_SPAN` numbers (a wider or
reversed range cites nothing). Bracketed text that is not such a list (``[Music]``,
``[citation needed]``, ``[2024]``), markdown links (``[1](https://...)``) and anything inside
backtick code (``arr[1]``, fenced blocks) is never touched.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from typing import Final

__all__ = ["MAX_RANGE_SPAN", "extract_citations", "renumber_citations"]

MAX_RANGE_SPAN: Final = 20

_NUMBER: Final = r"[0-9]{1,3}"
_ITEM: Final = rf"{_NUMBER}(?:[ \t]*[-–][ \t]*{_NUMBER})?"
_LIST: Final = rf"{_ITEM}(?:[ \t]*[,;][ \t]*{_ITEM})*"
_MARKER: Final = re.compile(
    rf"\[[ \t]*(?P<ascii>{_LIST})[ \t]*\](?!\()|【[ \t]*(?P<wide>{_LIST})[ \t]*】"
)
_CODE: Final = re.compile(r"```.*?(?:```|\Z)|`[^`\n]+`", re.DOTALL)
_BREAKS_AFTER_REMOVAL: Final = " \t\r\n.,;:!?)"


def _numbers(marker: re.Match[str]) -> list[int]:
    """The numbers a marker cites, in written order, without repeats."""
    listed = marker.group("ascii") or marker.group("wide")
    numbers: list[int] = []
    for item in re.split(r"[ \t]*[,;][ \t]*", listed):
        ends = [int(part) for part in re.split(r"[ \t]*[-–][ \t]*", item)]
        first, last = ends[0], ends[-1]
        span = range(first, last + 1) if 0 <= last - first < MAX_RANGE_SPAN else range(0)
        numbers.extend(n for n in span if n not in numbers)
    return numbers


def _markers(text: str) -> Iterator[re.Match[str]]:
    """Citation markers of `text` that are not inside backtick code."""
    code = [match.span() for match in _CODE.finditer(text)]
    for marker in _MARKER.finditer(text):
        if not any(start <= marker.start() < end for start, end in code):
            yield marker


def _clean_once(answer: str, valid: Collection[int]) -> str:
    """One pass: rewrite each marker as its valid numbers, or remove it and tidy the gap."""
    out = ""
    position = 0
    for marker in _markers(answer):
        out += answer[position : marker.start()]
        position = marker.end()
        kept = [n for n in _numbers(marker) if n in valid]
        if kept:
            out += "".join(f"[{n}]" for n in kept)
            continue
        rest = answer[position:]
        left = out.rstrip(" \t")
        right = rest.lstrip(" \t")
        if left.endswith("(") and right.startswith(")"):  # "claim ([7])." -> "claim."
            out = left[:-1]
            position += len(rest) - len(right) + 1
            rest = answer[position:]
            left = out.rstrip(" \t")
        if not out or out.endswith("\n"):  # a marker that started a line
            position += len(rest) - len(rest.lstrip(" \t"))
        elif out != left and (not rest or rest[0] in _BREAKS_AFTER_REMOVAL):
            out = left  # no doubled space, no space before punctuation
    return out + answer[position:]


def renumber_citations(answer: str, numbers: Mapping[int, int]) -> str:
    """Rewrite each ``[n]`` marker (outside code) as ``[numbers[n]]``; markers of numbers not in
    `numbers` are kept as they are."""
    out = ""
    position = 0
    for marker in _markers(answer):
        cited = _numbers(marker)
        out += answer[position : marker.start()]
        out += "".join(f"[{numbers.get(n, n)}]" for n in cited)
        position = marker.end()
    return out + answer[position:]


def extract_citations(answer: str, valid: Collection[int]) -> tuple[str, list[int]]:
    """Remove citations of passages not in `valid`; list the valid ones cited.

    Each marker is rewritten as separate ``[n]`` markers for its valid numbers (``[1, 3]`` ->
    ``[1][3]``, ``[2-3]`` -> ``[2][3]``, ``【1】`` -> ``[1]``); a marker with none is removed,
    together with the space before it when that would leave a doubled space or a space before
    punctuation (and an emptied ``( )`` around it). Returns the cleaned answer and the cited
    valid numbers in order of first appearance, without duplicates. Idempotent.
    """
    valid = frozenset(valid)
    cleaned = answer
    while True:  # a removal can join text into a new marker, so repeat until nothing changes
        again = _clean_once(cleaned, valid)
        if again == cleaned:
            break
        cleaned = again
    cited: list[int] = []
    for marker in _markers(cleaned):
        cited.extend(n for n in _numbers(marker) if n not in cited)
    return cleaned, cited
