"""The retrieval benchmark's baseline, run by benchmarks/retrieval.py in the baseline virtualenv
(langchain-postgres 0.0.19 and its pgvector<0.4; see requirements-baseline.txt). It imports
nothing of the app.

    python pgvector_baseline.py JOB.json RESULT.json

JOB: {"url", "sessions": [session ids], "queries": [[session id, vector], ...], "k", "warmup",
"load"}. The app's database already holds the chunks. With "load" (the default) this script first
stores the same vectors the way the
original project did, with langchain-postgres's `PGVector` (v1) and one collection per session
named by the session id: it creates the collections through `PGVector`, then copies every
session's chunks into `langchain_pg_embedding` with one INSERT ... SELECT inside the database
(the rows `add_embeddings` would write: a uuid id, the vector, the text as the document and the
chunk's details as JSONB metadata; inserting 1536-dim vectors through the ORM would only make the
load slower). Then it times `similarity_search_by_vector(k)` for each query in two ways:

- per request, as the original did: a new `PGVector(connection=<URL>, collection_name=...)` for
  every question (a new engine, the extension, table and collection checks, then the search);
- once: one store per collection built beforehand, reused (only the search).

RESULT: {"per_request_ms": [...], "once_ms": [...], "top": [[chunk ids of each query]],
"load_seconds", "setup_seconds", "table_bytes", "versions"}.
"""

from __future__ import annotations

import json
import sys
import time
from importlib.metadata import version
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_postgres import PGVector
from sqlalchemy import create_engine, text

COPY_CHUNKS = """
INSERT INTO langchain_pg_embedding (id, collection_id, embedding, document, cmetadata)
SELECT gen_random_uuid()::text, collection.uuid, chunk.embedding, chunk.text,
       jsonb_build_object('chunk_id', chunk.id, 'video_id', link.video_id,
                          'start_seconds', chunk.start_seconds, 'end_seconds', chunk.end_seconds)
FROM transcript_chunk AS chunk
JOIN session_video AS link ON link.transcript_id = chunk.transcript_id
JOIN langchain_pg_collection AS collection ON collection.name = link.session_id::text
ORDER BY link.session_id, chunk.id
"""


class NoEmbeddings(Embeddings):
    """Searches here go by vector; PGVector only needs an embeddings object to exist."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise NotImplementedError

    def embed_query(self, text: str) -> list[float]:
        raise NotImplementedError


def _store(connection: Any, session: str) -> PGVector:
    return PGVector(
        embeddings=NoEmbeddings(), connection=connection, collection_name=session, use_jsonb=True
    )


def main(job_path: str, result_path: str) -> None:
    with open(job_path) as source:
        job = json.load(source)
    url: str = job["url"]
    k: int = job["k"]
    queries: list[tuple[str, list[float]]] = [(s, v) for s, v in job["queries"]]
    warmup = queries[: job["warmup"]]
    engine = create_engine(url)

    began = time.perf_counter()
    stores = {session: _store(engine, session) for session in job["sessions"]}
    setup_seconds = time.perf_counter() - began

    began = time.perf_counter()
    if job.get("load", True):  # once per database: later runs only search
        with engine.begin() as connection:
            connection.execute(text(COPY_CHUNKS))
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("VACUUM ANALYZE langchain_pg_embedding")
            )
    with engine.connect() as connection:
        table_bytes = connection.scalar(
            text("SELECT pg_total_relation_size('langchain_pg_embedding')")
        )
    load_seconds = time.perf_counter() - began

    per_request_ms: list[float] = []
    for index, (session, vector) in enumerate([*warmup, *queries]):
        start = time.perf_counter()
        store = _store(url, session)
        found = store.similarity_search_by_vector(vector, k=k)
        elapsed = (time.perf_counter() - start) * 1000
        assert len(found) == k, found
        if index >= len(warmup):
            per_request_ms.append(elapsed)
        assert store._engine is not None
        store._engine.dispose()  # not timed: only so that 200 engines hold no 200 connections

    once_ms: list[float] = []
    top: list[list[int]] = []
    for session, vector in warmup:
        stores[session].similarity_search_by_vector(vector, k=k)
    for session, vector in queries:
        start = time.perf_counter()
        found = stores[session].similarity_search_by_vector(vector, k=k)
        once_ms.append((time.perf_counter() - start) * 1000)
        top.append([int(document.metadata["chunk_id"]) for document in found])
    engine.dispose()

    result = {
        "per_request_ms": per_request_ms,
        "once_ms": once_ms,
        "top": top,
        "setup_seconds": setup_seconds,
        "load_seconds": load_seconds,
        "table_bytes": table_bytes,
        "versions": {name: version(name) for name in ("langchain-postgres", "pgvector")},
    }
    with open(result_path, "w") as target:
        json.dump(result, target)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
