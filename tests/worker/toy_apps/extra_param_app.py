"""A WRONG toy app: an HTTP-streams function with a parameter no binding provides.

``app.get_functions()`` accepts it; the worker runtime's indexing rejects it (FunctionLoadError).
Used by the harness tests (script="extra_param_app.py").
"""

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="extra", methods=["GET"])
async def extra(req: Request, user_id: str) -> Response:
    return Response(content=user_id.encode())
