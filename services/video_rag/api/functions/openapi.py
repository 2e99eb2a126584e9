"""GET /api/openapi.json: the OpenAPI 3.1 document of every route (anonymous)."""

from __future__ import annotations

import azure.functions as func

from services.video_rag.api.http import http_endpoint, json_response
from services.video_rag.api.openapi import build_openapi

bp = func.Blueprint()


def get_openapi(req: func.HttpRequest) -> func.HttpResponse:
    """The document, built on the first request and cached for the life of the process."""
    return json_response(build_openapi())


ENDPOINT = http_endpoint("openapi", GET=get_openapi)
"""The Azure function (dispatch, error contract, X-Request-Id), for the blueprint and for tests."""

openapi = bp.route(route="openapi.json", auth_level=func.AuthLevel.ANONYMOUS)(ENDPOINT)
