"""A small FunctionApp shaped like the real one (HTTP-streams functions and a timer), with the
cases the local host must tell apart (used by the tests)."""

from __future__ import annotations

import os
from pathlib import Path

import azure.functions as func
from azurefunctions.extensions.http.fastapi import (
    JSONResponse,
    PlainTextResponse,
    Request,
    Response,
)

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

TIMER_CALLS: list[bool] = []
ECHO_CALLS: list[str] = []
BODY_LIMIT = 16


@app.route(route="hello", methods=["GET"])
async def hello(req: Request) -> Response:
    greeting = os.environ.get("TOY_GREETING", "Hello")
    return PlainTextResponse(f"{greeting}, {req.query_params.get('name', 'world')}!")


@app.route(route="echo/{item_id}")
async def echo(req: Request) -> Response:
    ECHO_CALLS.append(req.method)
    body = await req.body()
    return JSONResponse(
        {
            "method": req.method,
            "path_params": dict(req.path_params),
            "query": list(req.query_params.multi_items()),
            "forwarded_for": req.headers.getlist("x-forwarded-for"),
            "body": body.decode("latin-1"),
        }
    )


@app.route(route="videos/latest", methods=["GET"])
async def videos_latest(req: Request) -> Response:
    return PlainTextResponse("literal")


@app.route(route="videos/{video_id}", methods=["GET"])
async def videos_by_id(req: Request) -> Response:
    return PlainTextResponse(f"param:{req.path_params['video_id']}")


@app.route(route="things", methods=[func.HttpMethod.POST])
async def create_thing(req: Request) -> Response:
    return Response(await req.body(), status_code=201, media_type="application/octet-stream")


@app.route(route="things", methods=["GET"])
async def list_things(req: Request) -> Response:
    return JSONResponse([])


@app.route(route="upload", methods=["POST"])
async def upload(req: Request) -> Response:
    """Refuses a body declared larger than BODY_LIMIT before reading any of it, as the app does."""
    if int(req.headers.get("content-length", "0")) > BODY_LIMIT:
        return JSONResponse({"error": {"code": "payload_too_large"}}, status_code=413)
    return JSONResponse({"length": len(await req.body())})


@app.route(route="boom", methods=["GET"])
async def boom(req: Request) -> Response:
    raise RuntimeError("secret internal detail")


@app.route(route="wrong-type", methods=["GET"])
async def wrong_type(req: Request) -> object:
    return {"not": "a response"}


@app.route(route="headers", methods=["GET"])
async def headers(req: Request) -> Response:
    response = PlainTextResponse(
        "ok", status_code=202, headers={"X-Request-Id": "from-function", "Retry-After": "5"}
    )
    response.headers.append("Set-Cookie", "a=1; Path=/")
    response.headers.append("Set-Cookie", "b=2; Path=/")
    return response


@app.function_name(name="custom_name")
@app.route(methods=["GET"])
async def named_function(req: Request) -> Response:
    return PlainTextResponse("named")


@app.route(route="classic", methods=["GET"])
def classic(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("a classic function: not served by the local host")


@app.route(route="files/{*path}", methods=["GET"])
async def catch_all(req: Request) -> Response:
    return PlainTextResponse("an ASP.NET catch-all: not served by the local host")


@app.timer_trigger(schedule="%TOY_TIMER_SCHEDULE%", arg_name="mytimer", run_on_startup=True)
def toy_timer(mytimer: func.TimerRequest) -> None:
    TIMER_CALLS.append(mytimer.past_due)
    marker = os.environ.get("TOY_TIMER_MARKER")
    if marker:
        with Path(marker).open("a", encoding="utf-8") as handle:
            handle.write("fired\n")
