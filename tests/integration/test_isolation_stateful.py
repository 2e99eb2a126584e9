"""Session isolation, checked by a hypothesis state machine through the registered functions on
the real database.

Several anonymous sessions add videos (a small pool served by a fake transcript source, so the
same video is often shared), upload transcripts of their own (private title and words, sometimes
for a video id another session has from YouTube), ask questions (offline answerer), delete videos,
clear their history, end; the clock moves (sometimes past expiry) and the cleanup runs. Probe
rules make one session try to reach another's things. A model of every session (videos, messages,
state) is checked after each step through the API (every live session's videos and counts) and
through rows per table: links, uploads and messages exist exactly for the sessions whose row
still exists (live, or expired and awaiting the cleanup), no session links another's upload, no
transcript lacks chunks. 15 examples of up to 25 steps, the tables emptied before each example:
about 10-15 s.

The 401s of a session that is no longer usable, as the API distinguishes them:
- never existed, ended (DELETE /sessions/current), or expired and already deleted by the cleanup:
  `session_not_found`, with bodies identical apart from `request_id` (nothing tells an ended
  session from one that never existed);
- expired but not yet deleted by the cleanup: `session_expired` (the row is still there; only the
  holder of the id can learn that it once existed). Such a session cannot end itself either: it
  stays, unusable, until the cleanup deletes it.
"""

from __future__ import annotations

import copy
import json
import secrets
import string
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text
from sqlalchemy.engine import Connection

from services.video_rag.bootstrap import Dependencies
from services.video_rag.db.models import metadata
from services.video_rag.domain.sessions import hash_token
from services.video_rag.service.maintenance import (
    UNUSED_TRANSCRIPT_GRACE,
    cleanup_expired_sessions,
)
from tests.conftest import FakeClock
from tests.fakes import FakeTranscriptSource
from tests.helpers import body_of, invoke

pytestmark = [pytest.mark.db]

START = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
LIFETIME = timedelta(minutes=15)  # SESSION_EXPIRE_MINUTES default: the idle timeout
MAX_AGE = timedelta(hours=24)  # SESSION_MAX_HOURS default

# Videos YouTube (the fake) serves, with what they talk about.
POOL = {
    "poolvideo01": "pasta cooking",
    "poolvideo02": "mountain hiking",
    "poolvideo03": "battery life",
}
FAILING = "failvideo01"  # YouTube refuses it
UPLOAD_ONLY = ("uploadvid01", "uploadvid02")  # not on YouTube
NOBODY_HAS = "nobodyhas01"  # never added by anyone
ALL_VIDEO_IDS = (*POOL, FAILING, *UPLOAD_ONLY)
TOPICS = ("pasta", "hiking", "battery", "guitar")

URL_FORMS = (
    "{}",
    "https://youtu.be/{}?t=42",
    "https://www.youtube.com/watch?v={}&list=PL1",
    "m.youtube.com/shorts/{}",
)


def without_request_id(body: Any) -> Any:
    """An error body with its (per-request) request_id taken out."""
    stripped = copy.deepcopy(body)
    assert isinstance(stripped["error"].pop("request_id"), str)
    return stripped


def headers_for(token: str) -> dict[str, str]:
    return {"X-Session-Id": token}


def upload_vtt(marker: str, topic: str, number: int) -> str:
    return (
        "WEBVTT\n\n"
        f"00:00:01.000 --> 00:00:06.000\nPrivate notes {marker} about {topic} number {number}.\n\n"
        f"00:00:06.000 --> 00:00:12.000\nMore private {marker} words on {topic} and secrets.\n"
    )


@dataclass
class ExpectedVideo:
    video_id: str
    title: str
    uploaded: bool
    chunks: int
    added_at: datetime


@dataclass
class SessionModel:
    """What one session should have, and whether it still exists."""

    token: str
    marker: str  # a word only this session's uploads (and private titles) contain
    created_at: datetime
    videos: dict[str, ExpectedVideo] = field(default_factory=dict)
    # (role, content, sources) in order
    messages: list[tuple[str, str, list[dict[str, Any]]]] = field(default_factory=list)
    ended: bool = False
    cleaned: bool = False
    used_at: datetime | None = None  # the last authenticated request (renews the session)

    @property
    def expires_at(self) -> datetime:
        return min((self.used_at or self.created_at) + LIFETIME, self.created_at + MAX_AGE)

    def in_database(self) -> bool:
        return not (self.ended or self.cleaned)

    def listed(self) -> list[tuple[str, str, int]]:
        ordered = sorted(self.videos.values(), key=lambda v: (v.added_at, v.video_id))
        return [(v.video_id, v.title, v.chunks) for v in ordered]


