"""`/` and the route prefix's own root (`/api`, `/api/`) point at the app's chat page.

The Functions host answers `/` with its default "up and running" page (or a 404 when
`AzureWebJobsDisableHomepage` is true) and `/api` with an empty 404: a function cannot serve
either while `routePrefix` is `api`. Locally, a GET or HEAD of those paths is redirected (302) to
`/<prefix>/ui` when the app serves a function there, with a small JSON body naming the page, the
OpenAPI document and the health check for clients that do not follow redirects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from .asgi import REQUEST_ID_HEADER, choose_request_id

HOME_ROUTE = "ui"


class HomePointer:
    """ASGI wrapper: GET/HEAD of `/`, `/<prefix>` and `/<prefix>/` -> 302 to the page."""

    def __init__(self, app: ASGIApp, route_prefix: str) -> None:
        self.app = app
        base = "/" + route_prefix.strip("/") if route_prefix.strip("/") else ""
        self.roots = frozenset({"/", base, base + "/"} - {""})
        self.location = f"{base}/{HOME_ROUTE}"
        self.body = json.dumps(
            {
                "ui": self.location,
                "openapi": f"{base}/openapi.json",
                "health": f"{base}/health",
            }
        ).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or scope["path"].lower() not in self.roots
        ):
            await self.app(scope, receive, send)
            return
        incoming = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), None
        )
        await send(
            {
                "type": "http.response.start",
                "status": 302,
                "headers": [
                    (b"location", self.location.encode()),
                    (b"content-type", b"application/json; charset=utf-8"),
                    (b"content-length", str(len(self.body)).encode()),
                    (b"cache-control", b"no-store"),
                    (REQUEST_ID_HEADER.lower().encode(), choose_request_id(incoming).encode()),
                ],
            }
        )
        body = b"" if scope["method"] == "HEAD" else self.body
        await send({"type": "http.response.body", "body": body})


def point_home_at_the_page(
    app: ASGIApp, http_functions: Iterable[Any], route_prefix: str
) -> ASGIApp:
    """`app` wrapped in a HomePointer when a function serves the page and none the root."""
    routes = {str(function.route).strip("/").lower() for function in http_functions}
    if HOME_ROUTE not in routes or "" in routes:
        return app
    return HomePointer(app, route_prefix)


__all__ = ["HOME_ROUTE", "HomePointer", "point_home_at_the_page"]
