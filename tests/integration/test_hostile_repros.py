"""Crafted inputs from an attacker's session that used to end in a 500 (or in data against the
schema), each with the answer it must get now: a 4xx JSON error, or a failed item, and nothing
stored. (See also test_hostile_input.py.)"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from local_host import build_asgi_app
from services.video_rag.bootstrap import Dependencies
from services.video_rag.domain.errors import SessionNotFound
from services.video_rag.service import chat as chat_service
from services.video_rag.service import sessions as session_service
from tests.helpers import body_of, http_functions_by_route, invoke, session_with
from tests.local_host import toy_app
from tests.local_host.asgi_client import AsgiClient

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("deps")]

VTT = "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\nThe battery lasts about nine hours.\n"


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_body()
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    error: dict[str, Any] = body_of(response)["error"]
    return error


def test_a_json_integer_of_4301_digits_is_invalid_json() -> None:
    body = b'{"session_id": ' + b"1" * 4301 + b"}"
    assert error_of(invoke("POST", "sessions", body=body), 400)["code"] == "invalid_json"


# Every route and method that reads a JSON body (the legacy GET routes take one too).
BODY_ROUTES = sorted(
    (route, method)
    for route, function in http_functions_by_route().items()
    for method in function.get_user_function().allowed_methods
    if method == "POST" or route in ("getchatmessagehistory", "getvideos")
)


@pytest.mark.parametrize("depth", [33, 983, 984, 985])
@pytest.mark.parametrize(("route", "method"), BODY_ROUTES)
def test_json_nested_too_deep_is_invalid_json_on_every_route(
    route: str, method: str, depth: int
) -> None:
    body = ('{"zz":' + "[" * depth + "]" * depth + "}").encode()
    response = invoke(method, route, body=body, headers=session_with())
    error = error_of(response, 400)
    assert error["code"] == "invalid_json"


def test_json_nested_as_deep_as_the_api_needs_is_fine() -> None:
    body = {"session_id": None, "note": [[[[{"a": [1]}]]]]}
    response = invoke("POST", "sessions", json_body=body)
    assert response.status_code == 400  # unknown field `note`: a validation error, not JSON's
    assert body_of(response)["error"]["code"] == "validation_error"


@pytest.mark.parametrize("video_id", ["abc\x00def", "abc\ndef", "x" * 65, "ü"])
def test_a_video_id_no_video_can_have_is_404(video_id: str) -> None:
    response = invoke(
        "DELETE", "videos/{video_id}", headers=session_with(), route_params={"video_id": video_id}
    )
    assert error_of(response, 404)["code"] == "video_not_found"


@pytest.mark.parametrize(
    "segment",
    [
        {"text": "battery", "start": 1e308, "duration": 1e308},
        {"text": "battery", "start": 0, "duration": 1e308},
        {"text": "battery", "start": 49 * 3600},
    ],
)
def test_absurd_upload_times_fail_the_item_and_store_nothing(segment: dict[str, Any]) -> None:
    headers = session_with()
    upload = {"video_id": "INFINITY001", "format": "segments", "content": [segment]}
    response = invoke("POST", "videos", headers=headers, json_body={"transcripts": [upload]})
    (item,) = body_of(response)["videos"]
    assert (item["status"], item["error"]["code"]) == ("failed", "invalid_transcript")
    assert body_of(invoke("GET", "videos", headers=headers))["videos"] == []


def test_a_session_ended_while_its_answer_is_written_gets_401(deps: Dependencies) -> None:
    headers = session_with()
    upload = {"video_id": "surfacego01", "format": "vtt", "content": VTT}
    invoke("POST", "videos", headers=headers, json_body={"transcripts": [upload]})
    token = headers["X-Session-Id"]
    prepared = chat_service.prepare_question(deps, token, "How long does the battery last?", None)
    session_service.end_session(deps, token)  # the race: DELETE /sessions/current meanwhile
    with pytest.raises(SessionNotFound):
        chat_service.store_answer(deps, prepared, "Nine hours [1].")


def test_responses_that_carry_sessions_are_not_stored_by_caches() -> None:
    created = invoke("POST", "sessions")
    assert created.headers["Cache-Control"] == "no-store"
    legacy = invoke("POST", "getorcreatesession", json_body={})
    assert legacy.headers["Cache-Control"] == "no-store"
    errors = invoke("GET", "sessions/current")
    assert errors.headers["Cache-Control"] == "no-store"


def test_a_newline_in_the_path_cannot_forge_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    client = AsgiClient(build_asgi_app(toy_app.app, "api"))
    with caplog.at_level(logging.INFO, logger="local_host"):
        response = client.get("/api/nothing%0a[2026-01-01] FORGED admin logged in")
    assert response.status_code == 404
    assert "\n[2026-01-01] FORGED" not in caplog.text
    assert any("FORGED" in record.getMessage() for record in caplog.records)


class GatedEmbeddings:
    """Embeds instantly, except texts containing SLOW, which wait until the test opens the gate."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.waiting = threading.Event()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if any("SLOW" in text for text in texts):
            self.waiting.set()
            assert self.gate.wait(30)
        return [[1.0, 0.0, 0.0] for _ in texts]

    def embed_query(self, text: str) -> list[float]:
        return [1.0, 0.0, 0.0]


def test_a_private_upload_never_waits_for_another_sessions_upload(deps: Dependencies) -> None:
    embedder = GatedEmbeddings()
    deps.embedder = embedder
    results: dict[str, Any] = {}

    def upload(name: str, text: str) -> None:
        headers = session_with()
        content = f"WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n{text}\n"
        item = {"video_id": "popularvid1", "format": "vtt", "content": content}
        response = invoke("POST", "videos", headers=headers, json_body={"transcripts": [item]})
        results[name] = body_of(response)["videos"][0]["status"]

    slow = threading.Thread(target=upload, args=("a", "SLOW and big upload"), daemon=True)
    slow.start()
    try:
        assert embedder.waiting.wait(30)  # session A holds its upload of popularvid1
        quick = threading.Thread(target=upload, args=("b", "one cue"), daemon=True)
        quick.start()
        quick.join(15)
        assert not quick.is_alive(), "session B waited for session A's private upload"
        assert results["b"] == "added"
        assert "a" not in results
    finally:
        embedder.gate.set()
        slow.join(30)
    assert results["a"] == "added"
