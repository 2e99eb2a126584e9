"""GET /api/openapi.json: the OpenAPI 3.1 document of every route (anonymous).

`ROUTES` is every HTTP route of the app, in the document's order (docs/API.md's): the document,
the request collections and the functions' registration all come from these declarations.
"""

from __future__ import annotations

import functools
from typing import Any

import azure.functions as func

from services.video_rag.api.functions import chat, health, legacy, sessions, ui, videos
from services.video_rag.api.http import json_response
from services.video_rag.api.openapi import JSON, build_openapi
from services.video_rag.api.routes import Operation, RawBody, Reply, Route, register

bp = func.Blueprint()


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The document of `ROUTES`, built on first use and cached for the life of the process.

    The returned dict is shared: treat it as read-only (copy it before changing it)."""
    return build_openapi(ROUTES)


def get_openapi(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(openapi_document())


OPENAPI = Route(
    "openapi",
    "/openapi.json",
    "meta",
    Operation(
        "GET",
        get_openapi,
        "getOpenApi",
        "This OpenAPI document",
        replies=(
            Reply(
                200,
                "The OpenAPI 3.1 document of every route.",
                # No `type`: generators then hand back the parsed JSON, not a class of its own.
                RawBody(
                    JSON,
                    {
                        "description": "an OpenAPI 3.1 document (a JSON object with `openapi`, "
                        "`info`, `paths`)"
                    },
                ),
            ),
        ),
        session="none",
    ),
)
register(bp, (OPENAPI,))

ROUTES: tuple[Route, ...] = (
    *sessions.ROUTES,
    *videos.ROUTES,
    *chat.ROUTES,
    *health.ROUTES,
    OPENAPI,
    *ui.ROUTES,
    *legacy.ROUTES,
)
"""Every HTTP route of the app, in the document's order."""
