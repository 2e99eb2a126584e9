"""The legacy routes (the original project's function URLs and shapes) on the real database, called
through the Azure functions of `legacy.bp`, and seen through the modern routes afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import azure.functions as func
import pytest

from services.video_rag.api.functions import legacy
from services.video_rag.bootstrap import Dependencies
from services.video_rag.domain.prompts import HistoryMessage, Passage
from services.video_rag.providers.chat import ChatFailed, ChatTimeout
from services.video_rag.providers.youtube import FetchedTranscript
from tests.conftest import PROJECT_ROOT, FakeClock
from tests.fakes import FakeTranscriptSource
from tests.helpers import body_of, call_endpoint, http_functions_by_route, invoke

pytestmark = [pytest.mark.db, pytest.mark.usefixtures("deps")]

SESSION_ROUTES = [
    ("POST", "savevideotranscript", {"video_ids": ["GJLlxj_dtq8"]}),
    ("POST", "getinference", {"query": "battery?"}),
    ("GET", "getchatmessagehistory", {}),
    ("GET", "getvideos", {}),
]


class RecordingSource(FakeTranscriptSource):
    """The fake transcript source, remembering the languages it was asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.languages: list[list[str]] = []

    def fetch(self, video_id: str, languages: Sequence[str]) -> FetchedTranscript:
        self.languages.append(list(languages))
        return super().fetch(video_id, languages)


@dataclass
class FailingAnswerer:
    """An answerer whose model fails (or times out) on every call."""

    error: Exception
    model_label: str = "failing"
    context_limited: bool = True

    def standalone_question(self, question: str, history: Sequence[HistoryMessage]) -> str:
        raise self.error

    def answer(
        self,
        question: str,
        passages: Sequence[Passage],
        history: Sequence[HistoryMessage],
        whole_videos: bool = False,
    ) -> str:
        raise self.error

    async def astream_answer(
        self,
        question: str,
        passages: Sequence[Passage],
        history: Sequence[HistoryMessage],
        whole_videos: bool = False,
    ) -> AsyncIterator[str]:
        raise self.error
        yield ""  # an async generator that fails on its first step

    def part_notes(self, passages: Sequence[Passage]) -> str:
        raise self.error

    def take_tokens_used(self) -> int:
        return 0


@pytest.fixture
def source(deps: Dependencies) -> RecordingSource:
    fake = RecordingSource()
    fake.add("GJLlxj_dtq8", "battery life of the surface go")
    fake.add("aaaaaaaaaaa", "cooking pasta")
    fake.add("bbbbbbbbbbb", "mountain hiking")
    fake.fail("blockedvid1", "youtube_blocked", "YouTube blocked this IP; set a proxy")
    deps.transcript_source = fake
    return fake


