"""Parent side: drive the real Python worker runtime (in a child process) like the Functions host.

:class:`RealWorker` starts :mod:`tests.worker.worker_process` for an app directory, waits until
the runtime has indexed the app (``worker_init_request`` + ``functions_metadata_request``), and
then plays the host's part for HTTP-streams invocations: it matches the path against the routes
(``routePrefix`` from the app's ``host.json``, ``api`` by default), sends the child an
``invocation_request`` carrying the route parameters, and at the same time sends the HTTP request
itself to the runtime's own HTTP server (its ``HttpUri`` capability) with the
``x-ms-invocation-id`` header, exactly as the host's HTTP proxy does.

    with RealWorker(app_dir=PROJECT_ROOT, env={"DATABASE_URL": url}) as worker:
        assert worker.init_ok, worker.init_error
        response = worker.request("GET", "/api/health")
        assert worker.invocation(response).ok
        with worker.stream("POST", "/api/chat", json={"message": "hi"}) as streamed:
            for line in streamed.iter_lines():
                ...

A child process is needed because ``app.get_functions()`` refuses to run twice in one process and
the test process has usually imported the app already; it also gives each worker a clean runtime.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from tests.worker.routes import RouteTemplate
from tests.worker.wire import JsonDict, typed_data_value

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INVOCATION_HEADER = "x-ms-invocation-id"
_STDERR_TAIL = 80
_FAILED_INVOCATION_GRACE = 5.0
"""Seconds the HTTP response may lag behind a failed InvocationResponse before giving up."""


class WorkerError(RuntimeError):
    """The worker process failed, timed out, or cannot serve the request."""


class RouteNotFoundError(WorkerError, LookupError):
    """No HTTP function's route and methods match (the real host would answer 404)."""


@dataclass(frozen=True)
class BindingMeta:
    """One binding of a function, from the raw bindings the runtime reported."""

    name: str
    type: str
    direction: str
    raw: JsonDict

    @property
    def route(self) -> str | None:
        value = self.raw.get("route")
        return str(value) if value is not None else None

    @property
    def methods(self) -> tuple[str, ...] | None:
        """Upper-case HTTP methods, or None when the trigger accepts every method."""
        value = self.raw.get("methods")
        return tuple(str(m).upper() for m in value) if value else None

    @property
    def auth_level(self) -> str | None:
        value = self.raw.get("authLevel")
        return str(value) if value is not None else None


@dataclass(frozen=True)
class FunctionMeta:
    """One indexed function (an ``RpcFunctionMetadata``); ``raw`` is all of it as JSON."""

    name: str
    function_id: str
    bindings: tuple[BindingMeta, ...]
    raw: JsonDict

    @property
    def trigger(self) -> BindingMeta | None:
        return next((b for b in self.bindings if b.type.lower().endswith("trigger")), None)

    @property
    def is_http(self) -> bool:
        return self.trigger is not None and self.trigger.type == "httpTrigger"

    @property
    def route(self) -> str | None:
        """The route template of an HTTP function (the function name when none was given)."""
        if not self.is_http:
            return None
        assert self.trigger is not None
        return self.trigger.route or self.name

    @property
    def methods(self) -> tuple[str, ...] | None:
        return self.trigger.methods if self.trigger is not None else None

    def binding(self, name: str) -> BindingMeta:
        for binding in self.bindings:
            if binding.name == name:
                return binding
        raise KeyError(f"{self.name} has no binding {name!r}")


