"""Where retrieval time goes, and what storage layouts would give (in the benchmark database only).

Loads the retrieval benchmark's data (100 sessions x 1,000 chunks, 1536-dim vectors by default),
then for each layout below rewrites `transcript_chunk` in place and measures the app's two search
statements, compiled from `services.video_rag.db.retrieval` and run as they are (only the query
vector is cast or shortened to match the column):

- p50/p95 of the hybrid and the vector statement over the same random queries;
- `EXPLAIN (ANALYZE, BUFFERS)` of a sample: server execution time, buffers touched (a TOASTed
  1536-dim vector is 6 KiB in four TOAST chunks, each reached through the TOAST index), and the
  time and buffers of each side of the hybrid statement (vector side, full-text side);
- the sizes of the table's heap and TOAST.

The first layout is the app's, measured twice: through the app's repository (SQLAlchemy) and as
raw SQL, whose difference is the client side's share. The second is not a layout but a setting:
psycopg prepares a statement run five times on a connection, and `force_generic_plan` makes
PostgreSQL reuse one plan instead of planning each execution anew (EXPLAIN shows the planning
time that saves; its own figures are of unprepared statements). Nothing here changes the app or its
migrations; the layouts are ideas to weigh, with their figures.

    python -m benchmarks.retrieval_layouts [--sessions 100 --chunks 1000 --queries 200]
        [--explain 10] [--plans benchmarks/results/retrieval_plans.txt] [--layouts N]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

import psycopg
from pgvector import Vector
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from benchmarks.common import ROOT, describe, machine, migrated_database, percentile
from benchmarks.retrieval import MODEL, K, Layout, load, question_text, random_vector
from services.video_rag.bootstrap import Dependencies
from services.video_rag.db.models import TEXT_SEARCH_CONFIG
from services.video_rag.db.retrieval import (
    DEFAULT_CANDIDATES,
    DEFAULT_RRF_K,
    RetrievalRepository,
    _hybrid_statement,
    _vector_statement,
    shortlist_size,
)
from services.video_rag.settings import load_settings

TABLE = "transcript_chunk"
DISTANCE = "transcript_chunk.embedding <=> %(query_embedding)s"


@dataclass(frozen=True)
class Variant:
    """A layout: the statements that turn the previous layout into it, and how queries bind."""

    name: str
    setup: tuple[str, ...] = ()
    teardown: tuple[str, ...] = ()
    cast: str | None = None  # cast the query vector to this type (e.g. halfvec)
    dimensions: int | None = None  # keep only this many leading dimensions of the query


def _retype(type_: str, using: str) -> str:
    return f"ALTER TABLE {TABLE} ALTER COLUMN embedding TYPE {type_} USING {using}"


def _storage(embedding: str, text_columns: str) -> tuple[str, ...]:
    """Set the storage of the vector and of the two text columns, then rewrite the table (a
    changed storage applies to rows written afterwards). With the vector inline (MAIN) a row is
    over the 2 KB TOAST threshold, so PostgreSQL moves the EXTENDED text and tsvector out to
    TOAST first; MAIN on those keeps them inline too."""
    return (
        f"ALTER TABLE {TABLE} ALTER COLUMN embedding SET STORAGE {embedding}, "
        f"ALTER COLUMN text SET STORAGE {text_columns}, "
        f"ALTER COLUMN text_search SET STORAGE {text_columns}",
        f"VACUUM FULL {TABLE}",
        f"ANALYZE {TABLE}",
    )


def _shorten(dimensions: int) -> tuple[str, ...]:
    """Keep the leading `dimensions` of every vector, as a model of that width would store, and
    record that width on the transcripts (retrieval only searches chunks of the query's width)."""
    return (
        _retype(
            f"vector({dimensions})",
            f"subvector(embedding::vector, 1, {dimensions})::vector({dimensions})",
        ),
        f"UPDATE transcript SET embedding_dimensions = {dimensions}",
    )


VARIANTS = (
    Variant("as migrated: vector, 1536 wide, TOASTed", setup=(f"ANALYZE {TABLE}",)),
    Variant(
        "+ plan_cache_mode=force_generic_plan",
        setup=("SET plan_cache_mode = force_generic_plan",),
        teardown=("RESET plan_cache_mode",),
    ),
    Variant(
        "+ GIN index on text_search",
        setup=(
            f"CREATE INDEX bench_text_search_gin ON {TABLE} USING gin (text_search)",
            f"ANALYZE {TABLE}",
        ),
        teardown=("DROP INDEX bench_text_search_gin",),
    ),
    Variant("vector, 1536 wide, vector MAIN", setup=_storage("MAIN", "EXTENDED")),
    Variant("vector, 1536 wide, all columns MAIN", setup=_storage("MAIN", "MAIN")),
    Variant(
        "halfvec(1536), TOASTed",
        setup=(
            _retype("halfvec(1536)", "embedding::halfvec(1536)"),
            *_storage("EXTERNAL", "EXTENDED"),
        ),
        cast="halfvec(1536)",
    ),
    Variant(
        "halfvec(1536), all columns MAIN", setup=_storage("MAIN", "MAIN"), cast="halfvec(1536)"
    ),
    Variant(
        "vector(768), all columns MAIN",
        setup=(*_shorten(768), *_storage("MAIN", "MAIN")),
        dimensions=768,
    ),
    Variant(
        "vector(256), default storage (inline)",
        setup=(*_shorten(256), *_storage("EXTERNAL", "EXTENDED")),
        dimensions=256,
    ),
)


class Statements:
    """The app's hybrid and vector statements as SQL text, and their parameters for a query."""

    def __init__(self, dialect: Dialect) -> None:
        self._compiled = {
            "hybrid": _hybrid_statement(False).compile(dialect=dialect),
            "vector": _vector_statement(False).compile(dialect=dialect),
        }

    def sql(self, kind: str, variant: Variant) -> str:
        text_ = str(self._compiled[kind])
        assert DISTANCE in text_, text_
        if variant.cast:
            text_ = text_.replace(DISTANCE, f"{DISTANCE}::{variant.cast}")
        return text_

    def parameters(
        self,
        kind: str,
        variant: Variant,
        session_id: uuid.UUID,
        vector: Sequence[float],
        words: str,
    ) -> dict[str, Any]:
        values = dict(self._compiled[kind].params)
        dimensions = variant.dimensions or len(vector)
        values.update(
            session_id=session_id,
            embedding_model=MODEL,
            embedding_dimensions=dimensions,
            query_embedding=Vector(list(vector[:dimensions])),
            vector_limit=DEFAULT_CANDIDATES if kind == "hybrid" else K,
            shortlist_limit=shortlist_size(DEFAULT_CANDIDATES if kind == "hybrid" else K),
            text_search_config=TEXT_SEARCH_CONFIG,
            query_text=words,
            text_limit=DEFAULT_CANDIDATES,
            rrf_k=float(DEFAULT_RRF_K),
            k=K,
        )
        return values


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def _side(plan: dict[str, Any], marker: str) -> dict[str, Any] | None:
    """The window node that ranks one side of the hybrid statement: the one whose own fields
    (or whose sort's) mention `marker` (`<=>` for the vector side, `relevance` for text). Both
    sides rank from one materialized scan, whose time counts in the side that reads it first."""
    for node in _nodes(plan):
        if node["Node Type"] != "WindowAgg":
            continue
        own = {key: value for key, value in node.items() if key != "Plans"}
        sort = next((n for n in _nodes(node) if n["Node Type"] == "Sort"), {})
        if marker in json.dumps(own) or marker in json.dumps(sort.get("Sort Key", "")):
            return node
    return None


def _sorted_rows(side: dict[str, Any]) -> float:
    """How many rows the side ranked: the input of its sort."""
    sort = next((n for n in _nodes(side) if n["Node Type"] == "Sort"), None)
    if sort is None or not sort.get("Plans"):
        return 0.0
    return float(sort["Plans"][0]["Actual Rows"])


_VECTOR_LITERAL = re.compile(r"'\[[-0-9.,e+ ]{200,}\]'")


@dataclass
class Explained:
    execution_ms: list[float]
    planning_ms: list[float]
    buffers: list[int]
    vector_side_ms: list[float]
    vector_side_buffers: list[int]
    text_side_ms: list[float]
    text_side_buffers: list[int]
    text_side_rows: list[float]


def _explain(
    cursor: psycopg.Cursor[Any], sql: str, runs: list[dict[str, Any]], plans: list[str]
) -> Explained:
    found = Explained([], [], [], [], [], [], [], [])
    for index, parameters in enumerate(runs):
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", parameters)
        row = cursor.fetchone()
        assert row is not None
        document = row[0] if isinstance(row[0], list) else json.loads(row[0])
        top = document[0]
        plan = top["Plan"]
        found.execution_ms.append(top["Execution Time"])
        found.planning_ms.append(top["Planning Time"])
        found.buffers.append(plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0))
        for marker, times, buffers in (
            ("<=>", found.vector_side_ms, found.vector_side_buffers),
            ("relevance", found.text_side_ms, found.text_side_buffers),
        ):
            side = _side(plan, marker)
            if side is not None:
                times.append(side["Actual Total Time"])
                buffers.append(side.get("Shared Hit Blocks", 0) + side.get("Shared Read Blocks", 0))
                if marker == "relevance":
                    found.text_side_rows.append(_sorted_rows(side))
        if index == 0:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", parameters)
            lines = "\n".join(str(line[0]) for line in cursor.fetchall())
            plans.append(_VECTOR_LITERAL.sub("'[the query vector]'", lines))
    return found


