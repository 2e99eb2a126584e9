"""The HTTP/1.1 protocol of the local host: uvicorn's h11 protocol, whose answer to a request it
cannot parse (a NUL or other control character in a header, a raw byte that is not ASCII in the
path, a malformed request line) is the app's JSON error instead of uvicorn's plain text."""

from __future__ import annotations

import json
import logging
import uuid

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger("local_host")

MALFORMED_MESSAGE = (
    "the HTTP request is malformed (control characters in a header, a path that is not "
    "ASCII or percent-encoded, or a broken request line)"
)


class JsonErrorH11Protocol(H11Protocol):
    """H11Protocol, with malformed requests answered 400 `validation_error` in JSON."""

    def send_400_response(self, msg: str) -> None:
        request_id = uuid.uuid4().hex
        logger.info("malformed HTTP request (%s); request id %s", msg, request_id)
        body = json.dumps(
            {
                "error": {
                    "code": "validation_error",
                    "message": MALFORMED_MESSAGE,
                    "request_id": request_id,
                }
            }
        ).encode()
        headers = [
            (b"content-type", b"application/json; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
            (b"x-request-id", request_id.encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()
