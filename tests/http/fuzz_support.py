"""Helpers of the API fuzz test (tests/http/test_fuzz_api.py): the error contract of docs/API.md as
schemathesis checks, the session the fuzzed requests authenticate with, and the list of setting
values that must never reach a response.

The checks are plain functions `(ctx, response, case)` that raise AssertionError, which is how
schemathesis 4 takes custom checks (`case.call_and_validate(additional_checks=[...])`).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx
from sqlalchemy.engine import make_url

from services.video_rag.api.http import REQUEST_ID_HEADER, REQUEST_ID_PATTERN
from tests.conftest import PROJECT_ROOT

API_MD = PROJECT_ROOT / "docs" / "API.md"
SESSION_HEADER = "X-Session-Id"
REQUEST_ID = re.compile(REQUEST_ID_PATTERN)
JSON_CONTENT_TYPE = "application/json; charset=utf-8"

SEED_VIDEO_ID = "abcdefghijk"
"""The video of the fuzz session: the id the document's request examples use, so that the
`followUp` chat example (`video_ids: ["abcdefghijk"]`) asks about a video the session has."""
SEED_TRANSCRIPT = {
    "video_id": SEED_VIDEO_ID,
    "title": "Surface Go review",
    "language": "en",
    "format": "vtt",
    "content": (
        "WEBVTT\n\n"
        "00:00:01.000 --> 00:00:04.000\nThe battery lasts about nine hours in my test.\n\n"
        "00:00:04.000 --> 00:00:08.000\nThe keyboard cover is sold separately.\n"
    ),
}

STACK_TRACE_MARKERS = ("Traceback (most recent call last)", 'File "', "Traceback")
"""What a Python stack trace leaves in a text; none may appear in a response."""
_CONNECTION_URL = re.compile(r"postgres(?:ql)?(?:\+\w+)?://", re.IGNORECASE)


# --- The documented error codes ----------------------------------------------------------------


def documented_error_codes(api_md: Path = API_MD) -> dict[int, frozenset[str]]:
    """Status -> error codes, read from the table under "## Errors" in docs/API.md (the contract
    front-ends code against; the OpenAPI document is checked against it by the fuzz test)."""
    text = api_md.read_text(encoding="utf-8")
    section = text.split("\n## Errors", 1)[1].split("\n## ", 1)[0]
    table: dict[int, frozenset[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].isdigit():
            table[int(cells[0])] = frozenset(re.findall(r"`([a-z_]+)`", cells[1]))
    if not table:
        raise ValueError(f"no error table under '## Errors' in {api_md}")
    return table


DOCUMENTED_CODES: Mapping[int, frozenset[str]] = documented_error_codes()
UPSTREAM_STATUSES = frozenset({502, 503, 504})
"""The only 5xx the contract tolerates (dependencies down); each with its documented codes."""


# --- Setting values that must never be sent back -----------------------------------------------


def setting_secrets(database_url: str, environment: Mapping[str, str]) -> tuple[str, ...]:
    """Values of the host's settings that no response may contain: the database URL and its
    parts that identify the server (socket directory or host and port, database, user's
    password), and every other URL or secret-looking setting of the host's environment."""
    url = make_url(database_url)
    values = {database_url, url.render_as_string(hide_password=False)}
    values.add(url.render_as_string(hide_password=True))
    if url.database:
        values.add(url.database)
    if url.password and len(str(url.password)) >= 6:
        values.add(str(url.password))
    socket_dirs = url.query.get("host")
    for socket_dir in [socket_dirs] if isinstance(socket_dirs, str) else list(socket_dirs or ()):
        values.add(socket_dir)
    if url.host and url.host not in {"localhost", "127.0.0.1"}:
        values.add(url.host)
    app_prefixes = ("PG_", "YOUTUBE_PROXY", "WEBSHARE_", "OPENAI", "AZURE_OPENAI", "APPLICATIONINS")
    for name, value in environment.items():
        if name.startswith(app_prefixes) and len(value) >= 6:
            values.add(value)
    return tuple(sorted(values, key=len, reverse=True))


# --- The session the fuzzed requests authenticate with -----------------------------------------


