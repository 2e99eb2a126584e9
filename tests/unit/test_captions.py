from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.video_rag.domain import captions as captions_module
from services.video_rag.domain.captions import (
    MAX_TRANSCRIPT_CHARS,
    Caption,
    TranscriptFormatError,
    clean_caption_text,
    parse_transcript,
)


def texts_and_times(captions: list[Caption]) -> list[tuple[str, float, float]]:
    return [(c.text, c.start, c.end) for c in captions]


# --- Caption -------------------------------------------------------------------------------


def test_caption_end_is_start_plus_duration() -> None:
    assert Caption("hi", 1.5, 2.25).end == 3.75
    assert Caption("hi", 0, 0).end == 0


@pytest.mark.parametrize(
    ("start", "duration"),
    [(-0.1, 1.0), (float("nan"), 1.0), (float("inf"), 1.0), (0.0, -1.0), (0.0, float("inf"))],
)
def test_caption_rejects_impossible_times(start: float, duration: float) -> None:
    with pytest.raises(ValueError, match=r"caption (start|duration)"):
        Caption("hi", start, duration)


# --- clean_caption_text --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("plain text", "plain text"),
        ("  lots \n of\t\twhite   space \r\n", "lots of white space"),
        ("Tom &amp; Jerry", "Tom & Jerry"),
        ("it&#39;s", "it's"),
        ("it&amp;#39;s", "it's"),  # YouTube double escaping
        ("a&nbsp;b", "a b"),
        ("&lt;3 you", "<3 you"),
        ("a &lt; b", "a < b"),
        ("<i>italic</i> and <b>bold</b>", "italic and bold"),
        ('<font color="#ffffff">white</font>', "white"),
        ("<v Roger Bingham>We are in New York City", "We are in New York City"),
        ("<c.colorE5E5E5>so</c><00:00:01.000><c> today</c>", "so today"),
        ("<00:01.500>word", "word"),
        ("line one<br>line two<br/>three", "line one line two three"),
        ("[Music]", ""),
        ("[Applause] thank you [Laughter]", "thank you"),
        ("what the [ __ ] is this", "what the is this"),
        ("see item [2] here", "see item [2] here"),
        ("(music)", ""),
        ("(upbeat music) welcome back", "welcome back"),
        ("(audience laughing)", ""),
        ("(and I mean it) seriously", "(and I mean it) seriously"),
        ("♪ la la la ♪", "la la la"),
        ("♪♪♪", ""),
        (">> SPEAKER: hello", "SPEAKER: hello"),
        ("&gt;&gt; hello", "hello"),
        ("a >> b", "a b"),
        ("5 > 3", "5 > 3"),
        ("nul\x00 byte", "nul byte"),
        ("bell\x07 and\x1bescape", "bell andescape"),
        ("zero\u200bwidth\ufeff", "zerowidth"),
        ("bidi \u202etrick\u202c", "bidi trick"),
        ("lone \ud800 surrogate", "lone surrogate"),
        ("\x85next line", "next line"),
        ("", ""),
        ("   ", ""),
        ("Ünïcödé — “quotes” 日本語", "Ünïcödé — “quotes” 日本語"),
    ],
)
def test_clean_caption_text(raw: str, expected: str) -> None:
    assert clean_caption_text(raw) == expected


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=8),
            st.sampled_from(
                ["[Music]", "<i>", "</i>", "&amp;", "&#39;", "♪", "(music)", " ", "\n", "\x00"]
            ),
        ),
        max_size=12,
    ).map("".join)
)
def test_cleaned_text_is_single_spaced_and_control_free(raw: str) -> None:
    cleaned = clean_caption_text(raw)
    assert cleaned == cleaned.strip()
    assert "  " not in cleaned
    assert cleaned == " ".join(cleaned.split())
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in cleaned)
    assert not any(0xD800 <= ord(ch) <= 0xDFFF or ch in "\u200b\ufeff\u202e" for ch in cleaned)
    assert "[Music]" not in cleaned
    assert "<i>" not in cleaned
    cleaned.encode("utf-8")  # storable


# --- WebVTT --------------------------------------------------------------------------------