class IsolationMachine(RuleBasedStateMachine):
    """Configured by the test with the fixtures (`deps`, `clock`) before it runs."""

    deps: ClassVar[Dependencies]
    clock: ClassVar[FakeClock]

    sessions = Bundle("sessions")

    def __init__(self) -> None:
        super().__init__()
        reset_database(self.deps)
        self.clock.now = START
        self.source = FakeTranscriptSource()
        for video_id, topic in POOL.items():
            self.source.add(video_id, topic)
        self.source.fail(FAILING, "transcripts_disabled", "subtitles are disabled")
        self.deps.transcript_source = self.source
        self.model: dict[str, SessionModel] = {}
        self.uploads = 0

    def teardown(self) -> None:
        reset_database(self.deps)

    # ---- helpers -------------------------------------------------------------------------

    def call(self, method: str, route: str, **kwargs: Any) -> Any:
        """`invoke`, noting that a request a live session authenticated renews it."""
        token = str((kwargs.get("headers") or {}).get("X-Session-Id"))
        live = token in self.model and self.state_of(token) == "live"
        response = invoke(method, route, **kwargs)
        if live and response.status_code != 401:
            self.model[token].used_at = self.clock()
        return response

    def state_of(self, token: str) -> str:
        """live, expired (row still there) or gone (ended, or deleted by the cleanup)."""
        session = self.model[token]
        if not session.in_database():
            return "gone"
        return "expired" if session.expires_at <= self.clock() else "live"

    def foreign_markers(self, token: str) -> list[str]:
        return [s.marker for t, s in self.model.items() if t != token]

    def assert_no_foreign_secrets(self, token: str, payload: Any) -> None:
        """`payload` (any JSON) mentions no other session's private words or titles."""
        dumped = json.dumps(payload)
        for marker in self.foreign_markers(token):
            assert marker not in dumped, (marker, payload)

    def new_model(self, body: dict[str, Any]) -> str:
        token = str(body["session_id"])
        assert token not in self.model
        assert body["created_at"] == iso(self.clock())
        assert body["expires_at"] == iso(self.clock() + LIFETIME)
        assert (body["videos"], body["messages"]) == (0, 0)
        marker = "secret" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(10))
        self.model[token] = SessionModel(token=token, marker=marker, created_at=self.clock())
        return token

    def expect_rejected(self, token: str, response: Any) -> None:
        """The 401 a session that is not live gets."""
        code = "session_expired" if self.state_of(token) == "expired" else "session_not_found"
        assert response.status_code == 401, response.get_body()
        assert body_of(response)["error"]["code"] == code

    # ---- sessions ------------------------------------------------------------------------

    @initialize(target=sessions)
    def two_sessions(self) -> Any:
        return multiple(self.create_session(), self.create_session())

    @rule(target=sessions)
    def create_session(self) -> str:
        response = self.call("POST", "sessions")
        assert response.status_code == 201
        body = body_of(response)
        assert response.headers["X-Session-Id"] == body["session_id"]
        return self.new_model(body)

    @rule(target=sessions, session=sessions)
    def get_or_create_again(self, session: str) -> Any:
        """POST /sessions with an id: the same live session, or a brand-new one otherwise."""
        response = self.call("POST", "sessions", headers=headers_for(session))
        if self.state_of(session) == "live":
            assert response.status_code == 200
            assert body_of(response)["session_id"] == session
            return multiple()
        assert response.status_code == 201
        body = body_of(response)
        assert body["session_id"] != session
        return self.new_model(body)

    @rule(session=sessions)
    def end_session(self, session: str) -> None:
        response = self.call("DELETE", "sessions/current", headers=headers_for(session))
        if self.state_of(session) == "live":
            assert response.status_code == 204, response.get_body()
            self.model[session].ended = True
        else:
            self.expect_rejected(session, response)

    # ---- videos --------------------------------------------------------------------------

    @rule(
        session=sessions,
        video_id=st.sampled_from([*POOL, FAILING]),
        form=st.sampled_from(URL_FORMS),
    )
    def add_from_youtube(self, session: str, video_id: str, form: str) -> None:
        url = form.format(video_id)
        response = self.call(
            "POST", "videos", json_body={"urls": [url]}, headers=headers_for(session)
        )
        if self.state_of(session) != "live":
            self.expect_rejected(session, response)
            return
        assert response.status_code == 200, response.get_body()
        (result,) = body_of(response)["videos"]
        assert (result["input"], result["video_id"]) == (url, video_id)
        model = self.model[session]
        if video_id in model.videos:
            assert result["status"] == "already_added"
            assert result["title"] == model.videos[video_id].title
        elif video_id == FAILING:
            assert result["status"] == "failed"
            assert result["error"]["code"] == "transcripts_disabled"
        else:
            assert result["status"] == "added", result
            assert result["title"] == f"Title of {video_id}"
            assert result["chunks"] >= 1
            model.videos[video_id] = ExpectedVideo(
                video_id, result["title"], False, result["chunks"], self.clock()
            )
        self.assert_no_foreign_secrets(session, result)

    @rule(
        session=sessions,
        video_id=st.sampled_from([*POOL, *UPLOAD_ONLY]),
        topic=st.sampled_from(TOPICS),
    )
    def upload_transcript(self, session: str, video_id: str, topic: str) -> None:
        self.uploads += 1
        model = self.model[session]
        title = f"Private {model.marker} title {self.uploads}"
        upload = {
            "video_id": video_id,
            "title": title,
            "format": "vtt",
            "content": upload_vtt(model.marker, topic, self.uploads),
        }
        response = self.call(
            "POST", "videos", json_body={"transcripts": [upload]}, headers=headers_for(session)
        )
        if self.state_of(session) != "live":
            self.expect_rejected(session, response)
            return
        assert response.status_code == 200, response.get_body()
        (result,) = body_of(response)["videos"]
        if video_id in model.videos:
            assert result["status"] == "already_added"
            assert result["title"] == model.videos[video_id].title
        else:
            assert result["status"] == "added", result
            assert (result["title"], result["duration_seconds"]) == (title, 12.0)
            model.videos[video_id] = ExpectedVideo(
                video_id, title, True, result["chunks"], self.clock()
            )
        self.assert_no_foreign_secrets(session, result)

    @rule(session=sessions, video_id=st.sampled_from(ALL_VIDEO_IDS))
    def delete_video(self, session: str, video_id: str) -> None:
        response = self.call(
            "DELETE",
            "videos/{video_id}",
            headers=headers_for(session),
            route_params={"video_id": video_id},
        )
        if self.state_of(session) != "live":
            self.expect_rejected(session, response)
            return
        model = self.model[session]
        if video_id in model.videos:
            assert response.status_code == 204, response.get_body()
            del model.videos[video_id]
        else:
            assert response.status_code == 404
            assert body_of(response)["error"]["code"] == "video_not_found"

    # ---- chat ----------------------------------------------------------------------------

    @rule(
        session=sessions,
        other=sessions,
        topic=st.sampled_from(TOPICS),
        restrict=st.booleans(),
    )
    def ask(self, session: str, other: str, topic: str, restrict: bool) -> None:
        """A question about a topic that also names another session's private word (as if it had
        been guessed): only this session's passages may answer it."""
        question = f"Tell me about {topic} {self.model[other].marker}"
        model = self.model[session]
        restricted = sorted(model.videos)[:1] if restrict and model.videos else None
        body: dict[str, Any] = {"message": question}
        if restricted is not None:
            body["video_ids"] = restricted
        response = self.call("POST", "chat", json_body=body, headers=headers_for(session))
        if self.state_of(session) != "live":
            self.expect_rejected(session, response)
            return
        if not model.videos:
            assert response.status_code == 409
            assert body_of(response)["error"]["code"] == "no_videos"
            return
        assert response.status_code == 200, response.get_body()
        answer = body_of(response)
        assert answer["model"] == "offline-extractive"
        allowed = set(restricted) if restricted is not None else set(model.videos)
        for source in answer["sources"]:
            assert source["video_id"] in allowed, (source, allowed)
            assert source["title"] == model.videos[source["video_id"]].title
        self.assert_no_foreign_secrets(session, [answer["answer"], answer["sources"]])
        model.messages.append(("user", question, []))
        model.messages.append(("assistant", answer["answer"], answer["sources"]))

    @rule(session=sessions)
    def clear_history(self, session: str) -> None:
        response = self.call("DELETE", "chat/messages", headers=headers_for(session))
        if self.state_of(session) != "live":
            self.expect_rejected(session, response)
            return
        assert response.status_code == 204
        self.model[session].messages.clear()

    # ---- time ----------------------------------------------------------------------------

    @rule(minutes=st.sampled_from([0, 1, 4, 9, 16]), cleanup=st.booleans())
    def advance_clock(self, minutes: int, cleanup: bool) -> None:
        """Time passes (16 minutes expire every session there is); then maybe the timer runs."""
        self.clock.advance(minutes=minutes)
        if cleanup:
            self.run_cleanup()

    def run_cleanup(self) -> None:
        now = self.clock()
        due = [s for s in self.model.values() if s.in_database() and s.expires_at <= now]
        report = cleanup_expired_sessions(self.deps.uow, now, 50)
        assert report.sessions == len(due)
        for session in due:
            session.cleaned = True
        with self.deps.engine.connect() as connection:
            # Nothing left that only the cleanup would delete.
            unused = connection.scalar(
                text(
                    "SELECT count(*) FROM transcript t WHERE t.owner_session_id IS NULL"
                    " AND t.last_used_at < :cutoff"
                    " AND NOT EXISTS (SELECT 1 FROM session_video sv"
                    " WHERE sv.transcript_id = t.id)"
                ),
                {"cutoff": now - UNUSED_TRANSCRIPT_GRACE},
            )
            assert unused == 0
            videos_without_transcripts = connection.scalar(
                text(
                    "SELECT count(*) FROM video v WHERE v.last_used_at < :cutoff"
                    " AND NOT EXISTS (SELECT 1 FROM transcript t WHERE t.video_id = v.id)"
                ),
                {"cutoff": now - UNUSED_TRANSCRIPT_GRACE},
            )
            assert videos_without_transcripts == 0

    # ---- probes: one session reaching for another's things -------------------------------

    @rule(session=sessions, other=sessions)
    def probe_foreign_video(self, session: str, other: str) -> None:
        """Deleting, or asking about, a video another session has but this one does not looks
        exactly like a video nobody has."""
        if session == other or self.state_of(session) != "live":
            return
        mine, theirs = self.model[session], self.model[other]
        foreign = sorted(set(theirs.videos) - set(mine.videos))
        if not foreign:
            return
        target = foreign[0]
        responses = {}
        for video_id in (target, NOBODY_HAS):
            responses[video_id] = self.call(
                "DELETE",
                "videos/{video_id}",
                headers=headers_for(session),
                route_params={"video_id": video_id},
            )
        assert {r.status_code for r in responses.values()} == {404}
        assert body_of(responses[target])["error"]["code"] == "video_not_found"
        assert without_request_id(body_of(responses[target])) == without_request_id(
            body_of(responses[NOBODY_HAS])
        )
        asked = {
            video_id: self.call(
                "POST",
                "chat",
                json_body={"message": "anything about pasta?", "video_ids": [video_id]},
                headers=headers_for(session),
            )
            for video_id in (target, NOBODY_HAS)
        }
        expected_status = 404 if mine.videos else 409
        assert {r.status_code for r in asked.values()} == {expected_status}
        assert without_request_id(body_of(asked[target])) == without_request_id(
            body_of(asked[NOBODY_HAS])
        )

    @rule(session=sessions)
    def probe_reads(self, session: str) -> None:
        """What a live session reads is its own, and only its own."""
        if self.state_of(session) != "live":
            return
        model = self.model[session]
        headers = headers_for(session)
        videos = body_of(self.call("GET", "videos", headers=headers))
        messages = body_of(self.call("GET", "chat/messages", headers=headers))
        current = body_of(self.call("GET", "sessions/current", headers=headers))
        assert [(m["role"], m["content"], m["sources"]) for m in messages["messages"]] == [
            (role, content, sources) for role, content, sources in model.messages
        ]
        assistant = [m for m in messages["messages"] if m["role"] == "assistant"]
        self.assert_no_foreign_secrets(session, [videos, assistant, current])

    @rule(session=sessions)
    def probe_unusable_session(self, session: str) -> None:
        """An ended/deleted session is indistinguishable from one that never existed, on every
        route; an expired one not yet cleaned up says session_expired. Nothing changes."""
        state = self.state_of(session)
        if state == "live":
            return
        never = secrets.token_urlsafe(32)
        calls: list[tuple[str, str, dict[str, Any]]] = [
            ("GET", "sessions/current", {}),
            ("DELETE", "sessions/current", {}),
            ("GET", "videos", {}),
            ("POST", "videos", {"json_body": {"urls": ["poolvideo01"]}}),
            ("DELETE", "videos/{video_id}", {"route_params": {"video_id": "poolvideo01"}}),
            ("POST", "chat", {"json_body": {"message": "pasta?"}}),
            ("GET", "chat/messages", {}),
            ("DELETE", "chat/messages", {}),
        ]
        for method, route, extra in calls:
            response = self.call(method, route, headers=headers_for(session), **extra)
            self.expect_rejected(session, response)
            if state == "gone":
                unknown = self.call(method, route, headers=headers_for(never), **extra)
                assert unknown.status_code == 401
                assert without_request_id(body_of(response)) == without_request_id(
                    body_of(unknown)
                ), (method, route)

    # ---- invariants ----------------------------------------------------------------------

    @invariant()
    def live_sessions_match_the_model(self) -> None:
        for token, model in self.model.items():
            if self.state_of(token) != "live":
                continue
            headers = headers_for(token)
            response = self.call("GET", "videos", headers=headers)
            assert response.status_code == 200
            listed = [(v["video_id"], v["title"], v["chunks"]) for v in body_of(response)["videos"]]
            assert listed == model.listed()
            current = body_of(self.call("GET", "sessions/current", headers=headers))
            assert (current["videos"], current["messages"]) == (
                len(model.videos),
                len(model.messages),
            )
            assert current["expires_at"] == iso(model.expires_at)

    @invariant()
    def rows_match_the_model(self) -> None:
        resident = {hash_token(t): s for t, s in self.model.items() if s.in_database()}
        with self.deps.engine.connect() as connection:
            check_rows(connection, resident)