def _timed(cursor: psycopg.Cursor[Any], sql: str, runs: list[dict[str, Any]]) -> list[float]:
    timings = []
    for parameters in runs[:5]:  # warm-up
        cursor.execute(sql, parameters)
        cursor.fetchall()
    for parameters in runs:
        began = time.perf_counter()
        cursor.execute(sql, parameters)
        rows = cursor.fetchall()
        timings.append((time.perf_counter() - began) * 1000)
        assert len(rows) == K, rows
    return timings


def _sizes(cursor: psycopg.Cursor[Any]) -> tuple[int, int]:
    cursor.execute(
        "SELECT pg_relation_size(c.oid), coalesce(pg_total_relation_size(c.reltoastrelid), 0) "
        "FROM pg_class AS c WHERE c.relname = %s",
        (TABLE,),
    )
    row = cursor.fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def run(
    sessions: int = 100,
    chunks: int = 1000,
    queries: int = 200,
    explain: int = 10,
    plans_path: Path | None = None,
    variants: Sequence[Variant] = VARIANTS,
) -> dict[str, dict[str, float]]:
    """Measure every layout; prints a table and returns {layout: figures}."""
    layout = Layout(sessions, chunks, min(5, chunks), seed=7)
    rng = random.Random(11)
    results: dict[str, dict[str, float]] = {}
    plans: list[str] = []
    with migrated_database() as url:
        deps = Dependencies(settings=load_settings({"PG_VECTOR_CONNECTION_STRING": url}))
        load(deps, layout)
        statements = Statements(deps.engine.dialect)
        plan = [
            (
                uuid.UUID(int=rng.randrange(sessions) + 1),
                random_vector(rng).tolist(),
                question_text(rng),
            )
            for _ in range(queries)
        ]
        app_ms: list[float] = []
        with Session(deps.engine) as db:
            repository = RetrievalRepository(db)
            for session_id, vector, words in plan[:5]:
                repository.hybrid_search(session_id, vector, words, k=K, embedding_model=MODEL)
            for session_id, vector, words in plan:
                began = time.perf_counter()
                repository.hybrid_search(session_id, vector, words, k=K, embedding_model=MODEL)
                app_ms.append((time.perf_counter() - began) * 1000)
            db.rollback()
        raw = deps.engine.raw_connection()
        try:
            connection = raw.driver_connection
            assert isinstance(connection, psycopg.Connection)
            connection.autocommit = True
            with connection.cursor() as cursor:
                for variant in variants:
                    began = time.perf_counter()
                    for statement in variant.setup:
                        cursor.execute(statement)
                    rewrite_seconds = time.perf_counter() - began
                    heap, toast = _sizes(cursor)
                    figures: dict[str, float] = {
                        "rewrite_s": rewrite_seconds,
                        "heap_mib": heap / 2**20,
                        "toast_mib": toast / 2**20,
                    }
                    for kind in ("hybrid", "vector"):
                        sql = statements.sql(kind, variant)
                        runs = [statements.parameters(kind, variant, s, v, w) for s, v, w in plan]
                        timings = _timed(cursor, sql, runs)
                        figures[f"{kind}_ms"] = median(timings)
                        figures[f"{kind}_p95_ms"] = percentile(timings, 0.95)
                        plans.append(f"--- {variant.name}: {kind} statement")
                        explained = _explain(cursor, sql, runs[:explain], plans)
                        figures[f"{kind}_server_ms"] = median(explained.execution_ms)
                        figures[f"{kind}_planning_ms"] = median(explained.planning_ms)
                        figures[f"{kind}_buffers"] = median(explained.buffers)
                        if kind == "hybrid" and explained.vector_side_ms:
                            figures["vector_side_ms"] = median(explained.vector_side_ms)
                            figures["vector_side_buffers"] = median(explained.vector_side_buffers)
                        if kind == "hybrid" and explained.text_side_ms:
                            figures["text_side_ms"] = median(explained.text_side_ms)
                            figures["text_side_buffers"] = median(explained.text_side_buffers)
                            figures["text_matches"] = median(explained.text_side_rows or [0.0])
                    for statement in variant.teardown:
                        cursor.execute(statement)
                    results[variant.name] = figures
        finally:
            raw.close()
        deps.close()
    _print(layout, queries, explain, app_ms, results)
    if plans_path is not None:
        plans_path.parent.mkdir(parents=True, exist_ok=True)
        plans_path.write_text("\n\n".join(plans) + "\n")
        print(f"plans (EXPLAIN ANALYZE, BUFFERS) of the first query of each: {plans_path}")
    results["app"] = {"hybrid_ms": median(app_ms), "hybrid_p95_ms": percentile(app_ms, 0.95)}
    return results