YOUTUBE_STYLE_VTT = "\n".join(
    [
        "WEBVTT",
        "Kind: captions",
        "Language: en",
        "",
        "00:00:00.000 --> 00:00:02.750 align:start position:0%",
        " ",
        "so<00:00:00.599><c> today</c><00:00:00.880><c> we're</c><00:00:01.120><c> going</c>",
        "",
        "00:00:02.750 --> 00:00:02.760 align:start position:0%",
        "so today we're going",
        " ",
        "",
        "00:00:02.760 --> 00:00:05.000 align:start position:0%",
        "[Music]",
        "",
        "00:00:05.000 --> 00:00:07.500 align:start position:0%",
        "to talk about&nbsp;caching",
        "",
    ]
)


def test_youtube_style_vtt() -> None:
    captions = parse_transcript("vtt", YOUTUBE_STYLE_VTT)
    assert texts_and_times(captions) == [
        ("so today we're going", 0.0, 2.75),
        ("so today we're going", 2.75, 2.76),
        ("to talk about caching", 5.0, 7.5),
    ]


def test_full_featured_vtt() -> None:
    content = (
        "\ufeffWEBVTT - Lecture 1\n"
        "\n"
        "STYLE\n"
        "::cue { color: yellow }\n"
        "\n"
        "REGION\n"
        "id:fred width:40%\n"
        "\n"
        "NOTE a comment\n"
        "spanning two lines\n"
        "\n"
        "NOTE\n"
        "another comment\n"
        "\n"
        "intro\n"
        "00:01.000 --> 00:04.000 line:0 position:20% size:60% align:start\n"
        "<v Speaker One>Hello &amp; welcome,</v>\n"
        "<i>everyone</i>!\n"
        "\n"
        "\n"
        "2\n"
        "01:02:03.456 --> 01:02:05.000\n"
        "Second cue\n"
        "00:00:06.000 --> 00:00:07.000\n"
        "Third cue without a blank line before it\n"
    )
    captions = parse_transcript("vtt", content)
    assert [c.text for c in captions] == [
        "Hello & welcome, everyone!",
        "Second cue",
        "Third cue without a blank line before it",
    ]
    assert captions[0].start == 1.0
    assert captions[0].duration == 3.0
    assert captions[1].start == pytest.approx(3723.456)
    assert captions[1].end == pytest.approx(3725.0)


def test_vtt_tolerates_crlf_comma_fractions_and_a_cue_right_after_the_header() -> None:
    content = (
        "WEBVTT\r\n00:00:01,500 --> 00:00:02,000\r\nHi\r\n\r\n00:00:03.5 --> 00:00:04\r\nyo\r\n"
    )
    assert texts_and_times(parse_transcript("VTT", content)) == [
        ("Hi", 1.5, 2.0),
        ("yo", 3.5, 4.0),
    ]


def test_vtt_drops_empty_cues_but_keeps_the_rest() -> None:
    content = "WEBVTT\n\n00:00.000 --> 00:01.000\n♪♪\n\n00:01.000 --> 00:02.000\nwords\n"
    assert [c.text for c in parse_transcript("vtt", content)] == ["words"]


# --- SRT -----------------------------------------------------------------------------------


def test_srt_sample() -> None:
    content = (
        "1\r\n"
        "00:00:01,000 --> 00:00:03,500\r\n"
        "<i>Hello</i> there,\r\n"
        '<font color="#ff0000">General</font> <b>Kenobi</b>\r\n'
        "\r\n"
        "\r\n"
        "\r\n"
        "2\r\n"
        "00:00:04,000 --> 00:00:05,000 X1:100 X2:200 Y1:10 Y2:20\r\n"
        "It&#39;s over\r\n"
        "\r\n"
        "00:00:06.000 --> 00:00:07,250\r\n"
        "no number, dot instead of comma\r\n"
    )
    assert texts_and_times(parse_transcript("srt", content)) == [
        ("Hello there, General Kenobi", 1.0, 3.5),
        ("It's over", 4.0, 5.0),
        ("no number, dot instead of comma", 6.0, 7.25),
    ]


def test_srt_blank_line_inside_a_cue_and_a_detached_number() -> None:
    content = (
        "1\n00:00:01,000 --> 00:00:02,000\nfirst part\n\nsecond part\n\n"
        "2\n\n00:00:03,000 --> 00:00:04,000\nnext\n"
        "3\n00:00:05,000 --> 00:00:06,000\nlast\n\n\n"
    )
    assert [c.text for c in parse_transcript("srt", content)] == [
        "first part second part",
        "next",
        "last",
    ]


