"""Real threads against the real database: chat and video changes racing in one session, the
cleanup timer running twice at once while live sessions work, twenty sessions adding the same new
video while the cleanup runs and one of them ends its session, and two races pinned down
deterministically (answers to one session stored at the same moment; a video added again while
the cleanup deletes videos without transcripts), both found by these tests and fixed in 74b84c1.

Every thread starts at a `threading.Barrier`, runs a bounded number of operations, and records
whatever it did not expect (an exception, a 5xx, a body not in the documented shape) instead of
raising; the test asserts that nothing was recorded. Nothing asserts on timing.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import azure.functions as func
import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from services.video_rag.api.http import STATUS_BY_CODE
from services.video_rag.bootstrap import Dependencies
from services.video_rag.db.engine import create_database_engine, create_session_factory
from services.video_rag.db.models import ChatSession
from services.video_rag.db.unit_of_work import UnitOfWork
from services.video_rag.domain.prompts import HistoryMessage, Passage
from services.video_rag.providers.chat import OfflineExtractiveAnswerer
from services.video_rag.service.maintenance import (
    UNUSED_TRANSCRIPT_GRACE,
    CleanupReport,
    cleanup_expired_sessions,
)
from tests.conftest import FakeClock
from tests.factories import add_exchange, add_transcript, link, row_counts
from tests.fakes import FakeTranscriptSource
from tests.helpers import body_of, invoke, new_session, registered_functions

pytestmark = [pytest.mark.db]

JOIN_TIMEOUT = 60.0
POOL = {
    "poolvideo01": "pasta cooking",
    "poolvideo02": "mountain hiking",
    "poolvideo03": "battery life",
    "poolvideo04": "guitar chords",
}
TOPICS = ("pasta", "hiking", "battery", "guitar")


def vtt(words: str) -> str:
    return (
        "WEBVTT\n\n"
        f"00:00:01.000 --> 00:00:06.000\nUploaded notes about {words}.\n\n"
        f"00:00:06.000 --> 00:00:12.000\nMore uploaded words on {words}.\n"
    )


# ---- the documented shapes ----------------------------------------------------------------

VIDEO_KEYS = {
    "video_id",
    "url",
    "title",
    "channel",
    "language",
    "is_generated",
    "duration_seconds",
    "chunks",
    "added_at",
}
RESULT_KEYS = {
    "input",
    "video_id",
    "status",
    "title",
    "channel",
    "language",
    "is_generated",
    "duration_seconds",
    "chunks",
    "error",
}
SOURCE_KEYS = {
    "id",
    "video_id",
    "title",
    "start_seconds",
    "end_seconds",
    "at_seconds",
    "url",
    "text",
}


def shape_problems(route: str, method: str, response: func.HttpResponse) -> list[str]:
    """What is wrong with `response` against docs/API.md (empty when nothing)."""
    problems: list[str] = []
    status = response.status_code
    if status >= 500:
        problems.append(f"{method} {route}: {status} {response.get_body()[:300]!r}")
    if not response.headers.get("X-Request-Id"):
        problems.append(f"{method} {route}: no X-Request-Id")
    if status == 204:
        if response.get_body():
            problems.append(f"{method} {route}: 204 with a body")
        return problems
    body = body_of(response)
    if status >= 400:
        error = body.get("error", {})
        if set(error) - {"details"} != {"code", "message", "request_id"}:
            problems.append(f"{method} {route}: error body {body}")
        elif STATUS_BY_CODE.get(error["code"]) != status:
            problems.append(f"{method} {route}: {error['code']} with {status}")
        return problems
    if (route, method) == ("chat", "POST"):
        if set(body) != {"message_id", "answer", "sources", "model"}:
            problems.append(f"chat answer {body}")
        elif any(set(s) != SOURCE_KEYS for s in body["sources"]):
            problems.append(f"chat sources {body['sources']}")
    elif (route, method) == ("chat/messages", "GET"):
        for message in body["messages"]:
            if set(message) != {"id", "role", "content", "sources", "created_at"}:
                problems.append(f"message {message}")
    elif (route, method) == ("videos", "GET"):
        if any(set(v) != VIDEO_KEYS for v in body["videos"]):
            problems.append(f"videos {body}")
    elif (route, method) == ("videos", "POST") and any(
        set(v) != RESULT_KEYS for v in body["videos"]
    ):
        problems.append(f"add results {body}")
    return problems


@dataclass
class Recorder:
    """Collects, across threads, every call's outcome and everything unexpected."""

    problems: list[str] = field(default_factory=list)
    outcomes: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(
        self,
        method: str,
        route: str,
        session_id: str,
        *,
        expect: Sequence[int] = (200,),
        **kwargs: Any,
    ) -> func.HttpResponse:
        response = invoke(method, route, headers={"X-Session-Id": session_id}, **kwargs)
        problems = shape_problems(route, method, response)
        if response.status_code not in expect:
            problems.append(
                f"{method} {route}: {response.status_code} (expected {list(expect)}) "
                f"{response.get_body()[:300]!r}"
            )
        with self.lock:
            self.outcomes[(method, route, response.status_code)] += 1
            self.problems.extend(problems)
        return response

    def fail(self, problem: str) -> None:
        with self.lock:
            self.problems.append(problem)

    def run(self, workers: Sequence[Callable[[], None]]) -> None:
        """Start `workers` in threads together; join them; record what they raised."""
        barrier = threading.Barrier(len(workers))

        def wrapped(work: Callable[[], None]) -> None:
            try:
                barrier.wait(timeout=JOIN_TIMEOUT)
                work()
            except BaseException as exc:
                self.fail(f"{type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=wrapped, args=(work,)) for work in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=JOIN_TIMEOUT)
        stuck = [t.name for t in threads if t.is_alive()]
        assert stuck == [], f"threads still running after {JOIN_TIMEOUT} s: {stuck}"


@pytest.fixture
def source(deps: Dependencies) -> FakeTranscriptSource:
    fake = FakeTranscriptSource()
    for video_id, topic in POOL.items():
        fake.add(video_id, topic)
    deps.transcript_source = fake
    # Many questions within the fake clock's one minute: the rate limit is tested elsewhere.
    deps.settings = replace(deps.settings, chat_rate_limit_per_minute=0)
    # Read the registered functions once, before any thread does: get_functions() cannot run
    # twice, and two threads making the first call at once would both run it.
    registered_functions()
    return fake


def listed_ids(session_id: str) -> list[str]:
    response = invoke("GET", "videos", headers={"X-Session-Id": session_id})
    assert response.status_code == 200
    return [v["video_id"] for v in body_of(response)["videos"]]


def history(session_id: str) -> list[dict[str, Any]]:
    response = invoke("GET", "chat/messages", headers={"X-Session-Id": session_id})
    assert response.status_code == 200
    messages: list[dict[str, Any]] = body_of(response)["messages"]
    return messages


def pair_problems(messages: Sequence[dict[str, Any]]) -> list[str]:
    """Whether a history is made of whole exchanges, in order: user, assistant, user, ..."""
    roles = [m["role"] for m in messages]
    expected = ["user", "assistant"] * (len(roles) // 2)
    if roles != expected:
        return [f"history is not whole pairs in order: {roles}"]
    return [
        f"pair {index} has different timestamps"
        for index in range(0, len(messages), 2)
        if messages[index]["created_at"] != messages[index + 1]["created_at"]
    ]


def unordered_pair_problems(
    messages: Sequence[dict[str, Any]], questions: dict[str, str]
) -> list[str]:
    """Whether every stored message belongs to a whole exchange that was answered: each answer is
    one the API returned (`questions`: answer message id -> its question), with its question."""
    users = Counter(m["content"] for m in messages if m["role"] == "user")
    answers = [m for m in messages if m["role"] == "assistant"]
    problems = []
    if sum(users.values()) != len(answers):
        problems.append(f"{sum(users.values())} questions but {len(answers)} answers")
    for answer in answers:
        question = questions.get(answer["id"])
        if question is None:
            problems.append(f"an answer nobody received: {answer['id']}")
        elif users[question] < 1:
            problems.append(f"an answer without its question: {question!r}")
        else:
            users[question] -= 1
    return problems


def chunk_problems(db: Session) -> list[str]:
    """Links whose video differs from their transcript's, and transcripts missing chunks."""
    rows = db.execute(
        text(
            "SELECT t.id, t.chunk_count, count(c.id) FROM transcript t"
            " LEFT JOIN transcript_chunk c ON c.transcript_id = t.id"
            " GROUP BY t.id HAVING t.chunk_count <> count(c.id) OR count(c.id) = 0"
        )
    ).all()
    foreign = db.scalar(
        text(
            "SELECT count(*) FROM session_video sv JOIN transcript t ON t.id = sv.transcript_id"
            " WHERE t.owner_session_id IS NOT NULL AND t.owner_session_id <> sv.session_id"
        )
    )
    problems = [f"transcript {row[0]}: {row[1]} chunks expected, {row[2]} stored" for row in rows]
    if foreign:
        problems.append(f"{foreign} links to another session's upload")
    return problems


def uploads(db: Session) -> int:
    return int(
        db.scalar(text("SELECT count(*) FROM transcript WHERE owner_session_id IS NOT NULL")) or 0
    )


# ---- 1. chat and video changes racing in one session -----------------------------------------

STABLE = "stablevid01"
# Each churner thread owns its videos: one from YouTube and one upload.
CHURN = (("churnyt0000", "churnup0000"), ("churnyt0001", "churnup0001"))
CHURN_ROUNDS = 6


def test_chat_and_video_changes_race_in_one_session(
    deps: Dependencies, source: FakeTranscriptSource, db: Session
) -> None:
    source.add(STABLE, "weather forecast")
    for youtube, _ in CHURN:
        source.add(youtube, "bicycle repair")
    source.delay_seconds = 0.005
    me = new_session()
    (stable,) = body_of(
        invoke("POST", "videos", json_body={"urls": [STABLE]}, headers={"X-Session-Id": me})
    )["videos"]
    assert stable["status"] == "added"
    rec = Recorder()
    questions: dict[str, str] = {}  # answer message id -> question
    all_ids = {STABLE} | {v for pair in CHURN for v in pair}

    def asker(number: int) -> Callable[[], None]:
        def work() -> None:
            for turn in range(10):
                question = f"Asker {number} turn {turn}: what about {TOPICS[turn % 4]} repair?"
                body: dict[str, Any] = {"message": question}
                if turn % 3 == 2:
                    body["video_ids"] = [STABLE]
                response = rec.call("POST", "chat", me, json_body=body)
                if response.status_code != 200:
                    continue
                answer = body_of(response)
                with rec.lock:
                    questions[answer["message_id"]] = question
                cited = {s["video_id"] for s in answer["sources"]}
                if not cited <= (all_ids if "video_ids" not in body else {STABLE}):
                    rec.fail(f"cited {cited} for {body}")

        return work

    def churner(number: int) -> Callable[[], None]:
        youtube, upload = CHURN[number]

        def work() -> None:
            for round_ in range(CHURN_ROUNDS):
                response = rec.call(
                    "POST",
                    "videos",
                    me,
                    json_body={
                        "urls": [f"https://youtu.be/{youtube}"],
                        "transcripts": [
                            {"video_id": upload, "format": "vtt", "content": vtt("gears")}
                        ],
                    },
                )
                if response.status_code == 200:
                    statuses = [r["status"] for r in body_of(response)["videos"]]
                    if statuses != ["added", "added"]:
                        rec.fail(f"churner {number} round {round_}: {body_of(response)}")
                last = round_ == CHURN_ROUNDS - 1
                # The last round keeps both (churner 0) or only the upload (churner 1).
                remove = [] if last and number == 0 else [youtube] if last else [youtube, upload]
                for video_id in remove:
                    rec.call(
                        "DELETE",
                        "videos/{video_id}",
                        me,
                        expect=(204,),
                        route_params={"video_id": video_id},
                    )

        return work

    def clearer() -> None:
        for _ in range(8):
            rec.call("DELETE", "chat/messages", me, expect=(204,))
            time.sleep(0.02)

    def reader() -> None:
        for _ in range(15):
            messages = body_of(rec.call("GET", "chat/messages", me))["messages"]
            users = sum(m["role"] == "user" for m in messages)
            if users * 2 != len(messages):
                rec.fail(f"a snapshot with half an exchange: {[m['role'] for m in messages]}")
            ids = [v["video_id"] for v in body_of(rec.call("GET", "videos", me))["videos"]]
            if len(ids) != len(set(ids)) or STABLE not in ids:
                rec.fail(f"videos snapshot {ids}")
            current = body_of(rec.call("GET", "sessions/current", me))
            if current["videos"] < 1:
                rec.fail(f"session snapshot {current}")
            time.sleep(0.01)

    rec.run([asker(0), asker(1), asker(2), churner(0), churner(1), clearer, reader])

    assert rec.problems == []
    assert rec.outcomes[("POST", "chat", 200)] == 30
    assert rec.outcomes[("DELETE", "videos/{video_id}", 204)] == 2 * (CHURN_ROUNDS - 1) * 2 + 1

    final = history(me)
    # Whole exchanges, each answer with its question, in order (the next test makes answers
    # stored at the same moment certain; here they only happen by chance).
    assert unordered_pair_problems(final, questions) == []
    assert pair_problems(final) == []
    expected = {STABLE, *CHURN[0], CHURN[1][1]}
    ids = listed_ids(me)
    assert len(ids) == len(set(ids))
    assert set(ids) == expected
    assert chunk_problems(db) == []
    counts = row_counts(db)
    assert counts["session_video"] == len(expected)
    assert counts["chat_message"] == len(final)
    assert uploads(db) == 2  # the removed uploads went with their links


class GatedAnswerer(OfflineExtractiveAnswerer):
    """The offline answerer, holding every answer until `parties` questions are being answered:
    their answers are then stored at the same moment."""

    def __init__(self, parties: int) -> None:
        super().__init__()
        self.gate = threading.Barrier(parties)

    def answer(
        self,
        question: str,
        passages: Sequence[Passage],
        history: Sequence[HistoryMessage],
        whole_videos: bool = False,
    ) -> str:
        self.gate.wait(timeout=JOIN_TIMEOUT)
        return super().answer(question, passages, history, whole_videos)


@pytest.fixture
def slow_question_inserts(deps: Dependencies) -> Iterator[None]:
    """Latency injected into the database: storing a question (a `user` message) takes 50 ms,
    which widens the moment between the two rows of an exchange from microseconds to something
    concurrent requests reliably hit. Removed afterwards."""
    with deps.engine.begin() as connection:
        connection.execute(
            text(
                "CREATE FUNCTION test_slow_question() RETURNS trigger LANGUAGE plpgsql AS"
                " $$ BEGIN IF NEW.role = 'user' THEN PERFORM pg_sleep(0.05); END IF;"
                " RETURN NEW; END $$"
            )
        )
        connection.execute(
            text(
                "CREATE TRIGGER test_slow_question BEFORE INSERT ON chat_message"
                " FOR EACH ROW EXECUTE FUNCTION test_slow_question()"
            )
        )
    try:
        yield
    finally:
        with deps.engine.begin() as connection:
            connection.execute(text("DROP TRIGGER test_slow_question ON chat_message"))
            connection.execute(text("DROP FUNCTION test_slow_question()"))


@pytest.mark.usefixtures("slow_question_inserts")
def test_questions_answered_at_the_same_moment_keep_their_pairs_in_order(
    deps: Dependencies, source: FakeTranscriptSource
) -> None:
    """Regression (fixed in 74b84c1): the two rows of an exchange took `chat_message.seq` values
    one by one, so exchanges stored at the same moment interleaved in the history (user, user,
    assistant, assistant), which is ordered by `seq` alone."""
    parties, rounds = 8, 4
    me = new_session()
    invoke("POST", "videos", json_body={"urls": list(POOL)}, headers={"X-Session-Id": me})
    deps.answerer = GatedAnswerer(parties)
    rec = Recorder()
    questions: dict[str, str] = {}

    def asker(number: int) -> Callable[[], None]:
        def work() -> None:
            for turn in range(rounds):
                question = f"Asker {number} turn {turn}: what about {TOPICS[turn % 4]}?"
                answer = body_of(rec.call("POST", "chat", me, json_body={"message": question}))
                with rec.lock:
                    questions[answer["message_id"]] = question

        return work

    rec.run([asker(number) for number in range(parties)])
    assert rec.problems == []
    final = history(me)
    assert len(final) == 2 * parties * rounds
    assert unordered_pair_problems(final, questions) == []
    # Oldest first, each question directly followed by its answer.
    assert pair_problems(final) == []
    for index in range(0, len(final), 2):
        assert questions[final[index + 1]["id"]] == final[index]["content"]


# ---- 2. the cleanup timer twice at once while live sessions work ------------------------------

EXPIRED_SESSIONS = 200
LIVE_SESSIONS = 4
LIVE_ROUNDS = 5
# Shared by the expired sessions; the live ones add them round after round, so some are linked
# again before the cleanup reaches their transcripts, others after it deleted them (fetched anew,
# while the cleanup deletes videos without transcripts).
SHARED = {
    **POOL,
    "sharedvid05": "sailing knots",
    "sharedvid06": "bread baking",
    "sharedvid07": "chess openings",
    "sharedvid08": "bird songs",
}


@dataclass
class LiveSession:
    """A live session worked by one thread, and what it must have at the end."""

    session_id: str
    videos: set[str] = field(default_factory=set)
    uploads: set[str] = field(default_factory=set)
    messages: int = 0


def busy_expiring_session(index: int) -> str:
    """A session with a pool video (shared with many others), sometimes an upload, and one
    exchange."""
    session_id = new_session()
    headers = {"X-Session-Id": session_id}
    body: dict[str, Any] = {"urls": [list(SHARED)[index % len(SHARED)]]}
    if index % 5 == 0:
        body["transcripts"] = [
            {"video_id": f"expired{index:04d}", "format": "vtt", "content": vtt("old things")}
        ]
    added = body_of(invoke("POST", "videos", json_body=body, headers=headers))["videos"]
    assert {r["status"] for r in added} == {"added"}, added
    asked = invoke("POST", "chat", json_body={"message": "pasta or hiking?"}, headers=headers)
    assert asked.status_code == 200
    return session_id


def in_parallel(count: int, make: Callable[[int], str], workers: int = 4) -> list[str]:
    """`make(0..count-1)` on a few threads (setup only)."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(make, range(count)))


def check_live_sessions(live: Sequence[LiveSession], db: Session) -> None:
    """Every live session has exactly what its thread left it with."""
    for session in live:
        ids = listed_ids(session.session_id)
        assert len(ids) == len(set(ids)), ids
        assert set(ids) == session.videos | session.uploads
        messages = history(session.session_id)
        assert len(messages) == session.messages
        assert pair_problems(messages) == []
    counts = row_counts(db)
    assert counts["chat_session"] == len(live)
    assert counts["session_video"] == sum(len(s.videos) + len(s.uploads) for s in live)
    assert counts["chat_message"] == sum(s.messages for s in live)
    assert uploads(db) == sum(len(s.uploads) for s in live)
    assert chunk_problems(db) == []


def unused_rows(db: Session, cutoff: Any) -> dict[str, int]:
    """What a cleanup at `cutoff` + grace should have left nothing of."""
    return {
        "transcripts": int(
            db.scalar(
                text(
                    "SELECT count(*) FROM transcript t WHERE t.owner_session_id IS NULL"
                    " AND t.last_used_at < :cutoff AND NOT EXISTS"
                    " (SELECT 1 FROM session_video sv WHERE sv.transcript_id = t.id)"
                ),
                {"cutoff": cutoff},
            )
            or 0
        ),
        "videos": int(
            db.scalar(
                text(
                    "SELECT count(*) FROM video v WHERE v.last_used_at < :cutoff AND NOT EXISTS"
                    " (SELECT 1 FROM transcript t WHERE t.video_id = v.id)"
                ),
                {"cutoff": cutoff},
            )
            or 0
        ),
    }


def test_two_cleanups_at_once_while_live_sessions_work(
    deps: Dependencies, source: FakeTranscriptSource, clock: FakeClock, db: Session
) -> None:
    for video_id, topic in SHARED.items():
        source.add(video_id, topic)
    expired = in_parallel(EXPIRED_SESSIONS, busy_expiring_session)
    before = row_counts(db)
    assert before["chat_session"] == EXPIRED_SESSIONS
    assert before["chat_message"] == 2 * EXPIRED_SESSIONS
    clock.advance(minutes=30)  # all expired; their transcripts unused for longer than the grace

    live = [LiveSession(new_session()) for _ in range(LIVE_SESSIONS)]
    rec = Recorder()
    reports: list[CleanupReport] = []
    working = threading.Event()
    working.set()
    remaining = threading.Semaphore(0)
    shared_ids = list(SHARED)

    def live_worker(number: int) -> Callable[[], None]:
        session = live[number]
        sid = session.session_id

        def work() -> None:
            try:
                for round_ in range(LIVE_ROUNDS):
                    youtube = shared_ids[(2 * number + round_) % len(shared_ids)]
                    upload = f"liveupl{number}{round_:03d}"
                    response = rec.call(
                        "POST",
                        "videos",
                        sid,
                        json_body={
                            "urls": [youtube],
                            "transcripts": [
                                {"video_id": upload, "format": "vtt", "content": vtt("live")}
                            ],
                        },
                    )
                    if response.status_code == 200:
                        results = body_of(response)["videos"]
                        wanted = "already_added" if youtube in session.videos else "added"
                        if [r["status"] for r in results] != [wanted, "added"]:
                            rec.fail(f"live {number} round {round_}: {results}")
                        session.videos.add(youtube)
                        session.uploads.add(upload)
                    asked = rec.call(
                        "POST", "chat", sid, json_body={"message": f"{TOPICS[round_ % 4]}?"}
                    )
                    if asked.status_code == 200:
                        session.messages += 2
                        cited = {s["video_id"] for s in body_of(asked)["sources"]}
                        if not cited <= session.videos | session.uploads:
                            rec.fail(f"live {number} cited {cited}")
                    if round_ % 2 == 1:  # drop the oldest pool video and upload
                        for video_id in (min(session.videos), min(session.uploads)):
                            rec.call(
                                "DELETE",
                                "videos/{video_id}",
                                sid,
                                expect=(204,),
                                route_params={"video_id": video_id},
                            )
                            session.videos.discard(video_id)
                            session.uploads.discard(video_id)
                    if round_ == 2:
                        rec.call("DELETE", "chat/messages", sid, expect=(204,))
                        session.messages = 0
            finally:
                remaining.release()

        return work

    def cleaner() -> None:
        # Run while the live sessions work (a bounded number of times), then once more.
        for _ in range(30):
            reports.append(cleanup_expired_sessions(deps.uow, clock(), 20))
            if not working.is_set():
                break

    def watcher() -> None:
        for _ in range(LIVE_SESSIONS):
            remaining.acquire(timeout=JOIN_TIMEOUT)
        working.clear()

    workers = [live_worker(n) for n in range(LIVE_SESSIONS)]
    rec.run([*workers, cleaner, cleaner, watcher])

    assert rec.problems == []
    assert sum(r.sessions for r in reports) == EXPIRED_SESSIONS
    assert len(reports) >= 2
    for session_id in expired:
        gone = invoke("GET", "sessions/current", headers={"X-Session-Id": session_id})
        assert body_of(gone)["error"]["code"] == "session_not_found"
    check_live_sessions(live, db)

    # Once the grace has passed for what the live sessions dropped, nothing unused is left, and
    # the live sessions still have everything.
    clock.advance(minutes=UNUSED_TRANSCRIPT_GRACE.total_seconds() / 60 + 1)
    assert cleanup_expired_sessions(deps.uow, clock(), 20).sessions == 0
    assert unused_rows(db, clock() - UNUSED_TRANSCRIPT_GRACE) == {"transcripts": 0, "videos": 0}
    check_live_sessions(live, db)


# ---- 3. one new video, twenty sessions, the cleanup, and a session that ends ------------------

NEW_VIDEO = "brandnewvid"


@pytest.fixture
def expired_load(db: Session, clock: FakeClock) -> int:
    """150 sessions, expired by the time the test runs, with messages and (every third) a video
    of their own: work for the cleanup."""
    count = 150
    for index in range(count):
        session = ChatSession(
            id=uuid.uuid4(),
            token_hash=uuid.uuid4().bytes * 2,
            created_at=clock(),
            expires_at=clock() + timedelta(minutes=15),
        )
        db.add(session)
        db.flush()
        add_exchange(db, session.id, clock())
        if index % 3 == 0:
            transcript = add_transcript(db, f"oldvid{index:05d}", chunks=2, last_used_at=clock())
            link(db, session.id, transcript, clock())
    db.commit()
    return count


def test_the_same_new_video_added_by_twenty_sessions_while_the_cleanup_runs_and_one_ends(
    deps: Dependencies,
    source: FakeTranscriptSource,
    clock: FakeClock,
    db: Session,
    expired_load: int,
) -> None:
    clock.advance(minutes=30)
    source.add(NEW_VIDEO, "a brand new topic")
    source.delay_seconds = 0.2
    sessions = [new_session() for _ in range(20)]
    ending = sessions[0]
    rec = Recorder()
    results: dict[str, func.HttpResponse] = {}
    reports: list[CleanupReport] = []

    def adder(session_id: str) -> Callable[[], None]:
        def work() -> None:
            expect = (200, 401) if session_id == ending else (200,)
            results[session_id] = rec.call(
                "POST", "videos", session_id, expect=expect, json_body={"urls": [NEW_VIDEO]}
            )

        return work

    def ender() -> None:
        time.sleep(0.05)  # while the adds are in flight
        rec.call("DELETE", "sessions/current", ending, expect=(204,))

    def cleaner() -> None:
        reports.append(cleanup_expired_sessions(deps.uow, clock(), 10))

    rec.run([*(adder(s) for s in sessions), ender, cleaner, cleaner])

    assert rec.problems == []
    for session_id in sessions[1:]:
        (result,) = body_of(results[session_id])["videos"]
        assert (result["status"], result["video_id"]) == ("added", NEW_VIDEO), result
    ended = results[ending]
    if ended.status_code == 401:  # it ended before its video was stored
        assert body_of(ended)["error"]["code"] == "session_not_found"
    else:
        assert body_of(ended)["videos"][0]["status"] == "added"
    assert sum(r.sessions for r in reports) == expired_load

    # Fetched and embedded once, or twice if the session that ended was the one fetching it.
    assert 1 <= source.fetches.count(NEW_VIDEO) <= 2
    counts = row_counts(db)
    assert counts["chat_session"] == 19
    assert counts["session_video"] == 19
    assert counts["chat_message"] == 0
    assert (
        db.scalar(text("SELECT count(*) FROM transcript WHERE video_id = :id"), {"id": NEW_VIDEO})
        == 1
    )
    assert db.scalar(text("SELECT count(*) FROM video WHERE id = :id"), {"id": NEW_VIDEO}) == 1
    assert chunk_problems(db) == []
    for session_id in sessions[1:]:
        assert listed_ids(session_id) == [NEW_VIDEO]
    gone = invoke("GET", "videos", headers={"X-Session-Id": ending})
    assert body_of(gone)["error"]["code"] == "session_not_found"


# ---- 4. a video added again at the moment the cleanup deletes videos without transcripts ------

ORPHAN = "orphanvid01"
GATE_LOCK = 7_340_001  # an advisory lock key of this test's own
# The cleanup's own statements, with one predicate added in front of the conditions of any
# statement that locks `video` rows: for the row of ORPHAN it waits on the gate (an advisory lock
# the test holds), i.e. after the statement took its snapshot and before it locks that row.
# The statement otherwise means exactly what the application wrote.
_GATED_SCAN = re.compile(r"SELECT video\.id\s+FROM video\s+WHERE\s")
_GATE_PREDICATE = (
    "SELECT video.id FROM video WHERE (video.id <> 'orphanvid01' OR test_video_gate()) AND "
)


@pytest.fixture
def gated_cleanup(deps: Dependencies) -> Iterator[tuple[Callable[[], UnitOfWork], list[str]]]:
    """A unit-of-work factory for the cleanup whose video scans wait at the gate for ORPHAN, and
    the list of statements it gated. The gate function is dropped afterwards."""
    with deps.engine.begin() as connection:
        connection.execute(
            text(
                "CREATE FUNCTION test_video_gate() RETURNS boolean LANGUAGE plpgsql AS"
                f" $$ BEGIN PERFORM pg_advisory_xact_lock_shared({GATE_LOCK}); RETURN true;"
                " END $$"
            )
        )
    engine = create_database_engine(str(deps.settings.database_url))
    gated: list[str] = []

    def gate(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> tuple[str, Any]:
        if "FOR UPDATE OF video SKIP LOCKED" in statement:
            statement = _GATED_SCAN.sub(_GATE_PREDICATE, statement, count=1)
            gated.append(statement)
        return statement, parameters

    event.listen(engine, "before_cursor_execute", gate, retval=True)
    factory = create_session_factory(engine)
    try:
        yield (lambda: UnitOfWork(factory)), gated
    finally:
        engine.dispose()
        with deps.engine.begin() as connection:
            connection.execute(text("DROP FUNCTION test_video_gate()"))


def wait_for_the_gate(db: Session) -> None:
    """Until a backend waits on the gate (bounded)."""
    for _ in range(1000):
        waiting = db.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND objid = :key"
            ),
            {"key": GATE_LOCK},
        )
        db.rollback()
        if waiting:
            return
        time.sleep(0.01)
    raise AssertionError("the cleanup never reached the gate")


@pytest.mark.parametrize("again", ["upload", "youtube"])
def test_a_video_added_again_while_the_cleanup_deletes_unused_videos_is_kept(
    deps: Dependencies,
    source: FakeTranscriptSource,
    clock: FakeClock,
    db: Session,
    gated_cleanup: tuple[Callable[[], UnitOfWork], list[str]],
    again: str,
) -> None:
    """Regression (fixed in 74b84c1): the cleanup's statement re-checked a video row that
    changed while it ran against its own, older snapshot, in which the video's new transcript
    did not exist yet, and deleted the video; ON DELETE CASCADE then took the new transcript,
    its chunks and the session's link (the add had answered `added`). Deterministic: the
    cleanup's statement waits at a gate between taking its snapshot and locking the row."""
    uow_factory, gated = gated_cleanup
    source.add(ORPHAN, "orphaned things")
    me = new_session()
    headers = {"X-Session-Id": me}
    upload = {"video_id": ORPHAN, "format": "vtt", "content": vtt("orphaned things")}
    # The session uploads the video and removes it: its row stays, with no transcript, and is
    # the cleanup's to delete once it has been unused for longer than the grace.
    invoke("POST", "videos", json_body={"transcripts": [upload]}, headers=headers)
    invoke("DELETE", "videos/{video_id}", headers=headers, route_params={"video_id": ORPHAN})
    assert db.scalar(text("SELECT count(*) FROM video WHERE id = :id"), {"id": ORPHAN}) == 1
    db.rollback()
    clock.advance(minutes=UNUSED_TRANSCRIPT_GRACE.total_seconds() / 60 + 1)  # session still live

    errors: list[BaseException] = []
    added: list[dict[str, Any]] = []
    body = {"transcripts": [upload]} if again == "upload" else {"urls": [ORPHAN]}

    def cleaner() -> None:
        try:
            cleanup_expired_sessions(uow_factory, clock(), 50)
        except BaseException as exc:
            errors.append(exc)

    def add_again() -> None:
        try:
            response = invoke("POST", "videos", json_body=body, headers=headers)
            added.extend(body_of(response)["videos"])
        except BaseException as exc:
            errors.append(exc)

    cleanup = threading.Thread(target=cleaner)
    adder = threading.Thread(target=add_again)
    with deps.engine.connect() as gatekeeper:
        gatekeeper.execute(text("SELECT pg_advisory_lock(:key)"), {"key": GATE_LOCK})
        gatekeeper.commit()
        try:
            cleanup.start()
            wait_for_the_gate(db)  # the cleanup has its snapshot; the video is not locked yet
            adder.start()  # the session adds the video again, and that commits
            adder.join(timeout=10)
            add_waited = adder.is_alive()
        finally:
            gatekeeper.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": GATE_LOCK})
            gatekeeper.commit()
    adder.join(timeout=JOIN_TIMEOUT)
    cleanup.join(timeout=JOIN_TIMEOUT)
    assert not adder.is_alive()
    assert not cleanup.is_alive()
    assert errors == []
    assert gated, "the cleanup's video statement was not gated"
    assert not add_waited  # it committed while the cleanup's statement was under way
    assert [a["status"] for a in added] == ["added"], added

    assert listed_ids(me) == [ORPHAN]
    assert chunk_problems(db) == []
