"""The API as a front-end sees it: the local host on a real socket, driven with httpx."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from services.video_rag.db.migrations import head_revision

pytestmark = [pytest.mark.db]

VTT = (
    "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\nThe battery lasts about nine hours.\n\n"
    "00:00:04.000 --> 00:00:08.000\nThe keyboard is sold separately.\n"
)


def test_a_front_end_session_from_start_to_end(
    client: httpx.Client, new_session: Callable[[], str]
) -> None:
    created = client.post("/sessions", headers={"X-Request-Id": "ui-1"})
    assert created.status_code == 201
    assert created.headers["content-type"] == "application/json; charset=utf-8"
    assert created.headers["x-request-id"] == "ui-1"
    session_id = created.json()["session_id"]
    headers = {"X-Session-Id": session_id}

    again = client.post("/sessions", json={"session_id": session_id})
    assert (again.status_code, again.json()["session_id"]) == (200, session_id)

    added = client.post(
        "/videos",
        headers=headers,
        json={
            "urls": ["https://example.com/not-youtube"],
            "transcripts": [
                {"video_id": "GJLlxj_dtq8", "title": "Surface Go", "format": "vtt", "content": VTT}
            ],
        },
    )
    assert added.status_code == 200
    invalid, upload = added.json()["videos"]
    assert invalid["error"]["code"] == "invalid_url"
    assert (upload["status"], upload["title"], upload["duration_seconds"]) == (
        "added",
        "Surface Go",
        8.0,
    )

    listed = client.get("/videos", headers=headers).json()["videos"]
    assert [v["url"] for v in listed] == ["https://www.youtube.com/watch?v=GJLlxj_dtq8"]
    current = client.get("/sessions/current", headers=headers).json()
    assert (current["videos"], current["messages"]) == (1, 0)

    assert client.delete("/videos/GJLlxj_dtq8", headers=headers).status_code == 204
    missing = client.delete("/videos/GJLlxj_dtq8", headers=headers)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "video_not_found")

    ended = client.delete("/sessions/current", headers=headers)
    assert (ended.status_code, ended.content) == (204, b"")
    gone = client.get("/sessions/current", headers=headers)
    assert (gone.status_code, gone.json()["error"]["code"]) == (401, "session_not_found")


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/videos", 401, "session_required"),
        ("GET", "/sessions/current", 401, "session_required"),
        ("PATCH", "/sessions", 405, "method_not_allowed"),
        ("GET", "/no/such/route", 404, "not_found"),
        ("POST", "/health", 405, "method_not_allowed"),
    ],
)
def test_errors_are_json_with_a_request_id(
    client: httpx.Client, method: str, path: str, status: int, code: str
) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["request_id"] == response.headers["x-request-id"]


def test_invalid_json_and_oversized_bodies(client: httpx.Client) -> None:
    bad = client.post("/sessions", content=b"{", headers={"Content-Type": "application/json"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_json")
    huge = client.post("/sessions", content=b"x" * (3 * 1024 * 1024))
    assert (huge.status_code, huge.json()["error"]["code"]) == (413, "payload_too_large")


def test_health_is_ready_and_names_the_offline_provider(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    head = head_revision()
    assert body["checks"]["migrations"] == {"ok": True, "current": head, "head": head}
    assert body["provider"]["llm"] == "offline"
    assert body["provider"]["chat_model"] == "offline-extractive"


def test_cors_preflight_allows_the_session_header(client: httpx.Client) -> None:
    preflight = client.options(
        "/videos",
        headers={
            "Origin": "http://ui.test",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-session-id",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://ui.test"
    assert "x-session-id" in preflight.headers["access-control-allow-headers"].lower()
    simple = client.post("/sessions", headers={"Origin": "http://ui.test"})
    assert simple.headers["access-control-allow-origin"] == "http://ui.test"
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
