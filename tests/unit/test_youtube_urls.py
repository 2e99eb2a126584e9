from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.video_rag.domain.youtube_urls import (
    VIDEO_ID_PATTERN,
    parse_video_reference,
    watch_url,
)

ID = "GJLlxj_dtq8"
OTHER = "dQw4w9WgXcQ"

ACCEPTED = [
    # watch?v= in all its dresses
    f"https://www.youtube.com/watch?v={ID}",
    f"http://www.youtube.com/watch?v={ID}",
    f"https://youtube.com/watch?v={ID}",
    f"youtube.com/watch?v={ID}",
    f"www.youtube.com/watch?v={ID}",
    f"//www.youtube.com/watch?v={ID}",
    f"https://m.youtube.com/watch?v={ID}",
    f"https://music.youtube.com/watch?v={ID}&feature=share",
    f"HTTPS://WWW.YOUTUBE.COM/watch?v={ID}",
    f"https://WWW.YouTube.com/watch?v={ID}",
    f"https://www.youtube.com/watch?feature=share&v={ID}&list=PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG&index=3&t=1m2s",
    f"https://www.youtube.com/watch?v={ID}#t=30",
    f"https://www.youtube.com/watch?v={ID}&v={ID}",
    f"https://www.youtube.com/watch/?v={ID}",
    f"https://www.youtube.com/watch?v={ID}&t=84s",
    f"  https://www.youtube.com/watch?v={ID}\n",
    f"\thttps://www.youtube.com/watch?v={ID}  ",
    "https://www.youtube.com/watch?v=GJLlxj%5Fdtq8",
    f"https://www.youtube.com/watch/{ID}",
    # path forms
    f"https://www.youtube.com/shorts/{ID}",
    f"https://youtube.com/shorts/{ID}?feature=share",
    f"https://www.youtube.com/embed/{ID}",
    f"https://www.youtube.com/embed/{ID}?start=10&autoplay=1",
    f"https://www.youtube.com/live/{ID}?si=abcDEF123",
    f"https://www.youtube.com/v/{ID}",
    f"https://www.youtube.com/e/{ID}",
    f"https://www.youtube.com/shorts/{ID}/",
    f"https://www.youtube.com/embed/{ID}?v={ID}",
    f"https://www.youtube-nocookie.com/embed/{ID}",
    f"youtube-nocookie.com/embed/{ID}?rel=0",
    # youtu.be
    f"https://youtu.be/{ID}",
    f"youtu.be/{ID}",
    f"http://youtu.be/{ID}",
    f"https://youtu.be/{ID}?t=42",
    f"https://youtu.be/{ID}?si=Xy12_ab-CD&t=42",
    f"https://youtu.be/{ID}/",
    f"https://YOUTU.BE/{ID}#t=1m",
    # a bare id
    ID,
    f"  {ID}  ",
    "a-b_c-d_e-F",
]

REJECTED = [
    "",
    "   ",
    "hello world",
    # wrong length or alphabet
    "GJLlxj_dtq",
    "GJLlxj_dtq8x",
    "GJLlxj$dtq8",
    "GJLlxj dtq8",
    f"https://www.youtube.com/watch?v={ID[:10]}",
    f"https://www.youtube.com/watch?v={ID}x",
    "https://www.youtube.com/watch?v=GJLlxj.dtq8",
    f"https://youtu.be/{ID}x",
    f"https://www.youtube.com/shorts/{ID[:10]}",
    # other and look-alike hosts
    f"https://vimeo.com/watch?v={ID}",
    f"https://youtube.com.evil.example/watch?v={ID}",
    f"https://evil-youtube.com/watch?v={ID}",
    f"https://youtube.co/watch?v={ID}",
    f"https://youtu.be.evil.com/{ID}",
    f"https://notyoutube.com/watch?v={ID}",
    f"https://evil.example/youtube.com/watch?v={ID}",
    f"https://gaming.youtube.com.evil/watch?v={ID}",
    f"https://www.youtube.com./watch?v={ID}",
    f"https://www.youtubе.com/watch?v={ID}",  # Cyrillic "е"
    f"https://youtube-noco\u212akie.com/embed/{ID}",  # Kelvin sign lower-cases to "k"
    # userinfo, ports, backslashes
    f"https://youtube.com@evil.example/watch?v={ID}",
    f"https://user:pass@www.youtube.com/watch?v={ID}",
    f"https://evil.example\\@youtube.com/watch?v={ID}",
    f"https://www.youtube.com\\evil.example/watch?v={ID}",
    f"https://www.youtube.com:443/watch?v={ID}",
    f"https://www.youtube.com:80/watch?v={ID}",
    f"https://www.youtube.com:/watch?v={ID}",
    f"youtube.com:8080/watch?v={ID}",
    # other schemes
    f"javascript:alert(1)//youtube.com/watch?v={ID}",
    f"data:text/html,youtube.com/watch?v={ID}",
    f"file:///youtube.com/watch?v={ID}",
    f"ftp://www.youtube.com/watch?v={ID}",
    f"https:www.youtube.com/watch?v={ID}",
    # IP addresses and localhost
    f"http://127.0.0.1/watch?v={ID}",
    f"http://[::1]/watch?v={ID}",
    f"http://localhost/watch?v={ID}",
    # not a single video
    "https://www.youtube.com/playlist?list=PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG",
    "https://www.youtube.com/@somechannel",
    "https://www.youtube.com/channel/UCxxxxxxxxxxxxxxxxxxxxxx",
    f"https://www.youtube.com/c/{ID}",
    f"https://www.youtube.com/user/{ID}",
    "https://www.youtube.com/watch",
    "https://www.youtube.com/watch?list=PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG",
    "https://www.youtube.com/watch?v=",
    "https://www.youtube.com/",
    "https://youtu.be/",
    f"https://www.youtube.com/watch?v={ID}&v={OTHER}",
    f"https://www.youtube.com/embed/{ID}?v={OTHER}",
    f"https://youtu.be/{ID}?v={OTHER}",
    f"https://www.youtube.com/watch#v={ID}",
    f"https://www.youtube.com/WATCH?v={ID}",
    f"https://www.youtube.com/shorts/{ID}/extra",
    f"https://www.youtube.com//watch?v={ID}",
    f"https://www.youtube-nocookie.com/watch?v={ID}",
    f"https://youtu.be/watch?v={ID}",
    f"https://www.youtube.com/watch?v={ID}%00",
    # control characters, spaces inside, oversized input
    f"https://www.youtube.com/watch?v={ID}\x00",
    f"https://www.youtube.com/wa\x00tch?v={ID}",
    f"https://www.you\ttube.com/watch?v={ID}",
    f"https://www.youtube.com/watch ?v={ID}",
    f"{ID}\x7f",
    f"https://www.youtube.com/watch?v={ID}&pad=" + "x" * 2048,
    " " * 2040 + ID,
]


