"""Retrieval of a session's transcript chunks: exact vector search and hybrid (vector + full-text)
search fused by reciprocal rank fusion, each in one SQL statement with bound parameters only.

A session sees exactly the chunks of the transcripts its `session_video` rows point to: a shared
YouTube transcript only once the session has linked it, an upload only in the session that owns
it. A session links at most one transcript per video, so no chunk can be reached twice.

A question is compared only with chunks embedded by the same model: every search names the
model's label (`Settings.embedding_model_label`), and the width of the query vector must be the
transcript's `embedding_dimensions`. Vectors of different models mean nothing to each other, and
pgvector refuses to compare vectors of different widths; a transcript embedded by another model
(the configuration changed since it was added) is simply not searched.

The vector side scans every chunk of the session, on purpose: a session holds a few thousand
chunks at most, which a sequential scan ranks in milliseconds, whereas an approximate (HNSW) index
combined with the session filter can silently return fewer rows than asked for. Do not add an ANN
index for it. By default the scan ranks the inline half-precision copy of each vector
(`embedding_half`, migration 0007: no TOAST read) and keeps a shortlist of
`max(wanted + SHORTLIST_MARGIN, MIN_SHORTLIST)` chunks, which it re-ranks by the full-precision
vector: ranks and distances come from float32, and the only loss possible is a chunk that half
precision pushed out of the shortlist. Measured recall@6 against a float32 brute force is 1.000
on clustered embeddings (tests/integration/test_retrieval.py, `make bench`); half precision
moves a cosine distance by about 1e-4 at most: over 300 questions on the benchmark's clustered
embeddings, the true 40 nearest were always within the 41 nearest by half precision, and the
true 6 nearest within the 6 nearest. Each shortlisted vector costs a read from TOAST (about
10 µs of server time at 1536 dimensions), hence a margin rather than a multiple.
`exact=True` ranks every chunk by the full-precision vector instead (the previous path).

Both sides rank from one pass over the session's chunks (a materialized CTE, `_scanned`): each
row's half-precision distance, and `ts_rank_cd` only for the chunks that match the query text
(a real question's words match a fifth of a session's chunks, `python -m benchmarks.retrieval`),
so the rows are read once and neither side reads them again. Anything computed from the bound
values alone (the query cast to half precision, the parsed tsquery) is a scalar subquery,
evaluated once per statement: the connections reuse generic plans (`db.engine`), in which a
cast of a parameter written inline would be evaluated for every row.

The statements are built once per shape (with or without a video filter) from named bound
parameters; each search only binds its values.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from pgvector.sqlalchemy import HALFVEC, VECTOR
from sqlalchemy import (
    CTE,
    BigInteger,
    BindParameter,
    ColumnElement,
    Double,
    Integer,
    Select,
    String,
    Text,
    any_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    null,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, REGCONFIG, UUID
from sqlalchemy.orm import Session

from services.video_rag.db.models import (
    TEXT_SEARCH_CONFIG,
    SessionVideo,
    Transcript,
    TranscriptChunk,
    Video,
)
from services.video_rag.settings import MAX_EMBEDDING_DIMENSIONS

DEFAULT_K = 6
DEFAULT_CANDIDATES = 40
# The constant of reciprocal rank fusion (Cormack et al.): a rank r contributes 1 / (RRF_K + r).
DEFAULT_RRF_K = 60
# The shortlist ranked by half precision before the full-precision re-rank: this many more than
# the chunks wanted (`k`, or a hybrid search's candidates), and never fewer than MIN_SHORTLIST.
SHORTLIST_MARGIN = 16
MIN_SHORTLIST = 24


@dataclass(frozen=True)
class RetrievedChunk:
    """A chunk found for a query, with where it ranked on each side and its fused score."""

    chunk_id: int
    video_id: str
    # coalesce(transcript.title, video.title): an upload's private title wins over YouTube's.
    title: str | None
    start_seconds: float
    end_seconds: float
    text: str
    # 1-based rank on the vector side; None when the chunk was not among its candidates.
    vector_rank: int | None
    # 1-based rank on the full-text side; None when the chunk did not match the query text.
    text_rank: int | None
    # The reciprocal rank fusion score, sum of 1 / (rrf_k + rank) over both sides; higher is better.
    score: float
    # [character offset, seconds] of each caption in `text` (see Chunk.moments); [] for chunks
    # stored before they were kept.
    moments: list[list[float]]
    link_url: str | None  # an upload's own link
    timed: bool  # False for an untimed (plain text) upload


class RetrievalRepository:
    """Searches over the chunks of one session's transcripts."""

    def __init__(self, db: Session) -> None:
        self._db = db

    def vector_search(
        self,
        session_id: uuid.UUID,
        query_embedding: Sequence[float],
        k: int,
        video_ids: Sequence[str] | None = None,
        *,
        embedding_model: str,
        exact: bool = False,
    ) -> list[RetrievedChunk]:
        """The `k` chunks of the session nearest to `query_embedding` by cosine distance, nearest
        first (ties by chunk id), among the chunks embedded by `embedding_model` at the query's
        width: a half-precision shortlist re-ranked at full precision, or with `exact` a
        full-precision scan of all of them (see the module's notes). `video_ids` restricts the
        search to those of the session's videos; an empty sequence means none. `text_rank` is
        None and `score` is the vector rank's share of a fusion, 1 / (60 + rank)."""
        _check_query(query_embedding, k)
        if video_ids is not None and not video_ids:
            return []
        parameters: dict[str, Any] = {
            "session_id": session_id,
            **_model_parameters(embedding_model, query_embedding),
            "query_embedding": query_embedding,
            "vector_limit": k,
            "shortlist_limit": shortlist_size(k),
            "rrf_k": float(DEFAULT_RRF_K),
            "k": k,
        }
        if video_ids is not None:
            parameters["video_ids"] = list(video_ids)
        statement = _vector_statement(video_ids is not None, exact)
        return [RetrievedChunk(*row) for row in self._db.execute(statement, parameters)]

    def hybrid_search(
        self,
        session_id: uuid.UUID,
        query_embedding: Sequence[float],
        query_text: str,
        k: int = DEFAULT_K,
        video_ids: Sequence[str] | None = None,
        candidates: int = DEFAULT_CANDIDATES,
        rrf_k: int = DEFAULT_RRF_K,
        *,
        embedding_model: str,
        exact: bool = False,
    ) -> list[RetrievedChunk]:
        """The `k` best chunks of the session by reciprocal rank fusion of two rankings: the
        `candidates` nearest chunks by cosine distance (exact) and the `candidates` best matches
        of `query_text` (`websearch_to_tsquery`, ranked by `ts_rank_cd`), both among the chunks
        embedded by `embedding_model` at the width of `query_embedding`. A chunk scores
        1 / (rrf_k + rank) on each side it appears on; results come by score, then vector rank,
        then chunk id. Each side keeps at least `k` candidates, so that `k` results come back
        whenever the session has that many chunks. The vector side is a half-precision shortlist
        re-ranked at full precision, or with `exact` a full-precision scan (module notes).

        Any `query_text` is safe: it is read as web search syntax, never as raw tsquery syntax,
        and one without usable words (empty, only punctuation or operators) just matches nothing.
        `video_ids` restricts the search to those of the session's videos; an empty sequence
        means none."""
        _check_query(query_embedding, k)
        if candidates < 1:
            raise ValueError(f"candidates must be at least 1, got {candidates}")
        if rrf_k < 0:
            raise ValueError(f"rrf_k must not be negative, got {rrf_k}")
        if video_ids is not None and not video_ids:
            return []
        pool = max(candidates, k)
        parameters: dict[str, Any] = {
            "session_id": session_id,
            **_model_parameters(embedding_model, query_embedding),
            "query_embedding": query_embedding,
            "vector_limit": pool,
            "shortlist_limit": shortlist_size(pool),
            "text_search_config": TEXT_SEARCH_CONFIG,
            # PostgreSQL text cannot hold NUL, and a NUL is no word anyway.
            "query_text": query_text.replace("\x00", " "),
            "text_limit": pool,
            "rrf_k": float(rrf_k),
            "k": k,
        }
        if video_ids is not None:
            parameters["video_ids"] = list(video_ids)
        statement = _hybrid_statement(video_ids is not None, exact)
        return [RetrievedChunk(*row) for row in self._db.execute(statement, parameters)]