@dataclass
class SessionKeeper:
    """A live session with one uploaded video, for the operations that need `X-Session-Id`.

    The fuzzer may end it (DELETE /sessions/current) or remove its video (DELETE /videos/{id});
    `observe` notices and the next `current()` makes a new session or uploads the video again.
    A session is also renewed before it could expire during a long run."""

    base_url: str
    max_age_seconds: float = 10 * 60
    _session_id: str | None = None
    _created: float = 0.0
    _needs_video: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    sessions_created: int = 0

    def current(self) -> str:
        with self._lock:
            stale = time.monotonic() - self._created > self.max_age_seconds
            if self._session_id is None or stale:
                self._session_id = self._new_session()
                self._created = time.monotonic()
                self._needs_video = True
            if self._needs_video:
                self._upload(self._session_id)
                self._needs_video = False
            return self._session_id

    def observe(self, method: str, path: str, status: int) -> None:
        """Track what a fuzzed request did to the session."""
        if status != 204:
            return
        with self._lock:
            if (method, path) == ("DELETE", "/sessions/current"):
                self._session_id = None
            elif (method, path) == ("DELETE", "/videos/{video_id}"):
                self._needs_video = True

    def _new_session(self) -> str:
        response = httpx.post(f"{self.base_url}/sessions", timeout=30)
        assert response.status_code == 201, response.text
        self.sessions_created += 1
        return str(response.json()["session_id"])

    def _upload(self, session_id: str) -> None:
        response = httpx.post(
            f"{self.base_url}/videos",
            json={"transcripts": [SEED_TRANSCRIPT]},
            headers={SESSION_HEADER: session_id},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        (result,) = response.json()["videos"]
        assert result["status"] in {"added", "already_added"}, result


# --- What ran ----------------------------------------------------------------------------------


@dataclass
class Tally:
    """Requests sent per operation, by generation mode and response status."""

    by_operation: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def record(self, label: str, mode: str, status: int) -> None:
        counter = self.by_operation[label]
        counter["cases"] += 1
        counter[mode] += 1
        counter[str(status)] += 1

    def total(self) -> int:
        return sum(counter["cases"] for counter in self.by_operation.values())

    def report(self) -> str:
        lines = []
        for label in sorted(self.by_operation):
            counter = self.by_operation[label]
            statuses = ", ".join(
                f"{status}: {n}" for status, n in sorted(counter.items()) if status.isdigit()
            )
            lines.append(
                f"{label:40} {counter['cases']:5} cases "
                f"(positive {counter['positive']}, negative {counter['negative']}; {statuses})"
            )
        lines.append(f"{'total':40} {self.total():5} cases")
        return "\n".join(lines)


# --- The contract checks -----------------------------------------------------------------------


def header(response: Any, name: str) -> str | None:
    """A response header's first value (schemathesis keeps lowercase names and value lists)."""
    values = response.headers.get(name.lower())
    return values[0] if values else None


def sent_text(response: Any) -> str:
    """Everything the request carried (URL, headers, body), to tell echoed input from a leak."""
    request = response.request
    body = request.body or b""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    headers = " ".join(f"{k}: {v}" for k, v in request.headers.items())
    return f"{unquote(str(request.url))} {request.url} {headers} {body}"


def check_request_id(ctx: Any, response: Any, case: Any) -> None:
    """Every response carries X-Request-Id: the caller's when it is a sane token, else a new
    sane one; error bodies repeat it."""
    given = header(response, REQUEST_ID_HEADER)
    assert given, f"{response.status_code} response without {REQUEST_ID_HEADER}"
    assert REQUEST_ID.fullmatch(given), f"{REQUEST_ID_HEADER} {given!r} is not a sane token"
    sent = (response.request.headers.get(REQUEST_ID_HEADER) or "").strip()
    if REQUEST_ID.fullmatch(sent):
        assert given == sent, f"{REQUEST_ID_HEADER}: sent {sent!r}, got back {given!r}"


def check_error_contract(ctx: Any, response: Any, case: Any) -> None:
    """Every error (4xx/5xx) is JSON `{"error": {"code", "message", "request_id", "details"?}}`
    with a code docs/API.md lists for its status; 5xx only as documented upstream failures."""
    status = response.status_code
    if status < 400:
        return
    assert status != 500, f"500 internal_error: {response.content[:500]!r}"
    assert status < 500 or status in UPSTREAM_STATUSES, f"undocumented server error {status}"
    assert status in DOCUMENTED_CODES, f"status {status} is not in the error table of API.md"
    content_type = header(response, "Content-Type") or ""
    assert content_type == JSON_CONTENT_TYPE, f"error with Content-Type {content_type!r}"
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise AssertionError(f"error body is not JSON: {response.content[:300]!r}") from exc
    assert isinstance(body, dict), f"error body is not an object: {body!r}"
    health = case.operation.method.upper() == "GET" and case.operation.path == "/health"
    if not health:  # GET /health's 503 is the health report plus the error object
        assert set(body) == {"error"}, f"error body has keys {sorted(body)}"
    error = body.get("error")
    assert isinstance(error, dict), f"no error object: {body!r}"
    keys = set(error)
    assert {"code", "message", "request_id"} <= keys <= {"code", "message", "request_id", "details"}
    code = error["code"]
    assert code in DOCUMENTED_CODES[status], (
        f"{status} with code {code!r}; API.md documents {sorted(DOCUMENTED_CODES[status])}"
    )
    assert isinstance(error["message"], str), error
    assert error["message"].strip(), error
    assert error["request_id"] == header(response, REQUEST_ID_HEADER), error
    if "details" in error:
        assert isinstance(error["details"], list), error
    if code == "validation_error":
        assert error.get("details"), f"validation_error without details: {error}"
    if status == 429:
        retry_after = header(response, "Retry-After") or ""
        assert retry_after.isdigit(), f"Retry-After {retry_after!r}"
        assert int(retry_after) >= 1, f"Retry-After {retry_after!r}"
    if status == 405:
        assert header(response, "Allow"), "405 without Allow"


def make_leak_check(secrets: Iterable[str]) -> Any:
    """A check that no response (headers or body) shows a stack trace or a setting value that
    the request itself did not carry."""
    values = tuple(secrets)

    def check_no_leaks(ctx: Any, response: Any, case: Any) -> None:
        body = response.content.decode("utf-8", "replace")
        headers = " ".join(f"{k}: {v}" for k, vs in response.headers.items() for v in vs)
        text = f"{headers}\n{body}"
        with contextlib.suppress(ValueError):  # also JSON strings decoded (\/, \u escapes)
            text += "\n" + json.dumps(json.loads(body), ensure_ascii=False)
        sent = sent_text(response)
        for marker in STACK_TRACE_MARKERS:
            assert marker not in text or marker in sent, f"stack trace in response: {text[:800]}"
        for value in values:
            assert value not in text or value in sent, f"setting value {value!r} in response"
        assert not _CONNECTION_URL.search(text) or _CONNECTION_URL.search(sent), (
            f"a database connection URL in response: {text[:800]}"
        )

    return check_no_leaks


def legacy_session_fields(case: Any) -> list[str]:
    """Where a legacy operation's positive case names a session: `session_id` in the JSON body
    and/or the query string."""
    places = []
    if isinstance(case.body, dict) and isinstance(case.body.get("session_id"), str):
        places.append("body")
    if isinstance(case.query, dict) and isinstance(case.query.get("session_id"), str):
        places.append("query")
    return places


def query_value(url: str, name: str) -> str | None:
    values = parse_qs(url.split("?", 1)[1] if "?" in url else "").get(name)
    return values[0] if values else None


# --- What a negative case violated -------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    """One way a negative case breaks the document: where, which parameter (None for a body or
    a whole container), and the JSON Schema keywords (or coverage scenario) it violates."""

    location: str | None
    parameter: str | None
    keywords: tuple[str, ...]


def violations(case: Any) -> list[Violation]:
    """Every recorded violation of a negative case (empty for a positive one)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_negative:
        return []
    data = meta.phase.data
    found = [
        Violation(_location(m.parameter_location), m.parameter, tuple(m.keywords))
        for m in getattr(data, "mutations", ())
    ]
    if not found:
        scenario = getattr(data, "scenario", None)
        found.append(
            Violation(
                _location(getattr(data, "parameter_location", None)),
                getattr(data, "parameter", None),
                (str(scenario.value),) if scenario is not None else (),
            )
        )
    return found