def test_srt_numbers_inside_text_are_text() -> None:
    content = "00:00:01,000 --> 00:00:02,000\nthe year was\n1984\n"
    assert [c.text for c in parse_transcript("srt", content)] == ["the year was 1984"]


# --- segments ------------------------------------------------------------------------------


def test_segments() -> None:
    content = [
        {"text": "Hello &amp; welcome", "start": 0, "duration": 2.5},
        {"text": "no duration", "start": 2.5},
        {"text": "with end", "start": 3, "end": 4.5, "speaker": "ignored"},
        {"text": "both, consistent", "start": 5, "duration": 1, "end": 6.0004},
        {"text": "[Music]", "start": 7, "duration": 1},
        {"text": "null duration", "start": 8, "duration": None},
    ]
    assert texts_and_times(parse_transcript("segments", content)) == [
        ("Hello & welcome", 0.0, 2.5),
        ("no duration", 2.5, 2.5),
        ("with end", 3.0, 4.5),
        ("both, consistent", 5.0, 6.0),
        ("null duration", 8.0, 8.0),
    ]


def test_segments_accept_a_tuple() -> None:
    assert [c.text for c in parse_transcript("segments", ({"text": "a", "start": 1},))] == ["a"]


# --- errors --------------------------------------------------------------------------------

CUE = "00:00:01.000 --> 00:00:02.000\nhi\n"


FORMATS = "'vtt', 'srt', 'segments' or 'text'"


@pytest.mark.parametrize(
    ("fmt", "content", "message"),
    [
        (
            "txt",
            "x",
            "unsupported transcript format 'txt'; expected 'vtt', 'srt', 'segments' or 'text'",
        ),
        ("", "x", "unsupported transcript format ''; expected 'vtt', 'srt', 'segments' or 'text'"),
        ("vtt", b"WEBVTT", "vtt content must be a string"),
        ("srt", ["x"], "srt content must be a string"),
        ("vtt", "", "line 1: expected the 'WEBVTT' header"),
        ("vtt", CUE, "line 1: expected the 'WEBVTT' header"),
        ("vtt", "WEBVTTX\n\n" + CUE, "line 1: expected the 'WEBVTT' header"),
        ("vtt", "WEBVTT\n", "transcript contains no captions"),
        ("srt", "", "transcript contains no captions"),
        ("srt", "\n\n  \n", "transcript contains no captions"),
        ("vtt", "WEBVTT\n\nNOTE only a note\n", "transcript contains no captions"),
        (
            "vtt",
            "WEBVTT\n\n00:00.000 --> 00:01.000\n[Music]\n",
            "transcript contains no caption text",
        ),
        ("srt", "1\n00:00:01,000 --> 00:00:02,000\n\n", "transcript contains no caption text"),
        (
            "srt",
            "hello\nworld\n",
            "line 1: expected a cue timing line like '00:00:01.000 --> 00:00:04.000', got 'hello'",
        ),
        (
            "vtt",
            "WEBVTT\n\njust text\n",
            "line 3: expected a cue timing line like '00:00:01.000 --> 00:00:04.000', "
            "got 'just text'",
        ),
        (
            "srt",
            "1\n00:00:01,000 -> 00:00:02,000\nhi\n",
            "line 2: invalid cue timing line '00:00:01,000 -> 00:00:02,000'; "
            "expected '00:00:01.000 --> 00:00:04.000'",
        ),
        (
            "srt",
            CUE + "\n" + "00:00:0x.000 --> 00:00:05.000\nbye\n",
            "line 4: invalid timestamp '00:00:0x.000'",
        ),
        ("srt", "00:00:01.000 --> 00:00:61.000\nhi", "line 1: invalid timestamp '00:00:61.000'"),
        ("srt", "00:60:01.000 --> 00:61:00.000\nhi", "line 1: invalid timestamp '00:60:01.000'"),
        ("srt", "00:00:01.0000 --> 00:00:02.000\nhi", "line 1: invalid timestamp '00:00:01.0000'"),
        ("srt", "1.5 --> 2.5\nhi", "line 1: invalid timestamp '1.5'"),
        ("srt", "-00:00:01.000 --> 00:00:02.000\nhi", "line 1: invalid timestamp '-00:00:01.000'"),
        (
            "srt",
            "9999999:00:00.000 --> 9999999:00:01.000\nhi",
            "line 1: invalid timestamp '9999999:00:00.000'",
        ),
        ("srt", "--> 00:00:02.000\nhi", "line 1: missing start timestamp"),
        ("srt", "00:00:01.000 -->\nhi", "line 1: missing end timestamp"),
        (
            "vtt",
            "WEBVTT\n\n00:00:05.000 --> 00:00:04.000\nhi",
            "line 3: cue ends before it starts ('00:00:05.000' --> '00:00:04.000')",
        ),
        (
            "srt",
            "00:00:01.000 --> " + "9" * 100 + "\nhi",
            "line 1: invalid timestamp '" + "9" * 40 + "…'",
        ),
        ("srt", "\x1b[31m --> 00:00:01.000\nhi", "line 1: invalid timestamp '\\x1b[31m'"),
        ("segments", "text", "segments content must be a list of objects"),
        ("segments", {"text": "a", "start": 0}, "segments content must be a list of objects"),
        ("segments", [], "transcript contains no captions"),
        ("segments", ["a"], "segments[0]: expected an object with 'text' and 'start'"),
        ("segments", [{"start": 0}], "segments[0]: missing 'text'"),
        ("segments", [{"text": 3, "start": 0}], "segments[0]: 'text' must be a string"),
        ("segments", [{"text": "a"}], "segments[0]: missing 'start'"),
        ("segments", [{"text": "a", "start": "0"}], "segments[0]: 'start' must be a number"),
        ("segments", [{"text": "a", "start": True}], "segments[0]: 'start' must be a number"),
        ("segments", [{"text": "a", "start": None}], "segments[0]: 'start' must be a number"),
        (
            "segments",
            [{"text": "a", "start": float("nan")}],
            "segments[0]: 'start' must be a finite number",
        ),
        (
            "segments",
            [{"text": "a", "start": 10**400}],
            "segments[0]: 'start' must be a finite number",
        ),
        ("segments", [{"text": "a", "start": -1}], "segments[0]: 'start' must not be negative"),
        (
            "segments",
            [{"text": "a", "start": 0}, {"text": "b", "start": 1, "duration": -2}],
            "segments[1]: 'duration' must not be negative",
        ),
        (
            "segments",
            [{"text": "a", "start": 0, "duration": float("inf")}],
            "segments[0]: 'duration' must be a finite number",
        ),
        (
            "segments",
            [{"text": "a", "start": 0, "end": "1"}],
            "segments[0]: 'end' must be a number",
        ),
        ("segments", [{"text": "a", "start": 5, "end": 4}], "segments[0]: 'end' is before 'start'"),
        (
            "segments",
            [{"text": "a", "start": 5, "duration": 1, "end": 7}],
            "segments[0]: 'duration' and 'end' disagree",
        ),
        (
            "segments",
            [{"text": "[Music]", "start": 0}, {"text": " ", "start": 1}],
            "transcript contains no caption text",
        ),
    ],
)
def test_format_errors_have_specific_messages(fmt: str, content: object, message: str) -> None:
    with pytest.raises(TranscriptFormatError) as caught:
        parse_transcript(fmt, content)
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