def shortlist_size(wanted: int) -> int:
    """How many chunks the half-precision shortlist keeps when `wanted` are ranked."""
    return max(wanted + SHORTLIST_MARGIN, MIN_SHORTLIST)


def _check_query(query_embedding: Sequence[float], k: int) -> None:
    if not 1 <= len(query_embedding) <= MAX_EMBEDDING_DIMENSIONS:
        raise ValueError(
            f"expected 1 to {MAX_EMBEDDING_DIMENSIONS} dimensions, got {len(query_embedding)}"
        )
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


@cache
def _vector_statement(filtered: bool, exact: bool = False) -> Select[Any]:
    """The nearest chunks, as fused rows whose text side is empty."""
    scanned = _scanned(filtered, exact, with_text=False)
    vector = _vector_side(scanned, exact)
    ranked = select(
        vector.c.chunk_id,
        vector.c.rank.label("vector_rank"),
        cast(null(), BigInteger).label("text_rank"),
        _reciprocal_rank(vector.c.rank).label("score"),
    ).cte("ranked")
    return _with_chunk_details(ranked)


@cache
def _hybrid_statement(filtered: bool, exact: bool = False) -> Select[Any]:
    """Both sides, ranked from one scan of the session's chunks and fused by a full outer join
    on the chunk id."""
    scanned = _scanned(filtered, exact, with_text=True)
    vector = _vector_side(scanned, exact)
    text = _text_side(scanned)
    fused = (
        select(
            func.coalesce(vector.c.chunk_id, text.c.chunk_id).label("chunk_id"),
            vector.c.rank.label("vector_rank"),
            text.c.rank.label("text_rank"),
            (
                func.coalesce(_reciprocal_rank(vector.c.rank), 0.0)
                + func.coalesce(_reciprocal_rank(text.c.rank), 0.0)
            ).label("score"),
        )
        .select_from(vector.join(text, vector.c.chunk_id == text.c.chunk_id, full=True))
        .cte("fused")
    )
    return _with_chunk_details(fused)