@pytest.mark.parametrize("raw", ACCEPTED)
def test_accepted_references_yield_the_id(raw: str) -> None:
    expected = "a-b_c-d_e-F" if "a-b_c" in raw else ID
    assert parse_video_reference(raw) == expected


@pytest.mark.parametrize("raw", REJECTED)
def test_rejected_references_yield_none(raw: str) -> None:
    assert parse_video_reference(raw) is None


def test_tables_are_large_enough() -> None:
    assert len(ACCEPTED) + len(REJECTED) >= 40


def test_length_limit_is_2048_characters() -> None:
    url = f"https://www.youtube.com/watch?v={ID}&pad="
    assert parse_video_reference(url + "x" * (2048 - len(url))) == ID
    assert parse_video_reference(url + "x" * (2049 - len(url))) is None


def test_watch_url() -> None:
    assert watch_url(ID) == f"https://www.youtube.com/watch?v={ID}"
    assert watch_url(ID, 84.9) == f"https://www.youtube.com/watch?v={ID}&t=84s"
    assert watch_url(ID, 0) == f"https://www.youtube.com/watch?v={ID}&t=0s"
    assert watch_url(ID, 3600.0) == f"https://www.youtube.com/watch?v={ID}&t=3600s"
    assert parse_video_reference(watch_url(ID, 12.5)) == ID


@pytest.mark.parametrize(
    ("video_id", "start"),
    [
        ("short", None),
        (f"{ID}x", None),
        ("GJLlxj dtq8", None),
        (ID, -1.0),
        (ID, float("nan")),
        (ID, float("inf")),
    ],
)
def test_watch_url_rejects_bad_arguments(video_id: str, start: float | None) -> None:
    with pytest.raises(ValueError, match=r"video id|start_seconds"):
        watch_url(video_id, start)


TEMPLATES = [
    "{id}",
    "https://www.youtube.com/watch?v={id}",
    "http://youtube.com/watch?v={id}&t=1m2s",
    "youtube.com/watch?feature=share&v={id}&list=PL123&index=3",
    "https://m.youtube.com/watch?v={id}#t=30",
    "https://music.youtube.com/watch?v={id}",
    "HTTPS://WWW.YOUTUBE.COM/watch?v={id}",
    "https://www.youtube.com/watch/{id}",
    "https://www.youtube.com/shorts/{id}/",
    "https://www.youtube.com/embed/{id}?start=5",
    "https://www.youtube.com/live/{id}",
    "https://www.youtube.com/v/{id}",
    "https://www.youtube.com/e/{id}",
    "https://www.youtube-nocookie.com/embed/{id}",
    "https://youtu.be/{id}?t=42",
    "youtu.be/{id}/",
    "  https://youtu.be/{id}  ",
]

video_ids = st.from_regex(VIDEO_ID_PATTERN, fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(video_ids)
def test_every_accepted_template_parses_back_to_its_id(video_id: str) -> None:
    for template in TEMPLATES:
        assert parse_video_reference(template.format(id=video_id)) == video_id


_url_parts = st.tuples(
    st.sampled_from(["", "https://", "http://", "//", "javascript:", "HTTPS://", "ftp://"]),
    st.sampled_from(
        ["youtube.com", "www.youtube.com", "youtu.be", "youtube-nocookie.com", "evil.example"]
    ),
    st.sampled_from(["", ":443", "@evil.example", ".evil.example"]),
    st.sampled_from(["/watch", "/watch/", "/shorts/", "/embed/", "/", "/playlist", ""]),
    st.text(alphabet="AZaz09_-", max_size=13),
    st.sampled_from(["", "?v=", "?feature=share&v=", "?t=42&v="]),
    st.text(alphabet="GJLlxj_dtq8-%&=#", max_size=14),
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=80), _url_parts.map("".join)))
def test_anything_that_parses_is_a_well_formed_id(raw: str) -> None:
    result = parse_video_reference(raw)
    if result is not None:
        assert VIDEO_ID_PATTERN.fullmatch(result)
        assert result in raw