def test_format_must_be_a_string() -> None:
    with pytest.raises(TranscriptFormatError, match=r"^transcript format must be a string$"):
        parse_transcript(None, "")  # type: ignore[arg-type]


def test_an_unsupported_format_name_is_quoted_safely() -> None:
    with pytest.raises(TranscriptFormatError) as caught:
        parse_transcript("x" * 500 + "\x00", "")
    message = str(caught.value)
    assert len(message) < 150
    assert "\x00" not in message


def test_size_limit_on_raw_content() -> None:
    content = "WEBVTT\n\n" + CUE
    content += " " * (MAX_TRANSCRIPT_CHARS - len(content))
    assert [c.text for c in parse_transcript("vtt", content)] == ["hi"]
    with pytest.raises(TranscriptFormatError) as caught:
        parse_transcript("vtt", content + " ")
    assert str(caught.value) == (
        f"transcript is too large: {MAX_TRANSCRIPT_CHARS + 1} characters "
        f"(limit {MAX_TRANSCRIPT_CHARS})"
    )


def test_size_limit_on_segment_text() -> None:
    half = MAX_TRANSCRIPT_CHARS // 2
    segments = [{"text": "a" * half, "start": 0}, {"text": "b" * half, "start": 1}]
    assert len(parse_transcript("segments", segments)) == 2
    segments.append({"text": "c", "start": 2})
    with pytest.raises(TranscriptFormatError) as caught:
        parse_transcript("segments", segments)
    assert str(caught.value) == (
        f"transcript is too large: more than {MAX_TRANSCRIPT_CHARS} characters of text"
    )


