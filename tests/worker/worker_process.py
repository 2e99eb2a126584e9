"""Child process: the real Azure Functions Python worker runtime for one app, without the host.

Run as ``python -m tests.worker.worker_process --app-dir DIR [--script FILE]`` from the
repository root. It does what the proxy worker (``azure-functions-python-worker``'s
``proxy_worker/dispatcher.py``) does for a Python 3.13 app, with the gRPC channel replaced by JSON
lines:

1. ``azure_functions_runtime.start_threadpool_executor()``, then ``worker_init_request`` (which
   imports and indexes the app and, for an HTTP-streams app, starts the runtime's own uvicorn
   server), ``functions_metadata_request`` and one ``function_load_request`` per function;
2. it prints one line ``{"event": "ready", "init": {...}, "capabilities": {...},
   "functions": [...]}`` on its protocol channel (the original stdout);
3. it then reads commands from stdin, one JSON object a line, each with an ``"id"``:

   * ``{"id": 1, "invoke": {"function_id" | "name": ..., "invocation_id": ...,
     "input_data": [{"name": ..., "data": <TypedData JSON>}],
     "trigger_metadata": {name: <TypedData JSON>}}}`` runs ``invocation_request`` as a task and
     answers ``{"id": 1, "invocation": {"invocation_id", "function_id", "status" ("Success" |
     "Failure"), "exception": {"message", "stack_trace"} | null, "return_value",
     "output_data"}}`` (or ``{"id": 1, "error": "..."}`` when the runtime itself raised);
   * ``{"id": 2, "shutdown": true}`` (or end of stdin) ends the process at once.

The TypedData JSON forms are in :mod:`tests.worker.wire`. Everything else the process or the app
writes (logging, ``print``, uvicorn's access log) goes to stderr: file descriptor 1 is pointed at
stderr before anything is imported, the protocol keeps a private duplicate of the original one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import threading
import traceback
import uuid
from collections.abc import Sequence
from typing import Any, TextIO
from urllib.parse import urlsplit

from tests.worker import protos
from tests.worker.wire import JsonDict, to_jsonable, typed_data_from_json, typed_data_to_json

READY_TIMEOUT = 30.0
"""Seconds to wait for the runtime's HTTP server to accept connections after worker_init."""

_STATUS_NAMES = {
    protos.StatusResult.Success: "Success",
    protos.StatusResult.Failure: "Failure",
    protos.StatusResult.Cancelled: "Cancelled",
}


def _detach_stdout() -> TextIO:
    """Keep the original stdout for the protocol; send fd 1 (print, uvicorn) to stderr."""
    sys.stdout.flush()
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(protocol_fd, "w", encoding="utf-8", buffering=1)


def _configure_logging() -> None:
    """Root logger at INFO (DEBUG with PYTHON_ENABLE_DEBUG_LOGGING), like the proxy worker.

    The proxy worker forwards these records to the host over gRPC; here they go to stderr.
    """
    debug = os.environ.get("PYTHON_ENABLE_DEBUG_LOGGING", "").strip().lower() in {
        "1",
        "true",
        "t",
        "yes",
        "y",
    }
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)