def _model_parameters(embedding_model: str, query_embedding: Sequence[float]) -> dict[str, Any]:
    return {"embedding_model": embedding_model, "embedding_dimensions": len(query_embedding)}


def _session_chunks(filtered: bool, *columns: Any) -> Select[Any]:
    """`columns` of `transcript_chunk JOIN session_video JOIN transcript`, kept to the session's
    chunks embedded by `embedding_model` at `embedding_dimensions` (and, when `filtered`, to the
    videos in the `video_ids` array). The transcript condition is a join condition, so a chunk of
    another width never reaches the distance computed above it."""
    statement = (
        select(*columns)
        .select_from(TranscriptChunk)
        .join(SessionVideo, SessionVideo.transcript_id == TranscriptChunk.transcript_id)
        .join(
            Transcript,
            (Transcript.id == SessionVideo.transcript_id)
            & (Transcript.embedding_model == bindparam("embedding_model", type_=Text))
            & (Transcript.embedding_dimensions == bindparam("embedding_dimensions", type_=Integer)),
        )
        .where(SessionVideo.session_id == bindparam("session_id", type_=UUID(as_uuid=True)))
    )
    if filtered:
        video_ids = bindparam("video_ids", type_=ARRAY(String))
        statement = statement.where(SessionVideo.video_id == any_(video_ids))
    return statement


def _query_embedding() -> BindParameter[Any]:
    """The query vector, bound once with the column's type (it travels as a `pgvector.Vector`)."""
    return bindparam("query_embedding", type_=TranscriptChunk.embedding.type)


def _once(expression: ColumnElement[Any]) -> ColumnElement[Any]:
    """`expression` as a scalar subquery: evaluated once per statement (an InitPlan), where a
    generic plan (see `db.engine`) would otherwise evaluate it once per row, e.g. the cast of
    the bound query vector to half precision."""
    return select(expression).scalar_subquery()


def _text_query() -> ColumnElement[Any]:
    """The query text as a tsquery, parsed once; NULL when it has no lexemes.
    `websearch_to_tsquery` accepts any input; a query without lexemes matches nothing (matching it
    against every chunk would only raise a NOTICE per chunk)."""
    parsed = select(
        func.websearch_to_tsquery(
            cast(bindparam("text_search_config", type_=Text), REGCONFIG),
            bindparam("query_text", type_=Text),
        ).label("query")
    ).subquery("parsed")
    return select(case((func.numnode(parsed.c.query) > 0, parsed.c.query))).scalar_subquery()