def check_rows(connection: Connection, resident: dict[bytes, SessionModel]) -> None:
    """Per session (live or expired, not yet deleted): its links, uploads and messages are the
    model's; no session links another's upload; every transcript has all its chunks."""
    sessions = {
        bytes(row[0]) for row in connection.execute(text("SELECT token_hash FROM chat_session"))
    }
    assert sessions == set(resident)

    links: dict[bytes, set[tuple[str, bool]]] = {key: set() for key in resident}
    for token_hash, video_id, uploaded in connection.execute(
        text(
            "SELECT cs.token_hash, sv.video_id, t.owner_session_id IS NOT NULL"
            " FROM session_video sv JOIN chat_session cs ON cs.id = sv.session_id"
            " JOIN transcript t ON t.id = sv.transcript_id"
        )
    ):
        links[bytes(token_hash)].add((video_id, uploaded))
    assert links == {
        key: {(v.video_id, v.uploaded) for v in model.videos.values()}
        for key, model in resident.items()
    }
    totals = {
        str(name): int(count)
        for name, count in connection.execute(
            text(
                "SELECT 'session_video', count(*) FROM session_video"
                " UNION ALL SELECT 'chat_message', count(*) FROM chat_message"
                " UNION ALL SELECT 'uploads', count(*) FROM transcript"
                " WHERE owner_session_id IS NOT NULL"
                " UNION ALL SELECT 'foreign_uploads_linked', count(*) FROM session_video sv"
                " JOIN transcript t ON t.id = sv.transcript_id"
                " WHERE t.owner_session_id IS NOT NULL AND t.owner_session_id <> sv.session_id"
                " UNION ALL SELECT 'uploads_unlinked', count(*) FROM transcript t"
                " WHERE t.owner_session_id IS NOT NULL AND NOT EXISTS"
                " (SELECT 1 FROM session_video sv WHERE sv.transcript_id = t.id)"
                " UNION ALL SELECT 'incomplete_transcripts', count(*) FROM transcript t"
                " WHERE t.chunk_count <> (SELECT count(*) FROM transcript_chunk c"
                " WHERE c.transcript_id = t.id)"
            )
        )
    }
    assert totals == {
        "session_video": sum(len(m.videos) for m in resident.values()),
        "chat_message": sum(len(m.messages) for m in resident.values()),
        "uploads": sum(v.uploaded for m in resident.values() for v in m.videos.values()),
        "foreign_uploads_linked": 0,
        "uploads_unlinked": 0,
        "incomplete_transcripts": 0,
    }
    roles: dict[bytes, list[str]] = {key: [] for key in resident}
    for token_hash, role in connection.execute(
        text(
            "SELECT cs.token_hash, m.role FROM chat_message m"
            " JOIN chat_session cs ON cs.id = m.session_id ORDER BY m.seq"
        )
    ):
        roles[bytes(token_hash)].append(role)
    assert roles == {
        key: [role for role, _, _ in model.messages] for key, model in resident.items()
    }


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def reset_database(deps: Dependencies) -> None:
    tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    with deps.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} CASCADE"))


def test_sessions_stay_isolated_whatever_they_do(deps: Dependencies, clock: FakeClock) -> None:
    deps.settings = replace(deps.settings, chat_rate_limit_per_minute=0)

    class Machine(IsolationMachine):
        pass

    Machine.deps = deps
    Machine.clock = clock
    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=15,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
