"""Invoke the registered Azure functions directly, the way the Functions host would."""

from __future__ import annotations

import json
import threading
from typing import Any

import azure.functions as func
from azure.functions.decorators.http import HttpTrigger

_registered: dict[str, Any] = {}
_registered_lock = threading.Lock()


def registered_functions() -> dict[str, Any]:
    """Function name -> azure.functions Function, read once per process (get_functions() cannot
    run twice), safely from several threads."""
    with _registered_lock:
        if not _registered:
            import function_app

            _registered.update(
                {str(f.get_function_name()): f for f in function_app.app.get_functions()}
            )
    return _registered


def http_functions_by_route() -> dict[str, Any]:
    return {
        str(f.get_trigger().route): f
        for f in registered_functions().values()
        if isinstance(f.get_trigger(), HttpTrigger)
    }


def invoke(
    method: str,
    route: str,
    *,
    json_body: Any = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    route_params: dict[str, str] | None = None,
) -> func.HttpResponse:
    """Call the function registered for `route` (a route template) with an HttpRequest."""
    function = http_functions_by_route()[route]
    if json_body is not None:
        body = json.dumps(json_body).encode()
    request = func.HttpRequest(
        method,
        f"http://localhost:7071/api/{route}",
        headers=headers or {},
        params=params or {},
        route_params=route_params or {},
        body=body or b"",
    )
    response: func.HttpResponse = function.get_user_function()(request)
    return response


def body_of(response: func.HttpResponse) -> Any:
    """The parsed JSON body of a response (asserting it is JSON)."""
    assert response.mimetype == "application/json", response.mimetype
    return json.loads(response.get_body())