def _print(
    layout: Layout,
    queries: int,
    explain: int,
    app_ms: list[float],
    results: dict[str, dict[str, float]],
) -> None:
    print(f"retrieval layouts on {machine()}")
    print(
        f"{layout.sessions} sessions x {layout.chunks} chunks, {queries} queries, k={K}; "
        f"server times and buffers: medians of EXPLAIN (ANALYZE, BUFFERS) over {explain} queries"
    )
    print(f"  hybrid through the app's repository (SQLAlchemy): {describe(app_ms)}")
    header = (
        f"  {'layout':<38} {'heap':>6} {'toast':>6} | {'hybrid p50':>10} {'p95':>6} "
        f"{'server':>6} {'bufs':>6} {'vec side':>8} {'bufs':>6} {'text side':>9} {'matches':>7} "
        f"| {'vector p50':>10} {'p95':>6} {'server':>6} {'bufs':>6} | {'rewrite':>7}"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    for name, f in results.items():
        print(
            f"  {name:<38} {f['heap_mib']:5.0f}M {f['toast_mib']:5.0f}M | "
            f"{f['hybrid_ms']:8.2f}ms {f['hybrid_p95_ms']:6.2f} {f['hybrid_server_ms']:6.2f} "
            f"{f['hybrid_buffers']:6.0f} {f.get('vector_side_ms', 0):6.2f}ms "
            f"{f.get('vector_side_buffers', 0):6.0f} {f.get('text_side_ms', 0):7.2f}ms "
            f"{f.get('text_matches', 0):7.0f} | {f['vector_ms']:8.2f}ms {f['vector_p95_ms']:6.2f} "
            f"{f['vector_server_ms']:6.2f} {f['vector_buffers']:6.0f} | {f['rewrite_s']:6.1f}s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--chunks", type=int, default=1000, help="chunks per session")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--explain", type=int, default=10, help="queries explained per layout")
    parser.add_argument(
        "--layouts", type=int, default=len(VARIANTS), help="measure only the first N layouts"
    )
    parser.add_argument(
        "--plans", type=Path, default=ROOT / "benchmarks" / "results" / "retrieval_plans.txt"
    )
    args = parser.parse_args()
    run(
        args.sessions,
        args.chunks,
        args.queries,
        args.explain,
        args.plans,
        VARIANTS[: args.layouts],
    )


if __name__ == "__main__":
    main()
