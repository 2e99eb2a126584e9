"""Which X-Forwarded-For entry names the client, and how addresses are normalized."""

from __future__ import annotations

import hashlib

import pytest

from services.video_rag.domain.clients import client_address, client_hash


@pytest.mark.parametrize(
    ("header", "hops", "expected"),
    [
        (None, 1, None),
        ("", 1, None),
        (" , ", 1, None),
        ("203.0.113.7", 1, "203.0.113.7"),
        ("203.0.113.7:51234", 1, "203.0.113.7"),  # App Service writes the port
        ("1.1.1.1, 2.2.2.2, 203.0.113.7:443", 1, "203.0.113.7"),  # the caller's entries: ignored
        ("1.1.1.1, 198.51.100.2, 203.0.113.7", 2, "198.51.100.2"),  # Front Door, then App Service
        ("198.51.100.2", 3, "198.51.100.2"),  # fewer entries than hops: the leftmost
        ("[2001:db8:1:2::10]:443", 1, "2001:db8:1:2::/64"),  # IPv6: its /64
        ("2001:db8:1:2:ffff::1", 1, "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", 1, "203.0.113.7"),  # IPv4-mapped
        ("not-an-address", 1, "not-an-address"),
        ("x" * 500, 1, "x" * 100),
    ],
)
def test_the_trusted_entry_names_the_client(header: str | None, hops: int, expected: str) -> None:
    assert client_address(header, hops) == expected


def test_only_a_hash_is_kept() -> None:
    assert client_hash("203.0.113.7") == hashlib.sha256(b"203.0.113.7").digest()
    assert client_hash(None) == client_hash("unknown")
