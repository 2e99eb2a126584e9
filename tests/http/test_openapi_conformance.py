"""The served API conforms to its OpenAPI document: against the real local host, every response of
a realistic sequence (and of the errors a front-end meets) has a status the document declares for
that operation, the declared headers, and a body valid against the declared schema.

YouTube is never called: videos come in as uploaded transcripts, and the only URLs sent are not
YouTube's (they fail before any request is made).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from services.video_rag.api.functions.openapi import openapi_document
from tests.support.sse import deltas_and_done, events_of

pytestmark = [pytest.mark.db]

DOC = openapi_document()
DOC_URI = "https://video-rag.invalid/openapi.json"
REGISTRY: Registry[Any] = Registry().with_resource(DOC_URI, DRAFT202012.create_resource(DOC))
JSON = "application/json"
EVENT_STREAM = "text/event-stream"
VTT = (
    "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\nThe battery lasts about nine hours.\n\n"
    "00:00:04.000 --> 00:00:08.000\nThe keyboard is sold separately.\n"
)


def upload(video_id: str, title: str = "Surface Go") -> dict[str, Any]:
    return {
        "transcripts": [{"video_id": video_id, "title": title, "format": "vtt", "content": VTT}]
    }


def escape(segment: str) -> str:
    """A JSON Pointer reference token."""
    return segment.replace("~", "~0").replace("/", "~1")


class Conformance:
    """Sends requests and checks each response against the document."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.seen: set[tuple[str, str, int]] = set()

    def call(
        self,
        method: str,
        template: str,
        status: int,
        *,
        path_values: dict[str, str] | None = None,
        session: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send `method` to the operation at path `template`; check the status is `status` and
        the response conforms to what the document declares for it."""
        headers = dict(kwargs.pop("headers", {}))
        if session is not None:
            headers["X-Session-Id"] = session
        url = template.format(**(path_values or {}))
        response = self.client.request(method, url, headers=headers, **kwargs)
        assert response.status_code == status, f"{method} {url}: {response.text[:500]}"
        operation = DOC["paths"][template][method.lower()]
        declared = operation["responses"].get(str(status))
        assert declared is not None, f"{method} {template} answered {status}, not documented"
        location = f"/paths/{escape(template)}/{method.lower()}/responses/{status}"
        self.check(response, declared, location)
        self.seen.add((method.upper(), template, status))
        return response

    def call_outside(self, method: str, url: str, status: int, component: str) -> httpx.Response:
        """A request no operation covers (wrong method, unknown path): it must conform to the
        error response `components.responses.<component>`."""
        response = self.client.request(method, url)
        assert response.status_code == status, response.text
        declared = DOC["components"]["responses"][component]
        self.check(response, declared, f"/components/responses/{component}")
        return response

    def check(self, response: httpx.Response, declared: dict[str, Any], location: str) -> None:
        if "$ref" in declared:
            location = declared["$ref"][1:]
            declared = self.resolve(declared)
        for name, header in declared.get("headers", {}).items():
            if self.resolve(header).get("required"):
                assert name in response.headers, f"{location}: header {name} missing"
        content = declared.get("content")
        if content is None:
            assert response.content == b"", location
            return
        media = response.headers["content-type"].split(";")[0]
        assert media in content, (location, media)
        assert content[media]["schema"]  # the location really holds a schema
        if media == EVENT_STREAM:
            self.check_events(response, location)
        if media != JSON:
            return
        self.validate(response.json(), f"{location}/content/{escape(media)}/schema", response)

    def validate(self, body: Any, schema_location: str, response: httpx.Response) -> None:
        validator = Draft202012Validator(
            {"$ref": f"{DOC_URI}#{schema_location}"}, registry=REGISTRY
        )
        errors = sorted(validator.iter_errors(body), key=str)
        assert not errors, (
            schema_location,
            body,
            [f"{list(e.path)}: {e.message}" for e in errors[:5]],
        )
        if "error" in body and isinstance(body["error"], dict):
            assert body["error"]["request_id"] == response.headers["x-request-id"]

    def check_events(self, response: httpx.Response, location: str) -> None:
        """A streamed answer: `done` data is the JSON response of the same status (an `error`
        event's data an ErrorResponse), as the event-stream description says."""
        for event in events_of(response.content):
            if event.name == "done":
                self.validate(event.data, f"{location}/content/{escape(JSON)}/schema", response)
            elif event.name == "error":
                self.validate(event.data, "/components/schemas/ErrorResponse", response)
            else:
                assert event.name == "delta", event
                assert isinstance(event.data["text"], str)

    @staticmethod
    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = DOC
            for part in node["$ref"][2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node


@pytest.fixture
def api(client: httpx.Client) -> Conformance:
    return Conformance(client)


def test_the_document_is_served(api: Conformance) -> None:
    served = api.call("GET", "/openapi.json", 200).json()
    assert served == DOC


def test_a_session_from_start_to_end_conforms(api: Conformance) -> None:
    api.call("GET", "/health", 200)
    api.call("GET", "/openapi.json", 200)
    created = api.call("POST", "/sessions", 201)
    sid = created.json()["session_id"]
    assert created.headers["x-session-id"] == sid
    api.call("POST", "/sessions", 200, session=sid)
    api.call("POST", "/sessions", 200, json={"session_id": sid})

    added = api.call(
        "POST",
        "/videos",
        200,
        session=sid,
        json={"urls": ["https://example.com/not-youtube"], **upload("GJLlxj_dtq8")},
    ).json()["videos"]
    assert [v["status"] for v in added] == ["failed", "added"]
    again = api.call("POST", "/videos", 200, session=sid, json=upload("GJLlxj_dtq8")).json()
    assert again["videos"][0]["status"] == "already_added"
    api.call("POST", "/videos", 200, session=sid, json=upload("abcdefghijk", "Another"))
    assert len(api.call("GET", "/videos", 200, session=sid).json()["videos"]) == 2
    assert api.call("GET", "/sessions/current", 200, session=sid).json()["videos"] == 2

    answer = api.call(
        "POST", "/chat", 200, session=sid, json={"message": "How long does the battery last?"}
    ).json()
    assert answer["sources"]
    api.call(
        "POST",
        "/chat",
        200,
        session=sid,
        json={"message": "Is the keyboard included?", "video_ids": ["abcdefghijk"]},
    )
    streamed = api.call(
        "POST",
        "/chat",
        200,
        session=sid,
        headers={"Accept": EVENT_STREAM},
        json={"message": "How long does the battery last?"},
    )
    text, done = deltas_and_done(events_of(streamed.content))
    assert text == done["answer"] == answer["answer"]
    history = api.call("GET", "/chat/messages", 200, session=sid).json()["messages"]
    assert [m["role"] for m in history] == ["user", "assistant"] * 3
    newest = api.call("GET", "/chat/messages", 200, session=sid, params={"limit": 1}).json()
    assert len(newest["messages"]) == 1
    api.call("DELETE", "/chat/messages", 204, session=sid)
    assert api.call("GET", "/chat/messages", 200, session=sid).json() == {"messages": []}

    api.call(
        "DELETE", "/videos/{video_id}", 204, session=sid, path_values={"video_id": "abcdefghijk"}
    )
    api.call("DELETE", "/sessions/current", 204, session=sid)
    gone = api.call("GET", "/sessions/current", 401, session=sid)
    assert gone.json()["error"]["code"] == "session_not_found"

    page = api.call("GET", "/ui", 200)
    assert "<html" in page.text.lower()

    _legacy_sequence(api)

    missing = {
        (method.upper(), path)
        for path, item in DOC["paths"].items()
        for method, operation in item.items()
        if not any(
            (method.upper(), path, int(status)) in api.seen
            for status in operation["responses"]
            if status.startswith("2")
        )
    }
    assert not missing, f"operations never answered with success: {sorted(missing)}"


def _legacy_sequence(api: Conformance) -> None:
    created = api.call("POST", "/getorcreatesession", 201, json={"session_id": None}).json()
    sid = created["session_id"]
    found = api.call("POST", "/getorcreatesession", 200, params={"session_id": sid}).json()
    assert found == created
    saved = api.call(
        "POST",
        "/savevideotranscript",
        200,
        json={"session_id": sid, "video_ids": ["https://example.com/not-youtube"]},
    ).json()
    assert saved == {
        "successful_video_ids": [],
        "failed_video_ids": ["https://example.com/not-youtube"],
    }
    api.call("POST", "/videos", 200, session=sid, json=upload("GJLlxj_dtq8"))
    api.call(
        "POST",
        "/getinference",
        200,
        json={"session_id": sid, "query": "How long does the battery last?", "create_date": "x"},
    )
    history = api.call("GET", "/getchatmessagehistory", 200, params={"session_id": sid}).json()
    assert [m["chat_message_type_id"] for m in history["chat_messages"]] == [1, 2]
    videos = api.call("GET", "/getvideos", 200, json={"session_id": sid}).json()["videos"]
    assert [v["external_video_id"] for v in videos] == ["GJLlxj_dtq8"]
    api.call("GET", "/getvideos", 401)
    api.call("POST", "/getinference", 400, json={"session_id": sid, "query": 3})


def test_errors_conform(api: Conformance, new_session: Callable[[], str]) -> None:
    sid = new_session()
    assert api.call("GET", "/videos", 401).json()["error"]["code"] == "session_required"
    assert api.call("GET", "/videos", 401, session="nope").json()["error"]["code"] == (
        "session_not_found"
    )
    bad_json = api.call(
        "POST", "/chat", 400, session=sid, content=b"{", headers={"Content-Type": JSON}
    )
    assert bad_json.json()["error"]["code"] == "invalid_json"
    unknown_field = api.call("POST", "/chat", 400, session=sid, json={"message": "x", "bogus": 1})
    assert unknown_field.json()["error"]["details"][0]["field"] == "bogus"
    none_sent = api.call("POST", "/videos", 400, session=sid, json={"urls": []}).json()
    assert none_sent["error"]["code"] == "validation_error"
    api.call("GET", "/chat/messages", 400, session=sid, params={"limit": 0})
    no_videos = api.call("POST", "/chat", 409, session=sid, json={"message": "Anything?"})
    assert no_videos.json()["error"]["code"] == "no_videos"
    api.call(
        "DELETE", "/videos/{video_id}", 404, session=sid, path_values={"video_id": "abcdefghijk"}
    )
    api.call("POST", "/videos", 200, session=sid, json=upload("GJLlxj_dtq8"))
    unknown_video = {"message": "Battery?", "video_ids": ["abcdefghijk"]}
    assert (
        api.call("POST", "/chat", 404, session=sid, json=unknown_video).json()["error"]["code"]
        == "video_not_found"
    )
    api.call("POST", "/sessions", 413, content=b"x" * (3 * 1024 * 1024))

    not_allowed = api.call_outside("PATCH", "/videos", 405, "MethodNotAllowed")
    assert not_allowed.headers["allow"] == "GET, POST"
    api.call_outside("POST", "/openapi.json", 405, "MethodNotAllowed")
    api.call_outside("GET", "/no/such/route", 404, "NotFound")


def test_the_rate_limit_conforms(api: Conformance, new_session: Callable[[], str]) -> None:
    sid = new_session()
    api.call("POST", "/videos", 200, session=sid, json=upload("GJLlxj_dtq8"))
    question = {"message": "How long does the battery last?"}
    for _ in range(10):  # the default CHAT_RATE_LIMIT_PER_MINUTE
        api.call("POST", "/chat", 200, session=sid, json=question)
    limited = api.call("POST", "/chat", 429, session=sid, json=question)
    assert int(limited.headers["retry-after"]) >= 1
