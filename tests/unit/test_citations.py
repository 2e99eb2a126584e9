"""Citation markers: invalid ones removed (with tidy spacing), valid ones normalised and listed,
non-citation brackets untouched; properties checked with hypothesis."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from services.video_rag.domain.citations import MAX_RANGE_SPAN, extract_citations

VALID = {1, 2, 3}


@pytest.mark.parametrize(
    ("answer", "cleaned", "cited"),
    [
        ("It lasts nine hours [1].", "It lasts nine hours [1].", [1]),
        ("It lasts [2] and charges fast [1].", "It lasts [2] and charges fast [1].", [2, 1]),
        ("Nine hours [1, 3].", "Nine hours [1][3].", [1, 3]),
        ("Nine hours [1,3;2].", "Nine hours [1][3][2].", [1, 3, 2]),
        ("Nine hours [1][2].", "Nine hours [1][2].", [1, 2]),
        ("Nine hours [1-3].", "Nine hours [1][2][3].", [1, 2, 3]),
        ("Nine hours [ 2 – 3 ].", "Nine hours [2][3].", [2, 3]),
        ("Nine hours 【2】.", "Nine hours [2].", [2]),
        ("Nine hours [01].", "Nine hours [1].", [1]),
        ("Repeated [1] and again [1][1, 1].", "Repeated [1] and again [1][1].", [1]),
        # invalid numbers go, with the space before them when it would be left dangling
        ("Nine hours [7].", "Nine hours.", []),
        ("Nine hours [7] and more.", "Nine hours and more.", []),
        ("Nine hours [1, 7].", "Nine hours [1].", [1]),
        ("Nine hours [7][1].", "Nine hours [1].", [1]),
        ("Nine hours [7] [1].", "Nine hours [1].", [1]),
        ("Nine hours [1] [7].", "Nine hours [1].", [1]),
        ("Nine hours [0].", "Nine hours.", []),
        ("Nine hours ([7]).", "Nine hours.", []),
        ("Nine hours [7]\nNext line.", "Nine hours\nNext line.", []),
        ("[7] Starts a line.\n[8] And another.", "Starts a line.\nAnd another.", []),
        ("Nine hours[7], roughly.", "Nine hours, roughly.", []),
        ("Nine[7]hours.", "Ninehours.", []),
        ("Nine hours [2-9].", "Nine hours [2][3].", [2, 3]),
        ("Nine hours [1-100].", "Nine hours.", []),  # not a sane range
        ("Nine hours [3-1].", "Nine hours.", []),
        # not citations: left alone
        ("[Music] Nine hours [1].", "[Music] Nine hours [1].", [1]),
        ("Nine hours [citation needed].", "Nine hours [citation needed].", []),
        (
            "See [the review](https://example.com) [1].",
            "See [the review](https://example.com) [1].",
            [1],
        ),
        ("See [1](https://example.com).", "See [1](https://example.com).", []),
        ("Released in [2024].", "Released in [2024].", []),
        ("Use `items[7]` here [1].", "Use `items[7]` here [1].", [1]),
        (
            "```\nx = a[7]\n```\nDone [2].",
            "```\nx = a[7]\n```\nDone [2].",
            [2],
        ),
        ("Keep  double  spaces [1].", "Keep  double  spaces [1].", [1]),
        ("", "", []),
    ],
)
def test_extract_citations(answer: str, cleaned: str, cited: list[int]) -> None:
    assert extract_citations(answer, VALID) == (cleaned, cited)


def test_a_removal_that_forms_a_new_marker_is_handled() -> None:
    assert extract_citations("see [[7]9] now", VALID) == ("see now", [])
    assert extract_citations("see [[7]2] now", VALID) == ("see [2] now", [2])


def test_no_valid_passages_removes_every_marker() -> None:
    assert extract_citations("A [1]. B [2, 3].", []) == ("A. B.", [])


def test_range_span_limit() -> None:
    valid = range(1, 100)
    wide = f"x [1-{MAX_RANGE_SPAN}]"
    too_wide = f"x [1-{MAX_RANGE_SPAN + 1}]"
    assert extract_citations(wide, valid)[1] == list(range(1, MAX_RANGE_SPAN + 1))
    assert extract_citations(too_wide, valid) == ("x", [])


# --- properties --------------------------------------------------------------------------------

# The marker grammar, written independently of the implementation.
_N = r"[0-9]{1,3}"
_LIST = rf"{_N}(?:[ \t]*[-–][ \t]*{_N})?(?:[ \t]*[,;][ \t]*{_N}(?:[ \t]*[-–][ \t]*{_N})?)*"
_GRAMMAR = re.compile(rf"\[[ \t]*{_LIST}[ \t]*\](?!\()|【[ \t]*{_LIST}[ \t]*】")
_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]+`", re.DOTALL)

pieces = st.one_of(
    st.sampled_from(
        [" ", "  ", ".", ",", "\n", "(", ")", "[", "]", "[Music]", "](x)", "`", "```", "-", "ab"]
    ),
    st.integers(0, 12).map(lambda n: f"[{n}]"),
    st.lists(st.integers(0, 12), min_size=1, max_size=3).map(
        lambda ns: "[" + ", ".join(map(str, ns)) + "]"
    ),
    st.tuples(st.integers(0, 12), st.integers(0, 30)).map(lambda ab: f"[{ab[0]}-{ab[1]}]"),
    st.integers(0, 12).map(lambda n: f"【{n}】"),
    st.text(alphabet="[]()0123456789,;-– .`\n【】a", max_size=6),
)
answers = st.lists(pieces, max_size=25).map("".join)
valid_sets = st.sets(st.integers(0, 12), max_size=6)


def markers_outside_code(text: str) -> list[str]:
    code = [m.span() for m in _CODE.finditer(text)]
    return [
        m.group()
        for m in _GRAMMAR.finditer(text)
        if not any(start <= m.start() < end for start, end in code)
    ]


@given(answers, valid_sets)
@example("x [7] [1] y", {1})
@example("[[7]1]", {2})
@example("a [1-30] b", {1, 2})
def test_every_marker_left_is_a_single_valid_citation(answer: str, valid: set[int]) -> None:
    cleaned, cited = extract_citations(answer, valid)
    left = markers_outside_code(cleaned)
    for marker in left:
        assert re.fullmatch(r"\[[0-9]{1,3}\]", marker), marker
        assert int(marker[1:-1]) in valid
    assert cited == list(dict.fromkeys(int(marker[1:-1]) for marker in left))


@given(answers, valid_sets)
def test_cited_numbers_are_valid_unique_and_present(answer: str, valid: set[int]) -> None:
    cleaned, cited = extract_citations(answer, valid)
    assert len(cited) == len(set(cited))
    for number in cited:
        assert number in valid
        assert f"[{number}]" in cleaned


@given(answers, valid_sets)
def test_extract_citations_is_idempotent(answer: str, valid: set[int]) -> None:
    cleaned, cited = extract_citations(answer, valid)
    assert extract_citations(cleaned, valid) == (cleaned, cited)


@given(st.text(alphabet="ab .,()\n", max_size=40), valid_sets)
def test_text_without_markers_is_unchanged(answer: str, valid: set[int]) -> None:
    assert extract_citations(answer, valid) == (answer, [])