def _location(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


def ignored_extra_parameter(violation: Violation) -> bool:
    """An unknown query parameter or header: HTTP APIs ignore those (this one does too; the
    contract rejects only unknown *body* fields)."""
    return violation.location in {"query", "header"} and (
        "additionalProperties" in violation.keywords
        or "object_unexpected_properties" in violation.keywords
    )


def error_details(response: Any) -> tuple[str | None, list[dict[str, Any]]]:
    """The error code and details of an error response (None and [] when it is not one)."""
    try:
        error = json.loads(response.content)["error"]
    except (ValueError, KeyError, TypeError):
        return None, []
    details = error.get("details") if isinstance(error, dict) else None
    return error.get("code"), details if isinstance(details, list) else []


# --- The document's own schemas ----------------------------------------------------------------


def document_accepts(document: Mapping[str, Any], pointer: str, value: Any) -> bool:
    """Whether `value` is valid against the schema at JSON Pointer `pointer` of the OpenAPI
    document (e.g. `/components/parameters/RequestId/schema`)."""
    from jsonschema import Draft202012Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    uri = "urn:video-rag:openapi"
    registry: Registry[Any] = Registry().with_resource(uri, DRAFT202012.create_resource(document))
    validator = Draft202012Validator({"$ref": f"{uri}#{pointer}"}, registry=registry)
    return validator.is_valid(value)


def request_schema_pointer(path: str, method: str) -> str:
    escaped = path.replace("~", "~0").replace("/", "~1")
    return f"/paths/{escaped}/{method.lower()}/requestBody/content/application~1json/schema"


# --- GET /ui -----------------------------------------------------------------------------------

_ORIGIN = re.compile(r"https?://(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")


def check_ui_page(ctx: Any, response: Any, case: Any) -> None:
    """GET /ui is the one HTML operation: a 200 page whose Content-Security-Policy lets it
    connect to its own origin and, at most, the origin of the `?api=` it was given. The fuzzed
    `api` value must never reach the header as anything but a clean origin."""
    if (case.operation.method.upper(), case.operation.path) != ("GET", "/ui"):
        return
    if response.status_code != 200:
        return
    assert header(response, "Content-Type") == "text/html; charset=utf-8"
    assert response.content.lstrip().lower().startswith(b"<!doctype html>")
    policy = header(response, "Content-Security-Policy") or ""
    directives = [d.strip() for d in policy.split(";")]
    connect = [d for d in directives if d.startswith("connect-src ")]
    assert len(connect) == 1, policy
    sources = connect[0].split()[1:]
    assert sources[0] == "'self'", policy
    assert len(sources) <= 2, policy
    assert all(_ORIGIN.fullmatch(source) for source in sources[1:]), policy
    assert "default-src 'none'" in directives, policy
    assert len(directives) == 11, policy
