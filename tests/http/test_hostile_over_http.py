"""Hostile requests on a real socket to the local host, where the HTTP adapter is in front."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.db]


def raw_request(base: str, head: str, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Send `head` (request line and headers, no body) and read the whole answer."""
    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=timeout) as connection:
        connection.sendall(head.encode("latin-1"))
        data = b""
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                headers_raw, _, body = data.partition(b"\r\n\r\n")
                lengths = [
                    int(line.split(b":", 1)[1])
                    for line in headers_raw.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ]
                if lengths and len(body) >= lengths[0]:
                    break
    status_line, *header_lines = headers_raw.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)}
    return int(status_line.split()[1]), headers, body


def test_a_huge_declared_body_is_refused_before_it_is_sent(host: str) -> None:
    """500 MB announced, nothing sent: the 413 comes at once (nothing was read or buffered)."""
    path = urlsplit(host).path
    began = time.perf_counter()
    status, headers, body = raw_request(
        host,
        f"POST {path}/sessions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        "Content-Length: 524288000\r\nConnection: close\r\n\r\n",
    )
    assert time.perf_counter() - began < 5
    assert status == 413
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert json.loads(body)["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    "head",
    [
        "GET {path}/health HTTP/1.1\r\nHost: localhost\r\nX-Odd: a\x00b\r\n\r\n",
        "GET {path}/h\xe9alth HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        "GET {path}/health HTTP/9.9 extra\r\nHost: localhost\r\n\r\n",
    ],
    ids=["nul-in-header", "raw-non-ascii-path", "broken-request-line"],
)
def test_a_malformed_request_gets_the_json_error(host: str, head: str) -> None:
    status, headers, body = raw_request(host, head.format(path=urlsplit(host).path))
    assert status == 400
    assert headers["content-type"] == "application/json; charset=utf-8"
    error = json.loads(body)["error"]
    assert error["code"] == "validation_error"
    assert error["request_id"] == headers["x-request-id"]
    assert "malformed" in error["message"]