def _scanned(filtered: bool, exact: bool, with_text: bool) -> CTE:
    """One pass over the session's chunks (see `_session_chunks`), materialized: (chunk_id,
    distance[, relevance]). `distance` is the cosine distance by the inline half-precision copy
    (or with `exact` by the float32 vector); `relevance` is `ts_rank_cd` of the chunks that match
    the query text, NULL for the others. Both sides rank from these rows, so the session's chunks
    are read once, and neither side reads the other's columns again."""
    if exact:
        distance = TranscriptChunk.embedding.cosine_distance(_query_embedding())
    else:
        # Cast to vector first: a parameter bound as text (a connection without pgvector's
        # binary dumper) would otherwise take the type halfvec everywhere in the statement, and
        # the re-rank would compare with a half-precision query.
        distance = TranscriptChunk.embedding_half.cosine_distance(
            _once(cast(cast(_query_embedding(), VECTOR()), HALFVEC()))
        )
    columns: list[Any] = [TranscriptChunk.id.label("chunk_id"), distance.label("distance")]
    if with_text:
        query = _text_query()
        matches = TranscriptChunk.text_search.bool_op("@@")(query)
        relevance = case((matches, func.ts_rank_cd(TranscriptChunk.text_search, query)))
        columns.append(relevance.label("relevance"))
    return _session_chunks(filtered, *columns).cte("scanned").prefix_with("MATERIALIZED")


def _vector_side(scanned: CTE, exact: bool) -> CTE:
    """(chunk_id, rank) of the `vector_limit` nearest chunks by cosine distance of the float32
    vectors, ties by id. Unless `exact`, only the `shortlist_limit` nearest by the half-precision
    copy are re-ranked: only the shortlisted chunks' float32 vectors (in TOAST) are ever read."""
    if exact:
        nearest = (
            select(scanned.c.chunk_id, scanned.c.distance)
            .order_by(scanned.c.distance, scanned.c.chunk_id)
            .limit(bindparam("vector_limit", type_=Integer))
            .subquery("nearest")
        )
    else:
        shortlist = (
            select(scanned.c.chunk_id)
            .order_by(scanned.c.distance, scanned.c.chunk_id)
            .limit(bindparam("shortlist_limit", type_=Integer))
            .subquery("shortlist")
        )
        distance = TranscriptChunk.embedding.cosine_distance(_query_embedding()).label("distance")
        nearest = (
            select(shortlist.c.chunk_id, distance)
            .join(TranscriptChunk, TranscriptChunk.id == shortlist.c.chunk_id)
            .order_by(distance, shortlist.c.chunk_id)
            .limit(bindparam("vector_limit", type_=Integer))
            .subquery("nearest")
        )
    rank = func.row_number().over(order_by=(nearest.c.distance, nearest.c.chunk_id))
    return select(nearest.c.chunk_id, rank.label("rank")).cte("vector_side")


def _text_side(scanned: CTE) -> CTE:
    """(chunk_id, rank) of the `text_limit` best full-text matches by `ts_rank_cd`, ties by id."""
    matches = (
        select(scanned.c.chunk_id, scanned.c.relevance)
        .where(scanned.c.relevance.is_not(None))
        .order_by(scanned.c.relevance.desc(), scanned.c.chunk_id)
        .limit(bindparam("text_limit", type_=Integer))
        .subquery("matches")
    )
    rank = func.row_number().over(order_by=(matches.c.relevance.desc(), matches.c.chunk_id))
    return select(matches.c.chunk_id, rank.label("rank")).cte("text_side")


def _reciprocal_rank(rank: ColumnElement[Any]) -> ColumnElement[Any]:
    """1 / (rrf_k + rank) in double precision; NULL when the rank is NULL."""
    return literal_column("1.0", Double()) / (bindparam("rrf_k", type_=Double()) + rank)


def _with_chunk_details(ranked: CTE) -> Select[Any]:
    """The top `k` of `ranked` (chunk_id, vector_rank, text_rank, score) as `RetrievedChunk`
    columns: by score, then vector rank (absent last), then chunk id. The `k` are chosen before
    their details are read, so only those `k` rows' text and transcript are fetched."""
    order = (ranked.c.score.desc(), ranked.c.vector_rank.asc().nulls_last(), ranked.c.chunk_id)
    top = select(ranked).order_by(*order).limit(bindparam("k", type_=Integer)).subquery("top")
    return (
        select(
            TranscriptChunk.id,
            Transcript.video_id,
            func.coalesce(Transcript.title, Video.title),
            TranscriptChunk.start_seconds,
            TranscriptChunk.end_seconds,
            TranscriptChunk.text,
            top.c.vector_rank,
            top.c.text_rank,
            top.c.score,
            TranscriptChunk.moments,
            Transcript.link_url,
            Transcript.timed,
        )
        .select_from(top)
        .join(TranscriptChunk, TranscriptChunk.id == top.c.chunk_id)
        .join(Transcript, Transcript.id == TranscriptChunk.transcript_id)
        .join(Video, Video.id == Transcript.video_id)
        .order_by(top.c.score.desc(), top.c.vector_rank.asc().nulls_last(), top.c.chunk_id)
    )
