"""Who a client is, for the per-client limits: its address as the trusted proxies reported it.

Behind Azure's front ends the worker never sees the caller's socket: the front end (App Service /
Functions) appends the address it accepted the connection from to `X-Forwarded-For`, after
whatever the caller sent there. Only entries appended by proxies we trust are believed: the
`hops`-th entry from the right (1: Azure's front end; 2 with Azure Front Door or Application
Gateway in front of it, which append the caller's address before the front end appends theirs).
Everything to the left of it is whatever the caller chose to send.
"""

from __future__ import annotations

import hashlib
import ipaddress

FORWARDED_FOR_HEADER = "X-Forwarded-For"
# One IPv6 client usually holds a whole /64: counting per address would let it rotate freely.
IPV6_CLIENT_PREFIX = 64


def client_address(forwarded_for: str | None, hops: int) -> str | None:
    """The client's address from an `X-Forwarded-For` value: its `hops`-th entry from the right
    (the leftmost when there are fewer), normalized; None when there is none."""
    entries = [entry.strip() for entry in (forwarded_for or "").split(",") if entry.strip()]
    if not entries:
        return None
    return normalized(entries[-min(hops, len(entries))])


def normalized(entry: str) -> str:
    """An address without its port (App Service writes `203.0.113.7:51234`), IPv6 reduced to
    its /64 network; anything unparseable as it was written."""
    host = entry
    if entry.startswith("["):  # [2001:db8::1]:443
        host = entry[1 : entry.find("]")] if "]" in entry else entry
    elif entry.count(":") == 1:  # 203.0.113.7:51234
        host = entry.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return entry[:100]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_CLIENT_PREFIX), strict=False))
    return str(address)


def client_hash(address: str | None) -> bytes:
    """What is stored for a client: the SHA-256 of its address, never the address. Callers
    without a known address share one key."""
    return hashlib.sha256((address or "unknown").encode()).digest()
