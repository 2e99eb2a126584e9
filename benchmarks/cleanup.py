"""Cleanup benchmark: the nightly `cleanup_expired_sessions` against live traffic.

A fresh database holds `--expired` (10,000) expired sessions, each with chat messages and links
to shared transcripts, every `--upload-every`-th also with an uploaded transcript of its own
(chunks with 1536-dim vectors, which the delete cascades to), and `--live` (1,000) live sessions
linking the same shared transcripts. Rows go in by COPY into the ORM models' tables.

While `--threads` threads keep asking questions, listing videos and reading histories of random
live sessions through the service layer (offline embeddings and answerer), the cleanup runs with
the app's batch size; each batch's statement is timed (the repository is wrapped in this process
only). Reported: the time to delete the expired sessions, the longest single statement, the whole
cleanup, and the live operations' latency and errors (must be 0), also for a quiet period before.

Baseline, in the same run on an identical dataset: one `DELETE FROM chat_session WHERE
expires_at <= now` statement in one transaction, with the same live traffic. What matters most is
the longest statement: a batch holds its row locks only for its own statement.

`--repeat` rounds (default 3), each measuring the baseline and the batched cleanup, each on a
fresh database, back to back, the baseline first in even rounds and last in odd ones. Printed:
every round's statements and live operations pooled, then per figure the median, min and max of
the per-round values and the ratios to the baseline, each computed per round, as the median over
the rounds. `--json FILE` also writes them and every round.

    python -m benchmarks.cleanup [--expired 10000] [--live 1000] [--threads 4] [--repeat 3]
        [--json FILE]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func, select, text

from benchmarks.common import (
    DEFAULT_REPEAT,
    LIMITS_OFF,
    WORDS,
    Figure,
    Ratio,
    add_round_arguments,
    describe,
    machine,
    measure_rounds,
    migrated_database,
    percentile,
    write_json,
)
from benchmarks.retrieval import (
    CHUNK_COPY_COLUMNS,
    COPY_HEADER,
    COPY_TRAILER,
    chunk_copy_row,
    random_vector,
    vector_field,
)
from services.video_rag.bootstrap import Dependencies
from services.video_rag.db.models import (
    ChatMessage,
    ChatSession,
    SessionVideo,
    Transcript,
    Video,
)
from services.video_rag.db.unit_of_work import UnitOfWork
from services.video_rag.domain.sessions import hash_token, new_session_token
from services.video_rag.service import chat, videos
from services.video_rag.service.maintenance import cleanup_expired_sessions
from services.video_rag.settings import load_settings

QUESTIONS = (
    "How long does the battery last?",
    "What does the review say about the keyboard?",
    "Is the screen bright enough?",
    "How is the performance in the test?",
)
# A bound on every load loop, whatever the clock says.
MAX_OPERATIONS_PER_THREAD = 1_000_000
MAX_LOAD_SECONDS = 900.0


@dataclass(frozen=True)
class Dataset:
    expired: int
    live: int
    messages: int = 6
    shared: int = 50
    shared_chunks: int = 20
    upload_every: int = 5
    upload_chunks: int = 10


@dataclass
class Counts:
    """Rows of each kind, for the printout."""

    rows: dict[str, int] = field(default_factory=dict)

    def add(self, table: str, count: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + count


def populate(
    deps: Dependencies, data: Dataset, now: datetime, seed: int = 3
) -> tuple[list[str], Counts]:
    """Write the dataset by COPY; returns the live sessions' tokens and the row counts."""
    rng = random.Random(seed)
    counts = Counts()
    model = deps.settings.embedding_model_label
    raw_vector = random_vector(rng)
    width = len(raw_vector)
    vector = vector_field(raw_vector)  # the vectors' values do not matter to a delete
    shared = [(f"shared{i:05d}", uuid.UUID(int=rng.getrandbits(128))) for i in range(data.shared)]
    live_tokens = [new_session_token() for _ in range(data.live)]
    sessions: list[tuple[Any, ...]] = []
    links: list[tuple[Any, ...]] = []
    messages: list[tuple[Any, ...]] = []
    uploads: list[tuple[uuid.UUID, str, uuid.UUID]] = []  # transcript, video, owner
    for index in range(data.expired + data.live):
        session_id = uuid.UUID(int=rng.getrandbits(128))
        live = index >= data.expired
        if live:
            token_hash = hash_token(live_tokens[index - data.expired])
            expires = now + timedelta(days=1)
        else:
            token_hash = rng.randbytes(32)
            expires = now - timedelta(minutes=1 + rng.randrange(24 * 60))
        sessions.append((session_id, token_hash, expires - timedelta(minutes=15), expires, 0))
        first = index % data.shared
        for video_id, transcript_id in (shared[first], shared[(first + 1) % data.shared]):
            links.append((session_id, video_id, transcript_id, now - timedelta(hours=1)))
        for number in range(data.messages if not live else 2):
            role = "user" if number % 2 == 0 else "assistant"
            content = " ".join(rng.choices(WORDS, k=30))
            created = now - timedelta(hours=1) + timedelta(seconds=number)
            message_id = uuid.UUID(int=rng.getrandbits(128))
            messages.append((message_id, session_id, role, content, created))
        if not live and index % data.upload_every == 0:
            transcript_id = uuid.UUID(int=rng.getrandbits(128))
            video_id = f"up{index:09d}"
            uploads.append((transcript_id, video_id, session_id))
            links.append((session_id, video_id, transcript_id, now - timedelta(hours=1)))

    raw = deps.engine.raw_connection()
    try:
        connection = raw.driver_connection
        assert isinstance(connection, psycopg.Connection)
        with connection.cursor() as cursor:

            def copy_rows(
                table: Any, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
            ) -> None:
                names = ", ".join(columns)
                with cursor.copy(f"COPY {table.__tablename__} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                counts.add(table.__tablename__, len(rows))

            # Rows last used a day ago: the cleanup's grace period spares recent ones.
            old = now - timedelta(days=1)
            videos_rows: list[tuple[str, str | None, datetime]] = [
                (v, f"Shared {v}", old) for v, _ in shared
            ]
            videos_rows += [(video_id, None, old) for _, video_id, _ in uploads]
            copy_rows(Video, ("id", "title", "last_used_at"), videos_rows)

            def transcript(
                tid: uuid.UUID, vid: str, owner: uuid.UUID | None, chunks: int
            ) -> tuple[Any, ...]:
                source = "youtube" if owner is None else "upload"
                return (tid, vid, owner, "en", False, source, model, width, 600.0, chunks, old)

            copy_rows(
                ChatSession,
                ("id", "token_hash", "created_at", "expires_at", "chat_window_count"),
                sessions,
            )
            copy_rows(
                Transcript,
                (
                    "id",
                    "video_id",
                    "owner_session_id",
                    "language",
                    "is_generated",
                    "source",
                    "embedding_model",
                    "embedding_dimensions",
                    "duration_seconds",
                    "chunk_count",
                    "last_used_at",
                ),
                [transcript(t, v, None, data.shared_chunks) for v, t in shared]
                + [transcript(t, v, owner, data.upload_chunks) for t, v, owner in uploads],
            )
            copy_rows(SessionVideo, ("session_id", "video_id", "transcript_id", "added_at"), links)
            copy_rows(ChatMessage, ("id", "session_id", "role", "content", "created_at"), messages)
            chunk_owners = [(t, data.shared_chunks) for _, t in shared]
            chunk_owners += [(t, data.upload_chunks) for t, _, _ in uploads]
            with cursor.copy(
                f"COPY transcript_chunk ({CHUNK_COPY_COLUMNS}) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.write(COPY_HEADER)
                for transcript_id, chunks in chunk_owners:
                    batch = bytearray()
                    for ordinal in range(chunks):
                        words = " ".join(rng.choices(WORDS, k=40))
                        start = ordinal * 30.0
                        batch += chunk_copy_row(
                            transcript_id, ordinal, start, start + 30.0, words, vector
                        )
                    copy.write(batch)
                copy.write(COPY_TRAILER)
            counts.add("transcript_chunk", sum(chunks for _, chunks in chunk_owners))
            cursor.execute("ANALYZE")
        connection.commit()
    finally:
        raw.close()
    return live_tokens, counts


class LiveTraffic:
    """Threads running the app's use cases on random live sessions until stopped."""

    def __init__(self, deps: Dependencies, tokens: list[str], threads: int, think_ms: float):
        self.deps = deps
        self.tokens = tokens
        self.threads = threads
        self.think = think_ms / 1000
        # (began, ended, problem or None) of every operation, perf_counter seconds.
        self.operations: list[tuple[float, float, str | None]] = []
        self._lock = threading.Lock()

    def between(self, start: float, end: float) -> tuple[list[float], list[str]]:
        """Latencies (ms) and errors of the operations that overlapped [start, end]."""
        latencies, errors = [], []
        with self._lock:
            for began, ended, problem in self.operations:
                if ended >= start and began <= end:
                    if problem is None:
                        latencies.append((ended - began) * 1000)
                    else:
                        errors.append(problem)
        return latencies, errors

    def _operation(self, rng: random.Random) -> Callable[[], object]:
        token = rng.choice(self.tokens)
        roll = rng.random()
        if roll < 0.5:
            question = rng.choice(QUESTIONS)
            return lambda: chat.ask(self.deps, token, question, None)
        if roll < 0.75:
            return lambda: videos.list_videos(self.deps, token)
        return lambda: chat.list_messages(self.deps, token, 20)

    @contextmanager
    def running(self) -> Iterator[LiveTraffic]:
        """Traffic runs for the duration of the block (at most MAX_LOAD_SECONDS)."""
        stop = threading.Event()
        deadline = time.perf_counter() + MAX_LOAD_SECONDS

        def worker(seed: int) -> None:
            rng = random.Random(seed)
            for _ in range(MAX_OPERATIONS_PER_THREAD):
                if stop.is_set() or time.perf_counter() > deadline:
                    return
                operation = self._operation(rng)
                began = time.perf_counter()
                try:
                    operation()
                    problem = None
                except Exception as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                ended = time.perf_counter()
                with self._lock:
                    self.operations.append((began, ended, problem))
                stop.wait(self.think)

        workers = [
            threading.Thread(target=worker, args=(seed,), daemon=True)
            for seed in range(self.threads)
        ]
        for thread in workers:
            thread.start()
        try:
            yield self
        finally:
            stop.set()
            for thread in workers:
                thread.join(MAX_LOAD_SECONDS)


@dataclass(frozen=True)
class Call:
    """One timed database call: a maintenance method (or "commit"), when, and rows deleted."""

    name: str
    began: float
    ended: float
    rows: int

    @property
    def ms(self) -> float:
        return (self.ended - self.began) * 1000


class _TimedMaintenance:
    """A MaintenanceRepository whose calls are logged as `Call`s."""

    def __init__(self, inner: Any, log: list[Call]) -> None:
        self._inner = inner
        self._log = log

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            rows = method(*args, **kwargs)
            self._log.append(Call(name, began, time.perf_counter(), int(rows)))
            return rows

        return timed


class TimedUnitOfWork(UnitOfWork):
    """The app's unit of work, with its maintenance statements and commits logged."""

    def __init__(self, deps: Dependencies, log: list[Call]) -> None:
        super().__init__(deps._new_db_session)
        self._log = log

    def __enter__(self) -> TimedUnitOfWork:
        super().__enter__()
        self.maintenance = _TimedMaintenance(self.maintenance, self._log)  # type: ignore[assignment]
        return self

    def commit(self) -> None:
        began = time.perf_counter()
        super().commit()
        self._log.append(Call("commit", began, time.perf_counter(), 0))


@dataclass
class Outcome:
    """One mode's figures (seconds unless named otherwise)."""

    sessions_seconds: float
    total_seconds: float
    statements_ms: list[float]
    commits_ms: list[float]
    deleted: int
    # Latencies (ms) and errors of the live operations before the delete and during it.
    quiet: tuple[list[float], list[str]]
    during: tuple[list[float], list[str]]
    remaining_expired: int
    live_left: int
    rows: dict[str, int]
    # Per maintenance method: statements, rows deleted, longest statement (ms).
    phases: dict[str, tuple[int, int, float]]


def _measure(
    data: Dataset, batched: bool, threads: int, think_ms: float, quiet_seconds: float
) -> Outcome:
    with migrated_database() as url:
        settings = load_settings({"PG_VECTOR_CONNECTION_STRING": url, **LIMITS_OFF})
        deps = Dependencies(settings=settings)
        now = datetime.now(UTC)
        tokens, counts = populate(deps, data, now)
        traffic = LiveTraffic(deps, tokens, threads, think_ms)
        log: list[Call] = []
        with traffic.running():
            time.sleep(quiet_seconds)
            began = time.perf_counter()
            if batched:
                report = cleanup_expired_sessions(
                    lambda: TimedUnitOfWork(deps, log),
                    deps.clock(),
                    settings.session_cleanup_batch_size,
                )
                total = time.perf_counter() - began
                # Until the commit of the last session batch: the sessions phase, as a wall time.
                last = max(i for i, c in enumerate(log) if c.name == "delete_expired_sessions")
                sessions_seconds = log[last + 1].ended - began
                deleted = report.sessions
            else:
                with deps.engine.connect() as connection:
                    statement_began = time.perf_counter()
                    deleted = connection.execute(
                        text(f"DELETE FROM {ChatSession.__tablename__} WHERE expires_at <= :now"),
                        {"now": deps.clock()},
                    ).rowcount
                    log.append(Call("delete", statement_began, time.perf_counter(), deleted))
                    commit_began = time.perf_counter()
                    connection.commit()
                    log.append(Call("commit", commit_began, time.perf_counter(), 0))
                total = sessions_seconds = time.perf_counter() - began
        quiet = traffic.between(0.0, began - 0.001)
        during = traffic.between(began, began + total)
        with deps.engine.connect() as connection:
            expired_left = connection.scalar(
                select(func.count()).select_from(ChatSession).where(ChatSession.expires_at <= now)
            )
            live_left = connection.scalar(
                select(func.count()).select_from(ChatSession).where(ChatSession.expires_at > now)
            )
        deps.close()
    statements = [call.ms for call in log if call.name != "commit"]
    commits = [call.ms for call in log if call.name == "commit"]
    phases: dict[str, tuple[int, int, float]] = {}
    for call in log:
        if call.name != "commit":
            count, rows, longest = phases.get(call.name, (0, 0, 0.0))
            phases[call.name] = (count + 1, rows + call.rows, max(longest, call.ms))
    return Outcome(
        sessions_seconds=sessions_seconds,
        total_seconds=total,
        statements_ms=statements,
        commits_ms=commits,
        deleted=deleted,
        quiet=quiet,
        during=during,
        remaining_expired=int(expired_left or 0),
        live_left=int(live_left or 0),
        rows=counts.rows,
        phases=phases,
    )


def _live_line(label: str, traffic: tuple[list[float], list[str]]) -> str:
    latencies, errors = traffic
    latencies = latencies or [float("nan")]
    return (
        f"  live traffic {label:<15} {describe(latencies)}   max {max(latencies):7.1f} ms   "
        f"errors {len(errors)}" + (f" (first: {errors[0]})" if errors else "")
    )


ROUND_FIGURES = (
    Figure("sessions_ms", "batched: expired sessions deleted in"),
    Figure("cleanup_ms", "batched: whole cleanup"),
    Figure("longest_statement_ms", "batched: longest statement"),
    Figure("statement_p95_ms", "batched: statement p95"),
    Figure("baseline_ms", "baseline, one DELETE: in all"),
    Figure("baseline_statement_ms", "baseline, one DELETE: the statement"),
    Figure("live_p95_quiet_ms", "live traffic p95, quiet (batched's run)"),
    Figure("live_p95_during_ms", "live traffic p95 during the batched cleanup"),
    Figure("live_max_during_ms", "live traffic max during the batched cleanup"),
    Figure("baseline_live_p95_during_ms", "live traffic p95 during one DELETE"),
    Figure("baseline_live_max_during_ms", "live traffic max during one DELETE"),
)
ROUND_RATIOS = (
    Ratio(
        "statement_ratio",
        "longest statement, batched / one DELETE",
        "longest_statement_ms",
        "baseline_statement_ms",
    ),
    Ratio("time_ratio", "time to delete the expired, batched / one", "sessions_ms", "baseline_ms"),
    Ratio(
        "live_max_ratio",
        "live traffic max during, batched / one DELETE",
        "live_max_during_ms",
        "baseline_live_max_during_ms",
    ),
)


def _round_figures(data: Dataset, batched: Outcome, single: Outcome | None) -> dict[str, float]:
    """One round's figures, after checking that both modes deleted what they had to."""
    assert single is not None
    for name, outcome in (("batched", batched), ("baseline", single)):
        assert outcome.deleted == data.expired, (name, outcome.deleted)
        assert outcome.remaining_expired == 0, (name, outcome.remaining_expired)
        assert outcome.live_left == data.live, (name, outcome.live_left)
    return {
        "sessions_ms": batched.sessions_seconds * 1000,
        "cleanup_ms": batched.total_seconds * 1000,
        "longest_statement_ms": max(batched.statements_ms),
        "statement_p95_ms": percentile(batched.statements_ms, 0.95),
        "baseline_ms": single.sessions_seconds * 1000,
        "baseline_statement_ms": max(single.statements_ms),
        "live_errors": float(len(batched.during[1]) + len(batched.quiet[1])),
        "baseline_live_errors": float(len(single.during[1]) + len(single.quiet[1])),
        "live_p95_quiet_ms": _p95(batched.quiet[0]),
        "live_p95_during_ms": _p95(batched.during[0]),
        "live_max_during_ms": max(batched.during[0], default=math.nan),
        "live_operations_during": float(len(batched.during[0])),
        "live_median_during_ms": statistics.median(batched.during[0] or [math.nan]),
        "baseline_live_p95_during_ms": _p95(single.during[0]),
        "baseline_live_max_during_ms": max(single.during[0], default=math.nan),
    }


def _p95(values: list[float]) -> float:
    """The p95 of `values`; NaN (left out of the summary) when none ran meanwhile."""
    return percentile(values, 0.95) if values else math.nan


def _pooled(outcomes: list[Outcome]) -> Outcome:
    """Every round's statements, commits and live operations together (for the printout)."""
    phases: dict[str, tuple[int, int, float]] = {}
    for outcome in outcomes:
        for name, (count, rows, longest) in outcome.phases.items():
            before = phases.get(name, (0, 0, 0.0))
            phases[name] = (before[0] + count, before[1] + rows, max(before[2], longest))
    return Outcome(
        sessions_seconds=statistics.median(o.sessions_seconds for o in outcomes),
        total_seconds=statistics.median(o.total_seconds for o in outcomes),
        statements_ms=[ms for o in outcomes for ms in o.statements_ms],
        commits_ms=[ms for o in outcomes for ms in o.commits_ms],
        deleted=sum(o.deleted for o in outcomes),
        quiet=(
            [ms for o in outcomes for ms in o.quiet[0]],
            [e for o in outcomes for e in o.quiet[1]],
        ),
        during=(
            [ms for o in outcomes for ms in o.during[0]],
            [e for o in outcomes for e in o.during[1]],
        ),
        remaining_expired=sum(o.remaining_expired for o in outcomes),
        live_left=outcomes[0].live_left,
        rows=outcomes[0].rows,
        phases=phases,
    )


def run(
    expired: int = 10_000,
    live: int = 1_000,
    threads: int = 4,
    think_ms: float = 10.0,
    quiet_seconds: float = 3.0,
    upload_every: int = 5,
    repeat: int = DEFAULT_REPEAT,
    json_path: Path | None = None,
) -> dict[str, float]:
    """Measure `repeat` rounds, each both modes on fresh identical datasets back to back in
    alternating order; prints every round's statements and live operations pooled and the
    summary, and returns the medians over the rounds (`<key>_min`, `<key>_max` too; errors
    summed; times in milliseconds)."""
    data = Dataset(expired=expired, live=live, upload_every=upload_every)
    batch_size = load_settings({}).session_cleanup_batch_size
    print(f"cleanup benchmark on {machine()} (as it starts), {repeat} round(s)")
    print(
        f"{threads} live-traffic threads (ask, list videos, list messages; {think_ms:.0f} ms apart)"
        f"; each round: the batched cleanup (SESSION_CLEANUP_BATCH_SIZE={batch_size}) and the "
        f"baseline (one DELETE), each on a fresh database"
    )
    outcomes: list[tuple[Outcome, Outcome]] = []

    def figures(batched: Outcome, single: Outcome | None) -> dict[str, float]:
        assert single is not None
        outcomes.append((batched, single))
        return _round_figures(data, batched, single)

    rounds = measure_rounds(
        repeat,
        lambda _: _measure(data, True, threads, think_ms, quiet_seconds),
        lambda _: _measure(data, False, threads, think_ms, quiet_seconds),
        figures,
        ROUND_FIGURES,
        ROUND_RATIOS,
    )
    batched = _pooled([b for b, _ in outcomes])
    single = _pooled([s for _, s in outcomes])
    rows = ", ".join(f"{count:,} {table}" for table, count in batched.rows.items())
    print(f"every round pooled; {expired:,} expired + {live:,} live sessions: {rows}")
    print(f"  batched cleanup: {len(batched.statements_ms)} statements")
    print(f"    statements:  {describe(batched.statements_ms)}")
    print(f"    commits:     {describe(batched.commits_ms)}")
    for name, (count, deleted, slowest) in batched.phases.items():
        print(f"    {name}: {count} statements, {deleted:,} rows, longest {slowest:.1f} ms")
    print(_live_line("before cleanup", batched.quiet))
    print(_live_line("during cleanup", batched.during))
    print(f"  baseline, one DELETE per round: commits {describe(single.commits_ms)}")
    print(_live_line("before delete", single.quiet))
    print(_live_line("during delete", single.during))
    print(f"cleanup benchmark done; machine: {machine()}")
    result = rounds.medians()
    result["live_errors"] = sum(r["live_errors"] for r in rounds.figures)
    result["baseline_live_errors"] = sum(r["baseline_live_errors"] for r in rounds.figures)
    write_json(json_path, "cleanup", {"figures": result, **rounds.as_json()})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--expired", type=int, default=10_000)
    parser.add_argument("--live", type=int, default=1_000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--think-ms", type=float, default=10.0)
    parser.add_argument("--quiet-seconds", type=float, default=3.0)
    parser.add_argument("--upload-every", type=int, default=5)
    add_round_arguments(parser)
    args = parser.parse_args()
    run(
        args.expired,
        args.live,
        args.threads,
        args.think_ms,
        args.quiet_seconds,
        args.upload_every,
        args.repeat,
        args.json,
    )


if __name__ == "__main__":
    main()