def call(
    method: str,
    route: str,
    json_body: Any = None,
    *,
    body: bytes = b"",
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> func.HttpResponse:
    """Call a legacy route's Azure function the way the Functions host would."""
    request = func.HttpRequest(
        method,
        f"http://localhost:7071/api/{route}",
        headers=headers or {},
        params=params or {},
        route_params={},
        body=json.dumps(json_body).encode() if json_body is not None else body,
    )
    return call_endpoint(http_functions_by_route()[route].get_user_function(), request)


def ok(response: func.HttpResponse, status: int = 200) -> Any:
    assert response.status_code == status, response.get_body()
    return body_of(response)


def error_of(response: func.HttpResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_body()
    error: dict[str, Any] = body_of(response)["error"]
    assert error["request_id"] == response.headers["X-Request-Id"]
    return error


def new_session() -> str:
    return str(ok(call("POST", "getorcreatesession", {"session_id": None}), 201)["session_id"])


def save(session_id: str, *video_ids: str) -> dict[str, list[str]]:
    body = {"session_id": session_id, "video_ids": list(video_ids)}
    result: dict[str, list[str]] = ok(call("POST", "savevideotranscript", body))
    return result


def test_the_blueprint_indexes_five_anonymous_routes_without_heavy_imports() -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_blueprint(legacy.bp)
    indexed = {
        f.get_function_name(): (
            getattr(f.get_trigger(), "route", None),
            getattr(f.get_trigger(), "auth_level", None),
            getattr(f.get_user_function(), "allowed_methods", None),
        )
        for f in app.get_functions()
    }
    anonymous = func.AuthLevel.ANONYMOUS
    assert indexed == {
        "getorcreatesession": ("getorcreatesession", anonymous, ("POST",)),
        "savevideotranscript": ("savevideotranscript", anonymous, ("POST",)),
        "getinference": ("getinference", anonymous, ("POST",)),
        "getchatmessagehistory": ("getchatmessagehistory", anonymous, ("GET",)),
        "getvideos": ("getvideos", anonymous, ("GET",)),
    }
    script = (
        "import sys, services.video_rag.api.functions.legacy\n"
        "print([m for m in ('sqlalchemy', 'psycopg', 'langchain_core', 'openai') "
        "if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        env={},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "[]"


def test_get_or_create_session_creates_then_finds_by_body(deps: Dependencies) -> None:
    created = ok(call("POST", "getorcreatesession", {"session_id": None}), 201)
    assert set(created) == {"session_id", "create_date"}
    assert created["create_date"] == "2026-11-21T10:00:00Z"
    assert len(created["session_id"]) == 43
    found = call("POST", "getorcreatesession", {"session_id": created["session_id"], "x": 1})
    assert ok(found) == created  # unknown fields are allowed
    assert ok(call("POST", "getorcreatesession"), 201)["session_id"] != created["session_id"]
    by_query = call("POST", "getorcreatesession", params={"session_id": created["session_id"]})
    assert ok(by_query) == created


def test_get_or_create_session_replaces_unknown_and_expired_ids(clock: FakeClock) -> None:
    session_id = new_session()
    for unknown in ("A" * 43, "not a token", ""):
        fresh = ok(call("POST", "getorcreatesession", {"session_id": unknown}), 201)
        assert fresh["session_id"] != unknown
    clock.advance(minutes=15)
    replaced = ok(call("POST", "getorcreatesession", {"session_id": session_id}), 201)
    assert replaced["session_id"] != session_id
    assert replaced["create_date"] == "2026-11-21T10:15:00Z"


def test_a_modern_session_is_found_by_the_legacy_route(deps: Dependencies) -> None:
    modern = ok(invoke("POST", "sessions"), 201)
    found = ok(call("POST", "getorcreatesession", {"session_id": modern["session_id"]}))
    assert found == {"session_id": modern["session_id"], "create_date": modern["created_at"]}


def test_save_video_transcript_with_ids_urls_and_garbage(
    source: RecordingSource, deps: Dependencies
) -> None:
    deps.settings = replace(deps.settings, youtube_languages=("de", "en"))
    me = new_session()
    failing = [
        "https://example.com/watch?v=GJLlxj_dtq8",
        "not a video at all",
        "blockedvid1",
        "zzzzzzzzzzz",
    ]
    result = save(
        me,
        "https://youtu.be/GJLlxj_dtq8?t=42",
        failing[0],
        "aaaaaaaaaaa",
        failing[1],
        "https://www.youtube.com/watch?v=GJLlxj_dtq8&list=PL1",
        failing[2],
        failing[3],
    )
    assert result == {
        "successful_video_ids": ["GJLlxj_dtq8", "aaaaaaaaaaa"],
        "failed_video_ids": failing,
    }
    assert sorted(source.fetches) == ["GJLlxj_dtq8", "aaaaaaaaaaa", "blockedvid1", "zzzzzzzzzzz"]
    assert {tuple(languages) for languages in source.languages} == {("de", "en")}
    # Already present counts as successful, without fetching again.
    assert save(me, "GJLlxj_dtq8") == {
        "successful_video_ids": ["GJLlxj_dtq8"],
        "failed_video_ids": [],
    }
    assert len(source.fetches) == 4


def test_save_video_transcript_request_limits(source: RecordingSource, deps: Dependencies) -> None:
    me = new_session()
    too_many = call("POST", "savevideotranscript", {"session_id": me, "video_ids": ["x"] * 11})
    error = error_of(too_many, 400)
    assert error["code"] == "validation_error"
    assert error["details"][0]["field"] == "video_ids"
    assert "video_ids" in error["message"]
    assert "urls" not in error["message"]
    empty = call("POST", "savevideotranscript", {"session_id": me, "video_ids": []})
    assert error_of(empty, 400)["code"] == "validation_error"
    for body in ({"session_id": me}, {"session_id": me, "video_ids": "GJLlxj_dtq8"}):
        error = error_of(call("POST", "savevideotranscript", body), 400)
        assert error["code"] == "validation_error"
        assert [d["field"] for d in error["details"]] == ["video_ids"]
    assert source.fetches == []


def test_get_videos_by_json_body_and_by_query_string(
    source: RecordingSource, clock: FakeClock
) -> None:
    me = new_session()
    save(me, "bbbbbbbbbbb")
    clock.advance(minutes=1)
    save(me, "aaaaaaaaaaa")
    expected = {
        "videos": [
            {
                "video_id": 1,
                "external_video_id": "bbbbbbbbbbb",
                "session_id": me,
                "create_date": "2026-11-21T10:00:00Z",
                "is_active": True,
            },
            {
                "video_id": 2,
                "external_video_id": "aaaaaaaaaaa",
                "session_id": me,
                "create_date": "2026-11-21T10:01:00Z",
                "is_active": True,
            },
        ]
    }
    assert ok(call("GET", "getvideos", {"session_id": me, "extra": True})) == expected
    assert ok(call("GET", "getvideos", params={"session_id": me})) == expected
    assert ok(call("GET", "getvideos", {"session_id": None}, params={"session_id": me})) == expected


def test_the_body_wins_over_the_query_string(source: RecordingSource) -> None:
    mine, theirs = new_session(), new_session()
    save(mine, "aaaaaaaaaaa")
    save(theirs, "bbbbbbbbbbb")
    both = call("GET", "getvideos", {"session_id": mine}, params={"session_id": theirs})
    assert [v["external_video_id"] for v in ok(both)["videos"]] == ["aaaaaaaaaaa"]
    unknown_in_body = call(
        "GET", "getvideos", {"session_id": "A" * 43}, params={"session_id": mine}
    )
    assert error_of(unknown_in_body, 401)["code"] == "session_not_found"


def test_get_inference_then_the_chat_message_history(source: RecordingSource) -> None:
    me = new_session()
    save(me, "GJLlxj_dtq8", "aaaaaaaaaaa")
    question = "What about the battery life?"
    asked = call(
        "POST",
        "getinference",
        {"session_id": me, "query": question, "create_date": "1999-01-01T00:00:00Z", "x": 1},
    )
    answer = ok(asked)
    assert set(answer) == {"response"}
    assert "[1]" in answer["response"]
    assert "battery" in answer["response"]

    expected = {
        "session_id": me,
        "chat_messages": [
            {"chat_message_id": 1, "chat_message_type_id": 1, "content": question},
            {"chat_message_id": 2, "chat_message_type_id": 2, "content": answer["response"]},
        ],
    }
    assert ok(call("GET", "getchatmessagehistory", {"session_id": me})) == expected
    assert ok(call("GET", "getchatmessagehistory", params={"session_id": me})) == expected

    ok(call("POST", "getinference", {"session_id": me, "query": "And the pasta?"}))
    history = ok(call("GET", "getchatmessagehistory", {"session_id": me}))["chat_messages"]
    assert [(m["chat_message_id"], m["chat_message_type_id"]) for m in history] == [
        (1, 1),
        (2, 2),
        (3, 1),
        (4, 2),
    ]


def test_get_inference_errors_keep_the_json_error_shape(
    source: RecordingSource, deps: Dependencies
) -> None:
    me = new_session()
    no_videos = error_of(call("POST", "getinference", {"session_id": me, "query": "hi?"}), 409)
    assert no_videos["code"] == "no_videos"
    assert "savevideotranscript" in no_videos["message"]

    save(me, "GJLlxj_dtq8")
    blank = error_of(call("POST", "getinference", {"session_id": me, "query": "   "}), 400)
    assert (blank["code"], blank["details"][0]["field"]) == ("validation_error", "query")
    for body in ({"session_id": me}, {"session_id": me, "query": 42}):
        wrong = error_of(call("POST", "getinference", body), 400)
        assert [d["field"] for d in wrong["details"]] == ["query"]

    question = {"session_id": me, "query": "x?"}
    deps.answerer = FailingAnswerer(ChatFailed("the model is down"))
    assert error_of(call("POST", "getinference", question), 502)["code"] == "llm_error"
    deps.answerer = FailingAnswerer(ChatTimeout())
    assert error_of(call("POST", "getinference", question), 504)["code"] == "upstream_timeout"
    deps.answerer = None
    deps.settings = replace(deps.settings, chat_rate_limit_per_minute=2)  # two failures took two
    limited = call("POST", "getinference", {"session_id": me, "query": "battery?"})
    assert error_of(limited, 429)["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0
    # No half exchange was stored by any failure.
    assert ok(call("GET", "getchatmessagehistory", {"session_id": me}))["chat_messages"] == []


@pytest.mark.parametrize(("method", "route", "extra"), SESSION_ROUTES)
def test_missing_unknown_and_expired_sessions_are_401(
    source: RecordingSource,
    clock: FakeClock,
    method: str,
    route: str,
    extra: dict[str, Any],
) -> None:
    live = new_session()
    # The X-Session-Id header is not where these routes look.
    missing = call(method, route, extra, headers={"X-Session-Id": live})
    error = error_of(missing, 401)
    assert error["code"] == "session_required"
    assert "getorcreatesession" in error["message"]
    for unknown in ("A" * 43, "not a token"):
        error = error_of(call(method, route, {**extra, "session_id": unknown}), 401)
        assert error["code"] == "session_not_found"
    clock.advance(minutes=15)
    expired = call(method, route, params={"session_id": live}, json_body=extra)
    assert error_of(expired, 401)["code"] == "session_expired"
    assert source.fetches == []


@pytest.mark.parametrize(
    ("method", "route", "extra"),
    [("POST", "getorcreatesession", {}), *SESSION_ROUTES],
)
def test_invalid_json_and_wrong_types_are_400(
    source: RecordingSource, method: str, route: str, extra: dict[str, Any]
) -> None:
    for raw in (b"{oops", b"[1, 2]", b'"a string"', b"\xff\xfe"):
        assert error_of(call(method, route, body=raw), 400)["code"] == "invalid_json"
    for session_id in (42, ["a"], {"id": "x"}):
        error = error_of(call(method, route, {**extra, "session_id": session_id}), 400)
        assert error["code"] == "validation_error"
        assert [d["field"] for d in error["details"]] == ["session_id"]
    assert source.fetches == []


def test_wrong_methods_are_405() -> None:
    response = call("GET", "getorcreatesession")
    assert error_of(response, 405)["code"] == "method_not_allowed"
    assert response.headers["Allow"] == "POST"
    assert call("POST", "getvideos").headers["Allow"] == "GET"


def test_the_modern_routes_see_what_the_legacy_routes_made(source: RecordingSource) -> None:
    me = new_session()
    save(me, "GJLlxj_dtq8", "https://youtu.be/aaaaaaaaaaa")
    answer = ok(call("POST", "getinference", {"session_id": me, "query": "battery life?"}))

    modern = {"X-Session-Id": me}
    current = ok(invoke("GET", "sessions/current", headers=modern))
    assert (current["session_id"], current["videos"], current["messages"]) == (me, 2, 2)
    assert current["created_at"] == "2026-11-21T10:00:00Z"
    videos = ok(invoke("GET", "videos", headers=modern))["videos"]
    assert [v["video_id"] for v in videos] == ["GJLlxj_dtq8", "aaaaaaaaaaa"]
    messages = ok(invoke("GET", "chat/messages", headers=modern))["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "battery life?"),
        ("assistant", answer["response"]),
    ]
    # ... and the other way round: a video removed and a question asked through the modern routes.
    removed = invoke(
        "DELETE", "videos/{video_id}", headers=modern, route_params={"video_id": "GJLlxj_dtq8"}
    )
    assert removed.status_code == 204
    ok(invoke("POST", "chat", headers=modern, json_body={"message": "pasta?"}))
    (video,) = ok(call("GET", "getvideos", {"session_id": me}))["videos"]
    assert (video["video_id"], video["external_video_id"]) == (1, "aaaaaaaaaaa")
    history = ok(call("GET", "getchatmessagehistory", {"session_id": me}))["chat_messages"]
    assert [m["content"] for m in history][::2] == ["battery life?", "pasta?"]


def test_a_video_id_longer_than_a_url_is_refused_not_echoed(deps: Dependencies) -> None:
    session_id = new_session()
    body = {"session_id": session_id, "video_ids": ["x" * 1_000_000]}
    error = error_of(call("POST", "savevideotranscript", body), 400)
    assert error["code"] == "validation_error"
    assert len(call("POST", "savevideotranscript", body).get_body()) < 2_000
