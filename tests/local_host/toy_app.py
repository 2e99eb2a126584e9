"""A small FunctionApp exercising what the local host must support (used by the tests)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

TIMER_CALLS: list[bool] = []
ECHO_CALLS: list[str] = []


def _json(payload: object, status_code: int = 200) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(payload), status_code=status_code, mimetype="application/json"
    )


@app.route(route="hello", methods=["GET"])
def hello(req: func.HttpRequest) -> func.HttpResponse:
    greeting = os.environ.get("TOY_GREETING", "Hello")
    return func.HttpResponse(f"{greeting}, {req.params.get('name', 'world')}!")


@app.route(route="echo/{item_id}")
async def echo(req: func.HttpRequest) -> func.HttpResponse:
    ECHO_CALLS.append(req.method)
    return _json(
        {
            "method": req.method,
            "url": req.url,
            "route_params": dict(req.route_params),
            "params": dict(req.params),
            "headers": dict(req.headers),
            "body": req.get_body().decode("latin-1"),
            "body_length": len(req.get_body()),
        }
    )


@app.route(route="videos/latest", methods=["GET"])
def videos_latest(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("literal")


@app.route(route="videos/{video_id}", methods=["GET"])
def videos_by_id(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"param:{req.route_params['video_id']}")


@app.route(route="items/{id:int}", methods=["GET"])
def item_by_number(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"int:{req.route_params['id']}")


@app.route(route="items/{name}", methods=["GET"])
def item_by_name(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"name:{req.route_params['name']}")


@app.route(route="files/{*path}", methods=["GET"])
def files(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"catch-all:{req.route_params.get('path', '')}")


@app.route(route="files/readme", methods=["GET"])
def files_readme(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("readme")


@app.route(route="optional/{page?}", methods=["GET"])
def optional_page(req: func.HttpRequest) -> func.HttpResponse:
    return _json(dict(req.route_params))


@app.route(route="things", methods=[func.HttpMethod.POST])
def create_thing(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.get_body(), status_code=201, mimetype="application/octet-stream")


@app.route(route="things", methods=["GET"])
def list_things(req: func.HttpRequest) -> func.HttpResponse:
    return _json([])


@app.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("secret internal detail")


@app.route(route="wrong-type", methods=["GET"])
def wrong_type(req: func.HttpRequest) -> func.HttpResponse:
    return {"not": "a response"}  # type: ignore[return-value]


@app.route(route="content/{kind}", methods=["GET"])
def content(req: func.HttpRequest) -> func.HttpResponse:
    kind = req.route_params["kind"]
    if kind == "json":
        return func.HttpResponse('{"a": 1}', mimetype="application/json", charset="utf-8")
    if kind == "html":
        return func.HttpResponse("<p>é</p>", mimetype="text/html", charset="iso-8859-1")
    if kind == "explicit":
        return func.HttpResponse(
            "{}",
            mimetype="application/json",
            headers={"Content-Type": "application/problem+json"},
        )
    return func.HttpResponse("plain")


@app.route(route="headers", methods=["GET"])
def headers(req: func.HttpRequest) -> func.HttpResponse:
    response = func.HttpResponse(
        "ok",
        status_code=202,
        headers={"X-Request-Id": "from-function", "X-Custom": "1", "Retry-After": "5"},
    )
    response.headers.add_header("Set-Cookie", "a=1; Path=/")
    response.headers.add_header("Set-Cookie", "b=2; Path=/")
    return response


@app.route(route="text", methods=["GET"])
def text(req: func.HttpRequest) -> str:
    return "just a string"


@app.route(route="context", methods=["GET"])
def with_context(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return _json({"function_name": context.function_name, "id": context.invocation_id})


@app.function_name(name="custom_name")
@app.route(methods=["GET"])
def named_function(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("named")


@app.timer_trigger(schedule="%TOY_TIMER_SCHEDULE%", arg_name="mytimer", run_on_startup=True)
def toy_timer(mytimer: func.TimerRequest) -> None:
    TIMER_CALLS.append(mytimer.past_due)
    marker = os.environ.get("TOY_TIMER_MARKER")
    if marker:
        with Path(marker).open("a", encoding="utf-8") as handle:
            handle.write("fired\n")
