"""A WRONG toy app: imports the HTTP-streams extension but annotates a trigger func.HttpRequest.

``app.get_functions()`` accepts it; the worker runtime's indexing rejects it (FunctionLoadError),
as Azure does at startup. Used by the harness tests (script="wrong_annotation_app.py").
"""

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="fine", methods=["GET"])
async def fine(req: Request) -> Response:
    return Response(content=b"fine")


@app.route(route="old", methods=["GET"])
async def old_style(req: func.HttpRequest) -> Response:
    return Response(content=b"never served")