@pytest.mark.parametrize("fmt", ["vtt", "srt", "segments", "text"])
def test_caption_count_limit(fmt: str) -> None:
    def srt(count: int) -> str:
        return "".join(f"00:00:0{i}.000 --> 00:00:0{i}.500\ncue {i}\n\n" for i in range(count))

    def content(count: int) -> object:
        if fmt == "segments":
            return [{"text": f"cue {i}", "start": i} for i in range(count)]
        if fmt == "text":
            return "\n\n".join(f"paragraph {i}" for i in range(count))
        return ("WEBVTT\n\n" if fmt == "vtt" else "") + srt(count)

    assert len(parse_transcript(fmt, content(3), max_captions=3)) == 3
    with pytest.raises(
        TranscriptFormatError,
        match=r"^transcript has too many captions \(limit 3, MAX_CAPTIONS_PER_UPLOAD\)$",
    ):
        parse_transcript(fmt, content(4), max_captions=3)


def test_the_real_caption_count_limit() -> None:
    cue = "00:00.000 --> 00:00.000\na\n\n"
    content = "WEBVTT\n\n" + cue * (captions_module.MAX_CAPTIONS + 1)
    with pytest.raises(TranscriptFormatError, match="too many captions"):
        parse_transcript("vtt", content, max_chars=len(content))


# --- round trip ----------------------------------------------------------------------------

words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCXYZ0123456789.,!?'\"-:;/é日", min_size=1)
cue_texts = st.lists(st.lists(words, min_size=1, max_size=4).map(" ".join), min_size=1, max_size=3)
cues_strategy = st.lists(
    st.tuples(
        cue_texts,
        st.integers(min_value=0, max_value=10 * 3600 * 1000),
        st.integers(min_value=0, max_value=60_000),
    ),
    min_size=1,
    max_size=15,
)


def _timestamp(ms: int, separator: str, *, short: bool = False) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    if short and hours == 0:
        return f"{minutes:02d}:{seconds:02d}{separator}{millis:03d}"
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def write_vtt(cues: list[tuple[list[str], int, int]]) -> str:
    blocks = ["WEBVTT"]
    for index, (lines, start, duration) in enumerate(cues):
        timing = f"{_timestamp(start, '.', short=True)} --> {_timestamp(start + duration, '.')}"
        identifier = [f"cue-{index}"] if index % 2 else []
        blocks.append("\n".join([*identifier, timing + " align:start", *lines]))
    return "\n\n".join(blocks) + "\n"


def write_srt(cues: list[tuple[list[str], int, int]]) -> str:
    blocks = []
    for index, (lines, start, duration) in enumerate(cues, start=1):
        timing = f"{_timestamp(start, ',')} --> {_timestamp(start + duration, ',')}"
        blocks.append("\r\n".join([str(index), timing, *lines]))
    return "\r\n\r\n".join(blocks) + "\r\n"


@settings(max_examples=60, deadline=None)
@given(cues_strategy, st.sampled_from(["vtt", "srt"]))
def test_round_trip_through_a_writer(cues: list[tuple[list[str], int, int]], fmt: str) -> None:
    content = write_vtt(cues) if fmt == "vtt" else write_srt(cues)
    parsed = parse_transcript(fmt, content)
    assert len(parsed) == len(cues)
    for caption, (lines, start_ms, duration_ms) in zip(parsed, cues, strict=True):
        assert caption.text == " ".join(" ".join(lines).split())
        assert abs(caption.start - start_ms / 1000) < 0.001
        assert abs(caption.end - (start_ms + duration_ms) / 1000) < 0.001


@settings(max_examples=60, deadline=None)
@given(cues_strategy)
def test_segments_round_trip(cues: list[tuple[list[str], int, int]]) -> None:
    segments = [
        {"text": "\n".join(lines), "start": start / 1000, "duration": duration / 1000}
        for lines, start, duration in cues
    ]
    parsed = parse_transcript("segments", segments)
    assert [c.text for c in parsed] == [" ".join(" ".join(lines).split()) for lines, _, _ in cues]
    assert all(
        c.start == s["start"] and c.duration == s["duration"]
        for c, s in zip(parsed, segments, strict=True)
    )
