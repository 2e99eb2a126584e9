"""A toy HTTP-streams function app for the worker harness's own tests (not part of the product).

Importing ``azurefunctions.extensions.http.fastapi`` switches the runtime to HTTP streams: the
functions take a FastAPI ``Request`` and return FastAPI responses, served by the runtime's own
uvicorn server. The script is not named function_app.py so that it cannot shadow the real app
(the harness passes ``script="streams_app.py"``, i.e. PYTHON_SCRIPT_FILE_NAME).
"""

import asyncio
import logging
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import azure.functions as func
from azurefunctions.extensions.http.fastapi import (
    JSONResponse,
    Request,
    Response,
    StreamingResponse,
)

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="items/{item_id}", methods=["GET"])
async def get_item(req: Request) -> JSONResponse:
    """Echo what the function sees: route parameters (synced from the invocation), query, URL."""
    return JSONResponse(
        {
            "path_params": dict(req.path_params),
            "query": dict(req.query_params),
            "method": req.method,
            "path": req.url.path,
            "invocation_id": req.headers.get("x-ms-invocation-id"),
        }
    )


@app.route(route="items/latest", methods=["GET"])
async def latest_item(req: Request) -> JSONResponse:
    """A literal route that must win over ``items/{item_id}``."""
    return JSONResponse({"latest": True, "path_params": dict(req.path_params)})


@app.route(route="echo", methods=["POST", "PUT"])
async def echo(req: Request) -> Response:
    """Return the request body unchanged, with its content type and length."""
    body = await req.body()
    return Response(
        content=body,
        media_type=req.headers.get("content-type", "application/octet-stream"),
        headers={"x-body-length": str(len(body)), "x-method": req.method},
    )


@app.route(methods=["GET"])
def hello(req: Request) -> JSONResponse:
    """A synchronous function (runs on the runtime's thread pool) with the default route."""
    return JSONResponse({"hello": req.query_params.get("name", "world")})


@app.route(route="stream", methods=["GET"])
async def stream(req: Request) -> StreamingResponse:
    """Lines produced over time: ``chunk <i> <time produced>``.

    ``count`` lines, ``delay`` seconds apart. With ``gate=<path>`` the stream stops after the first
    line until that file exists (20 s at most), then says ``gate released`` (or ``gate timeout``):
    a client that created the file only after reading the first line proves it was streamed.
    """
    count = int(req.query_params.get("count", "3"))
    delay = float(req.query_params.get("delay", "0.05"))
    gate = req.query_params.get("gate")

    async def lines() -> AsyncIterator[str]:
        yield f"chunk 0 {time.time():.6f}\n"
        if gate:
            deadline = time.monotonic() + 20
            while not Path(gate).exists() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            yield "gate released\n" if Path(gate).exists() else "gate timeout\n"
        for index in range(1, count):
            await asyncio.sleep(delay)
            yield f"chunk {index} {time.time():.6f}\n"

    return StreamingResponse(lines(), media_type="text/plain; charset=utf-8")


@app.route(route="boom", methods=["GET"])
async def boom(req: Request) -> Response:
    """Raise: the invocation fails and the caller gets a 500."""
    raise RuntimeError("boom from the toy app")


@app.route(route="die", methods=["POST"])
async def die(req: Request) -> Response:
    """End the worker process abruptly, as a crash would (for the harness's crash test)."""
    print("toy app: ending the worker process", file=sys.stderr, flush=True)
    os._exit(70)


@app.timer_trigger(schedule="0 0 3 * * *", arg_name="timer", run_on_startup=False)
def nightly(timer: func.TimerRequest) -> None:
    """A non-HTTP trigger, for ``RealWorker.invoke``."""
    logging.info("toy nightly ran, past_due=%s", timer.past_due)