@dataclass(frozen=True)
class InvocationResult:
    """What ``invocation_request`` returned (an ``InvocationResponse``), as JSON forms."""

    invocation_id: str
    function_id: str
    status: str
    exception_message: str | None = None
    stack_trace: str | None = None
    return_value: JsonDict | None = None
    output_data: tuple[tuple[str, JsonDict | None], ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "Success"

    @property
    def outputs(self) -> dict[str, Any]:
        """Output bindings' values: str, bytes, JSON text, numbers, or a dict for http."""
        return {name: typed_data_value(data) for name, data in self.output_data}

    @property
    def value(self) -> Any:
        """The ``$return`` value (None for HTTP-streams functions: it went out over HTTP)."""
        return typed_data_value(self.return_value)

    def raise_for_status(self) -> InvocationResult:
        if not self.ok:
            raise WorkerError(
                f"invocation {self.invocation_id} {self.status}: {self.exception_message}\n"
                f"{self.stack_trace or ''}"
            )
        return self


@dataclass
class _Pending:
    """A command awaiting the child's answer."""

    done: threading.Event = field(default_factory=threading.Event)
    result: InvocationResult | None = None
    error: str | None = None


def _route_prefix(app_dir: Path) -> str:
    """``extensions.http.routePrefix`` of the app's host.json (``api`` when absent)."""
    try:
        host = json.loads((app_dir / "host.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "api"
    prefix = host.get("extensions", {}).get("http", {}).get("routePrefix", "api")
    return str(prefix).strip("/")


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)


class RealWorker:
    """The real ``azure_functions_runtime`` worker for one app, in a child process.

    Parameters:
        app_dir: the function app directory (host.json, the script, the app's packages).
        env: extra environment variables (app settings) for the worker, on top of this process's
            environment (or instead of it with ``inherit_env=False``).
        script: the script file name (``PYTHON_SCRIPT_FILE_NAME``), default ``function_app.py``.
        route_prefix: overrides host.json's ``extensions.http.routePrefix``.
        base_url: scheme and authority of the URL the host reports to the function.
        startup_timeout: seconds allowed for the child to import, index and start its server.
        timeout: seconds allowed per HTTP request / read / invocation.
        echo_stderr: copy the child's stderr (logging, prints) to this process's stderr live.
    """

    def __init__(
        self,
        app_dir: str | os.PathLike[str] = PROJECT_ROOT,
        *,
        env: Mapping[str, str] | None = None,
        script: str | None = None,
        route_prefix: str | None = None,
        base_url: str = "http://localhost:7071",
        startup_timeout: float = 60.0,
        timeout: float = 30.0,
        inherit_env: bool = True,
        echo_stderr: bool = False,
    ) -> None:
        self.app_dir = Path(app_dir).resolve()
        self.script = script
        self.route_prefix = (
            route_prefix.strip("/") if route_prefix is not None else _route_prefix(self.app_dir)
        )
        self.base_url = base_url.rstrip("/")
        self.startup_timeout = startup_timeout
        self.timeout = timeout
        self._env = dict(os.environ) if inherit_env else {}
        self._env.update(env or {})
        self._echo_stderr = echo_stderr

        self.init_ok = False
        self.init_status = ""
        self.init_error: str | None = None
        self.init_stack_trace: str | None = None
        self.capabilities: dict[str, str] = {}
        self.metadata: list[FunctionMeta] = []

        self._process: subprocess.Popen[bytes] | None = None
        self._stdin_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._next_id = 0
        self._pending: dict[int, _Pending] = {}
        self._by_invocation: dict[str, _Pending] = {}
        self._ready = threading.Event()
        self._ready_message: JsonDict | None = None
        self._stdout_closed = threading.Event()
        self._stderr_lines: deque[str] = deque(maxlen=20_000)
        self._stderr_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._routes: list[tuple[FunctionMeta, RouteTemplate]] = []
        self._client: httpx.Client | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    # --- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> RealWorker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> RealWorker:
        """Start the child and wait until the runtime has indexed the app (or failed to)."""
        if self._process is not None:
            raise WorkerError("worker already started")
        command = [sys.executable, "-m", "tests.worker.worker_process"]
        command += ["--app-dir", str(self.app_dir)]
        if self.script:
            command += ["--script", self.script]
        env = dict(self._env)
        env["PYTHONUNBUFFERED"] = "1"
        # The child must import tests.worker from this checkout.
        env["PYTHONPATH"] = os.pathsep.join(
            [str(PROJECT_ROOT), *filter(None, [env.get("PYTHONPATH")])]
        )
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._process = process
        weakref.finalize(self, _kill, process)
        assert process.stdout is not None
        assert process.stderr is not None
        for target, stream, name in (
            (self._read_stdout, process.stdout, "worker-stdout"),
            (self._read_stderr, process.stderr, "worker-stderr"),
        ):
            thread = threading.Thread(target=target, args=(stream,), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

        deadline = time.monotonic() + self.startup_timeout
        while not self._ready.wait(0.05):
            if self._stdout_closed.is_set() or process.poll() is not None:
                self.close()
                raise WorkerError(
                    f"worker process exited (code {process.poll()}) before it was ready"
                    + self._stderr_tail()
                )
            if time.monotonic() > deadline:
                self.close()
                raise WorkerError(
                    f"worker not ready after {self.startup_timeout} s" + self._stderr_tail()
                )
        self._apply_ready(self._ready_message or {})
        # A fresh connection per request: uvicorn closes a connection after a function raised,
        # and reusing a pooled one would then race with that close (connection reset).
        self._client = httpx.Client(
            timeout=self.timeout,
            trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0),
        )
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=32, thread_name_prefix="worker-http"
        )
        return self

    def close(self) -> None:
        """Stop the child (politely, then by force) and release everything."""
        process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(WorkerError):
                self._send({"id": -1, "shutdown": True})
            with contextlib.suppress(OSError, ValueError):
                if process.stdin is not None:
                    process.stdin.close()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _kill(process)
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
        self._fail_pending("worker closed")

    # --- what the runtime reported -----------------------------------------------------------

    @property
    def http_uri(self) -> str | None:
        """The runtime's own HTTP server (``HttpUri`` capability); None without HTTP streams."""
        return self.capabilities.get("HttpUri")

    @property
    def functions(self) -> dict[str, FunctionMeta]:
        return {function.name: function for function in self.metadata}

    def function(self, name: str) -> FunctionMeta:
        try:
            return self.functions[name]
        except KeyError:
            raise KeyError(
                f"no function {name!r}; indexed: {sorted(self.functions)}"
                + ("" if self.init_ok else f" (init failed: {self.init_error})")
            ) from None

    @property
    def stderr(self) -> str:
        """Everything the child wrote to stderr so far (logging, prints, uvicorn)."""
        with self._stderr_lock:
            return "".join(self._stderr_lines)

    def match(self, method: str, path: str) -> tuple[FunctionMeta, dict[str, str]]:
        """The HTTP function serving ``method path`` and its route parameters, as the host picks.

        ``path`` is the URL path including the route prefix (``/api/items/1``), query ignored;
        route parameter values are percent-decoded once, as the host does.
        """
        raw_path = httpx.URL(path if path.startswith("/") else "/" + path).raw_path
        relative = raw_path.decode("ascii").split("?", 1)[0].strip("/")
        if self.route_prefix:
            head, _, rest = relative.partition("/")
            if head.lower() != self.route_prefix.lower():
                raise RouteNotFoundError(
                    f"{path!r} is outside the route prefix /{self.route_prefix}"
                )
            relative = rest
        candidates: list[tuple[tuple[int, ...], int, FunctionMeta, dict[str, str]]] = []
        wrong_method: list[str] = []
        for order, (function, template) in enumerate(self._routes):
            params = template.match(relative)
            if params is None:
                continue
            if function.methods is not None and method.upper() not in function.methods:
                wrong_method.append(f"{function.name} ({', '.join(function.methods)})")
                continue
            candidates.append((template.precedence, order, function, params))
        if not candidates:
            hint = f"; the route exists for {', '.join(wrong_method)}" if wrong_method else ""
            routes = sorted(template.template for _, template in self._routes)
            raise RouteNotFoundError(
                f"no HTTP function serves {method.upper()} {path!r}{hint}; routes: {routes}"
            )
        candidates.sort(key=lambda item: (item[0], item[1]))
        _, _, function, params = candidates[0]
        return function, params

    # --- invocations -------------------------------------------------------------------------

    def invoke(
        self,
        function: str,
        *,
        input_data: Mapping[str, JsonDict],
        trigger_metadata: Mapping[str, JsonDict] | None = None,
        invocation_id: str | None = None,
        timeout: float | None = None,
    ) -> InvocationResult:
        """Invoke any function directly (e.g. a timer) and wait for its InvocationResponse.

        ``input_data`` maps binding names to TypedData JSON forms (see :mod:`tests.worker.wire`),
        e.g. ``{"timer": {"json": '{"Schedule": {}, "IsPastDue": false}'}}``.
        """
        meta = self.function(function)
        invocation_id = invocation_id or str(uuid.uuid4())
        pending = self._start_invocation(meta, invocation_id, input_data, trigger_metadata or {})
        return self._wait_invocation(pending, invocation_id, timeout or self.timeout)

    def invocation(
        self, response: httpx.Response, timeout: float | None = None
    ) -> InvocationResult:
        """The InvocationResponse of the invocation that produced ``response`` (waits for it)."""
        invocation_id = response.request.headers.get(INVOCATION_HEADER)
        if invocation_id is None:
            raise WorkerError("the response does not come from RealWorker.request/stream")
        with self._state_lock:
            pending = self._by_invocation.get(invocation_id)
        if pending is None:
            raise WorkerError(f"unknown invocation {invocation_id}")
        return self._wait_invocation(pending, invocation_id, timeout or self.timeout)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | str | None = None,
        json: Any = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """Send one HTTP request through the runtime, as the host does; the body is read.

        ``path`` includes the route prefix (``/api/health``) and may carry a query string.
        :meth:`invocation` gives the invocation's status afterwards.
        """
        limit = timeout or self.timeout
        request, pending = self._prepare(method, path, params, headers, content, json, limit)
        return self._exchange(request, pending, stream=False, timeout=limit)

    @contextlib.contextmanager
    def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | str | None = None,
        json: Any = None,
        timeout: float | None = None,
    ) -> Iterator[httpx.Response]:
        """Like :meth:`request`, but yields the response as soon as its headers arrive.

        Read it with ``iter_bytes``/``iter_lines``/``iter_raw``; each read waits at most
        ``timeout`` seconds.
        """
        limit = timeout or self.timeout
        request, pending = self._prepare(method, path, params, headers, content, json, limit)
        response = self._exchange(request, pending, stream=True, timeout=limit)
        try:
            yield response
        finally:
            response.close()

    # --- internals -----------------------------------------------------------------------------

    def _prepare(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        content: bytes | str | None,
        json_body: Any,
        timeout: float,
    ) -> tuple[httpx.Request, _Pending]:
        if self._client is None:
            raise WorkerError("worker not started")
        if not self.init_ok:
            raise WorkerError(f"worker init failed: {self.init_error}")
        if not self.http_uri:
            raise WorkerError("the app does not use HTTP streams: the runtime has no HttpUri")
        url = httpx.URL(path if path.startswith("/") else "/" + path)
        if params:
            url = url.copy_merge_params(dict(params))
        function, route_params = self.match(method, url.raw_path.decode("ascii"))
        invocation_id = str(uuid.uuid4())
        request = self._client.build_request(
            method.upper(),
            self.http_uri.rstrip("/") + url.raw_path.decode("ascii"),
            headers={**dict(headers or {}), INVOCATION_HEADER: invocation_id},
            content=content,
            json=json_body,
            timeout=timeout,
        )
        trigger = function.trigger
        assert trigger is not None
        query = {key: value for key, value in url.params.multi_items()}
        header_map = {key.lower(): value for key, value in request.headers.items()}
        header_map.pop(INVOCATION_HEADER, None)
        # What the host puts in the gRPC message when it proxies the HTTP request itself: method,
        # URL, headers, query and the route parameters; the body travels over HTTP only.
        http_data: JsonDict = {
            "http": {
                "method": method.upper(),
                "url": self.base_url + url.raw_path.decode("ascii"),
                "headers": header_map,
                "query": query,
                "params": route_params,
                "body": {},
            }
        }
        trigger_metadata: dict[str, JsonDict] = {
            name: {"string": value} for name, value in route_params.items()
        }
        trigger_metadata["Query"] = {"json": _json_text(query)}
        trigger_metadata["Headers"] = {"json": _json_text(header_map)}
        pending = self._start_invocation(
            function, invocation_id, {trigger.name: http_data}, trigger_metadata
        )
        return request, pending

    def _exchange(
        self, request: httpx.Request, pending: _Pending, *, stream: bool, timeout: float
    ) -> httpx.Response:
        """Send ``request`` while the invocation runs; fail fast if the worker cannot answer."""
        assert self._client is not None
        assert self._executor is not None
        client = self._client
        future = self._executor.submit(client.send, request, stream=stream)
        deadline = time.monotonic() + timeout
        failed_at: float | None = None
        while True:
            try:
                return future.result(timeout=0.05)
            except concurrent.futures.TimeoutError:
                pass
            except httpx.TransportError as exc:
                if self._process is not None:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self._process.wait(timeout=1)
                state = "worker process exited" if self._exited() else "transport error"
                raise WorkerError(
                    f"{state} during {request.method} {request.url}: {exc!r}" + self._stderr_tail()
                ) from exc
            now = time.monotonic()
            if self._exited():
                self._discard(future)
                raise WorkerError(
                    f"worker process exited during {request.method} {request.url}"
                    + self._stderr_tail()
                )
            if failed_at is None and pending.done.is_set() and not _succeeded(pending):
                failed_at = now
            if failed_at is not None and now - failed_at > _FAILED_INVOCATION_GRACE:
                self._discard(future)
                reason = pending.error or (
                    pending.result.exception_message if pending.result else None
                )
                raise WorkerError(
                    f"invocation failed and the HTTP request got no response: {reason}"
                    + self._stderr_tail()
                )
            if now > deadline:
                self._discard(future)
                raise WorkerError(
                    f"no HTTP response to {request.method} {request.url} after {timeout} s"
                    + self._stderr_tail()
                )

    def _exited(self) -> bool:
        return self._process is None or self._process.poll() is not None

    @staticmethod
    def _discard(future: concurrent.futures.Future[httpx.Response]) -> None:
        """Close the response of an abandoned request whenever it arrives."""

        def close(done: concurrent.futures.Future[httpx.Response]) -> None:
            if not done.cancelled() and done.exception() is None:
                done.result().close()

        future.add_done_callback(close)

    def _start_invocation(
        self,
        function: FunctionMeta,
        invocation_id: str,
        input_data: Mapping[str, JsonDict],
        trigger_metadata: Mapping[str, JsonDict],
    ) -> _Pending:
        if self._exited():
            raise WorkerError("worker process is not running" + self._stderr_tail())
        with self._state_lock:
            self._next_id += 1
            command_id = self._next_id
            pending = _Pending()
            self._pending[command_id] = pending
            self._by_invocation[invocation_id] = pending
        self._send(
            {
                "id": command_id,
                "invoke": {
                    "function_id": function.function_id,
                    "invocation_id": invocation_id,
                    "input_data": [
                        {"name": name, "data": data} for name, data in input_data.items()
                    ],
                    "trigger_metadata": dict(trigger_metadata),
                },
            }
        )
        return pending

    def _wait_invocation(
        self, pending: _Pending, invocation_id: str, timeout: float
    ) -> InvocationResult:
        deadline = time.monotonic() + timeout
        while not pending.done.wait(0.05):
            if self._exited():
                raise WorkerError("worker process exited" + self._stderr_tail())
            if time.monotonic() > deadline:
                raise WorkerError(
                    f"no InvocationResponse for {invocation_id} after {timeout} s"
                    + self._stderr_tail()
                )
        if pending.result is None:
            raise WorkerError(
                f"invocation {invocation_id} broke the worker: {pending.error}"
                + self._stderr_tail()
            )
        return pending.result

    def _send(self, message: JsonDict) -> None:
        process = self._process
        if process is None or process.stdin is None:
            raise WorkerError("worker not started")
        data = (_json_text(message) + "\n").encode("utf-8")
        try:
            with self._stdin_lock:
                process.stdin.write(data)
                process.stdin.flush()
        except (OSError, ValueError) as exc:
            raise WorkerError(f"cannot reach the worker process: {exc!r}") from exc

    def _apply_ready(self, message: JsonDict) -> None:
        init = message.get("init") or {}
        self.init_ok = bool(init.get("ok"))
        self.init_status = str(init.get("status", ""))
        self.init_error = init.get("error")
        self.init_stack_trace = init.get("stack_trace")
        self.capabilities = dict(message.get("capabilities") or {})
        self.metadata = [
            FunctionMeta(
                name=item["name"],
                function_id=item["function_id"],
                bindings=tuple(
                    BindingMeta(
                        name=str(b.get("name")),
                        type=str(b.get("type")),
                        direction=str(b.get("direction")),
                        raw=b,
                    )
                    for b in item.get("bindings", [])
                ),
                raw=item.get("raw", {}),
            )
            for item in message.get("functions") or []
        ]
        self._routes = [
            (function, RouteTemplate(function.route or function.name))
            for function in self.metadata
            if function.is_http
        ]

    def _read_stdout(self, stream: IO[bytes]) -> None:
        try:
            for raw in stream:
                try:
                    message = json.loads(raw)
                except ValueError:
                    self._stderr_line(f"[protocol] {raw!r}\n")
                    continue
                if message.get("event") == "ready":
                    self._ready_message = message
                    self._ready.set()
                    continue
                self._resolve(message)
        finally:
            self._stdout_closed.set()
            self._fail_pending("worker process exited")

    def _resolve(self, message: JsonDict) -> None:
        with self._state_lock:
            pending = self._pending.pop(int(message.get("id") or 0), None)
        if pending is None:
            return
        invocation = message.get("invocation")
        if invocation is not None:
            exception = invocation.get("exception") or {}
            pending.result = InvocationResult(
                invocation_id=invocation["invocation_id"],
                function_id=invocation["function_id"],
                status=invocation["status"],
                exception_message=exception.get("message"),
                stack_trace=exception.get("stack_trace"),
                return_value=invocation.get("return_value"),
                output_data=tuple(
                    (item["name"], item.get("data")) for item in invocation.get("output_data", [])
                ),
            )
        else:
            pending.error = f"{message.get('error')}\n{message.get('stack_trace') or ''}"
        pending.done.set()

    def _fail_pending(self, reason: str) -> None:
        with self._state_lock:
            pendings = list(self._pending.values())
            self._pending.clear()
        for pending in pendings:
            if not pending.done.is_set():
                pending.error = reason
                pending.done.set()

    def _read_stderr(self, stream: IO[bytes]) -> None:
        for raw in stream:
            self._stderr_line(raw.decode("utf-8", errors="replace"))

    def _stderr_line(self, line: str) -> None:
        with self._stderr_lock:
            self._stderr_lines.append(line)
        if self._echo_stderr:
            sys.stderr.write(line)

    def _stderr_tail(self) -> str:
        if self._exited():  # let the reader thread drain what the process wrote last
            for thread in self._threads:
                if thread.name == "worker-stderr":
                    thread.join(timeout=2)
        with self._stderr_lock:
            lines = list(self._stderr_lines)[-_STDERR_TAIL:]
        if not lines:
            return "\n(worker stderr is empty)"
        return "\n--- worker stderr (last lines) ---\n" + "".join(lines)


def _succeeded(pending: _Pending) -> bool:
    return pending.result is not None and pending.result.ok


def _json_text(value: Any) -> str:
    return json.dumps(value, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