class WorkerProcess:
    """The loop-side state: the runtime module, the protocol channel and the function table."""

    def __init__(self, app_dir: str, host: str, protocol: TextIO) -> None:
        self.app_dir = app_dir
        self.host = host
        self._protocol = protocol
        self._write_lock = threading.Lock()
        self._functions_by_name: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stop: asyncio.Future[None] | None = None

    def emit(self, message: JsonDict) -> None:
        """Write one protocol line."""
        line = json.dumps(message, default=repr)
        with self._write_lock:
            self._protocol.write(line + "\n")
            self._protocol.flush()

    async def start(self) -> None:
        """Initialize the runtime as the proxy worker does, then report ``ready``."""
        import azure_functions_runtime as runtime

        runtime.start_threadpool_executor()
        init_message = protos.StreamingMessage(
            request_id=str(uuid.uuid4()),
            worker_init_request=protos.WorkerInitRequest(
                capabilities={},
                function_app_directory=self.app_dir,
                worker_directory=os.path.dirname(runtime.__file__),
            ),
        )
        init_request = protos.WorkerRequest(
            name="WorkerInitRequest",
            request=init_message,
            properties={"protos": protos, "host": self.host},
        )
        init: JsonDict
        capabilities: dict[str, str] = {}
        try:
            response = await runtime.worker_init_request(init_request)
        except Exception as exc:  # the proxy worker would crash; report it instead
            init = {
                "ok": False,
                "status": "Failure",
                "error": f"{type(exc).__name__}: {exc}",
                "stack_trace": traceback.format_exc(),
            }
        else:
            capabilities = {str(k): str(v) for k, v in dict(response.capabilities).items()}
            status = response.result.status
            exception = response.result.exception
            init = {
                "ok": status == protos.StatusResult.Success,
                "status": _STATUS_NAMES.get(status, str(status)),
                "error": getattr(exception, "message", None) if exception else None,
                "stack_trace": getattr(exception, "stack_trace", None) if exception else None,
                "worker_metadata": to_jsonable(response.worker_metadata),
            }

        functions: list[JsonDict] = []
        metadata_request = protos.WorkerRequest(
            name="WorkerMetadataRequest",
            request=protos.StreamingMessage(
                request_id=str(uuid.uuid4()),
                functions_metadata_request=protos.FunctionsMetadataRequest(
                    function_app_directory=self.app_dir
                ),
            ),
        )
        metadata_response = await runtime.functions_metadata_request(metadata_request)
        for meta in metadata_response.function_metadata_results or []:
            self._functions_by_name[meta.name] = meta.function_id
            functions.append(_function_json(meta))
            await runtime.function_load_request(
                protos.WorkerRequest(
                    name="FunctionLoadRequest",
                    request=protos.StreamingMessage(
                        function_load_request=protos.FunctionLoadRequest(
                            function_id=meta.function_id, metadata=meta
                        )
                    ),
                )
            )

        http_uri = capabilities.get("HttpUri")
        if http_uri:
            await _wait_until_listening(http_uri, READY_TIMEOUT)
        self.emit(
            {"event": "ready", "init": init, "capabilities": capabilities, "functions": functions}
        )

    async def serve_forever(self) -> None:
        """Read commands from stdin (in a thread, like the proxy worker's gRPC thread)."""
        loop = asyncio.get_running_loop()
        self._stop = loop.create_future()
        reader = threading.Thread(
            target=self._read_commands, args=(loop,), name="worker-commands", daemon=True
        )
        reader.start()
        await self._stop

    def _read_commands(self, loop: asyncio.AbstractEventLoop) -> None:
        for raw in sys.stdin.buffer:
            line = raw.strip()
            if not line:
                continue
            try:
                command = json.loads(line)
            except ValueError:
                sys.stderr.write(f"worker_process: bad command line {line!r}\n")
                continue
            loop.call_soon_threadsafe(self._dispatch, command)
        loop.call_soon_threadsafe(self._shutdown)

    def _dispatch(self, command: JsonDict) -> None:
        if command.get("shutdown"):
            self._shutdown()
        elif "invoke" in command:
            task = asyncio.get_running_loop().create_task(
                self._invoke(command.get("id"), command["invoke"])
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self.emit({"id": command.get("id"), "error": f"unknown command {sorted(command)}"})

    def _shutdown(self) -> None:
        """Exit now: nothing here is worth a graceful stop, and a stuck thread must not block it."""
        sys.stderr.flush()
        self._protocol.flush()
        os._exit(0)

    async def _invoke(self, command_id: Any, spec: JsonDict) -> None:
        """Run one ``invocation_request`` and report its ``InvocationResponse``."""
        import azure_functions_runtime as runtime

        try:
            function_id = spec.get("function_id") or self._functions_by_name.get(
                str(spec.get("name"))
            )
            if not function_id:
                raise LookupError(f"no function named {spec.get('name')!r}")
            invocation = protos.InvocationRequest(
                invocation_id=str(spec["invocation_id"]),
                function_id=function_id,
                input_data=[
                    protos.ParameterBinding(
                        name=item["name"], data=typed_data_from_json(item.get("data"))
                    )
                    for item in spec.get("input_data", [])
                ],
                trigger_metadata={
                    str(name): typed_data_from_json(value)
                    for name, value in (spec.get("trigger_metadata") or {}).items()
                },
                trace_context=protos.RpcTraceContext(
                    trace_parent=str(spec.get("trace_parent", "")),
                    trace_state="",
                    attributes={},
                ),
                retry_context=protos.RetryContext(retry_count=0, max_retry_count=0),
            )
            response = await runtime.invocation_request(
                protos.WorkerRequest(
                    name="FunctionInvocationRequest",
                    request=protos.StreamingMessage(invocation_request=invocation),
                )
            )
        except Exception as exc:
            self.emit(
                {
                    "id": command_id,
                    "error": f"{type(exc).__name__}: {exc}",
                    "stack_trace": traceback.format_exc(),
                }
            )
            return
        status = response.result.status
        exception = response.result.exception
        self.emit(
            {
                "id": command_id,
                "invocation": {
                    "invocation_id": response.invocation_id,
                    "function_id": function_id,
                    "status": _STATUS_NAMES.get(status, str(status)),
                    "exception": (
                        {"message": exception.message, "stack_trace": exception.stack_trace}
                        if exception is not None
                        else None
                    ),
                    "return_value": typed_data_to_json(response.return_value),
                    "output_data": [
                        {"name": item.name, "data": typed_data_to_json(item.data)}
                        for item in response.output_data
                    ],
                },
            }
        )


def _function_json(meta: Any) -> JsonDict:
    """One ``RpcFunctionMetadata`` as JSON, with its raw bindings parsed."""
    raw = to_jsonable(meta)
    return {
        "name": meta.name,
        "function_id": meta.function_id,
        "bindings": [json.loads(binding) for binding in meta.raw_bindings or []],
        "raw": raw,
    }


async def _wait_until_listening(http_uri: str, timeout: float) -> None:
    """Wait until the runtime's uvicorn server (a task on this loop) accepts connections."""
    parts = urlsplit(http_uri)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.02)
        else:
            writer.close()
            await writer.wait_closed()
            return


async def _main_async(app_dir: str, host: str, protocol: TextIO) -> None:
    worker = WorkerProcess(app_dir, host, protocol)
    await worker.start()
    await worker.serve_forever()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point; never returns (ends with ``os._exit`` so no worker thread can hold it)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app-dir", required=True, help="the function app directory")
    parser.add_argument("--script", help="PYTHON_SCRIPT_FILE_NAME (default function_app.py)")
    parser.add_argument("--host", default="127.0.0.1", help="address the HTTP server binds")
    args = parser.parse_args(argv)

    protocol = _detach_stdout()
    _configure_logging()
    app_dir = os.path.abspath(args.app_dir)
    if args.script:
        os.environ["PYTHON_SCRIPT_FILE_NAME"] = args.script
    os.environ.setdefault("AzureWebJobsScriptRoot", app_dir)
    os.environ.setdefault("FUNCTIONS_WORKER_RUNTIME", "python")
    # The app directory comes first so its script shadows any other module of the same name.
    sys.path.insert(0, app_dir)
    os.chdir(app_dir)

    code = 0
    try:
        asyncio.run(_main_async(app_dir, args.host, protocol))
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stderr.flush()
        protocol.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
