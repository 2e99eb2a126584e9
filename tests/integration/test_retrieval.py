"""Retrieval against the real database: vector search checked against brute force (the exact
path, and the default half-precision shortlist re-ranked at full precision, whose recall is
measured on clustered embeddings), session isolation, the video filter, and hybrid search with
reciprocal rank fusion."""

from __future__ import annotations

import math
import random
import uuid
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from operator import mul

import numpy as np
import pytest
from sqlalchemy import Text, create_engine, insert, select
from sqlalchemy.orm import Session

from services.video_rag.bootstrap import Dependencies
from services.video_rag.db.models import ChatSession, Transcript, TranscriptChunk
from services.video_rag.db.retrieval import RetrievalRepository, RetrievedChunk
from tests.conftest import FakeClock
from tests.factories import TEST_DIMENSIONS, TEST_MODEL, add_transcript, link

pytestmark = [pytest.mark.db]

DIM = TEST_DIMENSIONS
MODEL = TEST_MODEL
# Distances closer than this count as a tie: pgvector sums in float32, brute force in float64.
TIE = 1e-6


def new_session(db: Session, clock: FakeClock) -> uuid.UUID:
    session = ChatSession(
        id=uuid.uuid4(),
        token_hash=uuid.uuid4().bytes * 2,
        created_at=clock(),
        expires_at=clock() + timedelta(minutes=15),
    )
    db.add(session)
    db.flush()
    return session.id


def add_video(
    db: Session,
    clock: FakeClock,
    video_id: str,
    texts: Sequence[str],
    embeddings: Sequence[Sequence[float]],
    *,
    owner: uuid.UUID | None = None,
    title: str | None = None,
) -> tuple[Transcript, list[int]]:
    """A transcript of `video_id` with one chunk per text, inserted in one statement; returns the
    transcript and its chunk ids in order."""
    transcript = add_transcript(
        db, video_id, chunks=0, owner_session_id=owner, last_used_at=clock()
    )
    transcript.title = title
    transcript.chunk_count = len(texts)
    rows = [
        {
            "transcript_id": transcript.id,
            "ordinal": ordinal,
            "start_seconds": ordinal * 30.0,
            "end_seconds": ordinal * 30.0 + 30.0,
            "text": text,
            "embedding": embedding,
        }
        for ordinal, (text, embedding) in enumerate(zip(texts, embeddings, strict=True))
    ]
    ids = db.scalars(
        insert(TranscriptChunk).returning(TranscriptChunk.id, sort_by_parameter_order=True),
        rows,
    ).all()
    db.flush()
    return transcript, list(ids)


def unit(*weights: tuple[int, float]) -> list[float]:
    """A vector with the given (dimension, weight) entries, zero elsewhere."""
    vector = [0.0] * DIM
    for dimension, weight in weights:
        vector[dimension] = weight
    return vector


def gaussian(rng: random.Random) -> list[float]:
    return [rng.gauss(0.0, 1.0) for _ in range(DIM)]


def float32(vector: Sequence[float]) -> list[float]:
    """The vector as pgvector stores it."""
    return array("f", vector).tolist()


def cosine_distance(a: Sequence[float], norm_a: float, b: Sequence[float], norm_b: float) -> float:
    return 1.0 - sum(map(mul, a, b)) / (norm_a * norm_b)


def norm(vector: Sequence[float]) -> float:
    return math.sqrt(sum(map(mul, vector, vector)))


def ids(chunks: Sequence[RetrievedChunk]) -> list[int]:
    return [chunk.chunk_id for chunk in chunks]


def rrf(vector_rank: int | None, text_rank: int | None, rrf_k: int) -> float:
    score = 0.0
    score += 1.0 / (rrf_k + vector_rank) if vector_rank is not None else 0.0
    score += 1.0 / (rrf_k + text_rank) if text_rank is not None else 0.0
    return score


def assert_fused_order(results: Sequence[RetrievedChunk], rrf_k: int) -> None:
    """Scores follow the RRF formula and results come by score, vector rank, chunk id."""
    for chunk in results:
        assert chunk.vector_rank is not None or chunk.text_rank is not None
        assert chunk.score == rrf(chunk.vector_rank, chunk.text_rank, rrf_k)  # bit for bit
    keys = [
        (-c.score, c.vector_rank if c.vector_rank is not None else math.inf, c.chunk_id)
        for c in results
    ]
    assert keys == sorted(keys)


# --- exactness ----------------------------------------------------------------------------


@dataclass
class Corpus:
    """Per session, the chunk ids it can see with their float32 vectors and norms."""

    scope: dict[uuid.UUID, dict[int, tuple[list[float], float]]] = field(default_factory=dict)

    def see(self, session_id: uuid.UUID, chunk_ids: Sequence[int], vectors: Sequence[list[float]]):
        seen = self.scope.setdefault(session_id, {})
        for chunk_id, vector in zip(chunk_ids, vectors, strict=True):
            stored = float32(vector)
            seen[chunk_id] = (stored, norm(stored))


def build_corpus(db: Session, clock: FakeClock, rng: random.Random) -> Corpus:
    """Three sessions with four videos each (about 380 chunks), clustered by video, a shared
    transcript linked by two of them, duplicate vectors, and an upload."""
    corpus = Corpus()
    sessions = [new_session(db, clock) for _ in range(3)]
    words = "battery screen keyboard price camera speaker hinge fan port light".split()

    def video(video_id: str, owner: uuid.UUID | None = None) -> tuple[Transcript, list[int], list]:
        centre = gaussian(rng)
        count = rng.randint(20, 40)
        vectors = []
        for _ in range(count):
            spread = rng.choice((0.3, 1.0, 3.0))
            vectors.append([c + spread * rng.gauss(0.0, 1.0) for c in centre])
        vectors[1] = list(vectors[0])  # an exact tie, broken by chunk id
        texts = [" ".join(rng.choices(words, k=8)) for _ in range(count)]
        transcript, chunk_ids = add_video(db, clock, video_id, texts, vectors, owner=owner)
        return transcript, chunk_ids, vectors

    for number, session_id in enumerate(sessions):
        for index in range(4 if number < 2 else 3):
            owner = session_id if index == 0 else None
            transcript, chunk_ids, vectors = video(f"s{number}video{index:03d}", owner)
            link(db, session_id, transcript, clock())
            corpus.see(session_id, chunk_ids, vectors)
    shared, chunk_ids, vectors = video("sharedVideo")
    for session_id in sessions[:2]:
        link(db, session_id, shared, clock())
        corpus.see(session_id, chunk_ids, vectors)
    video("nobodysVid1")  # linked by no session: never found
    db.commit()
    return corpus


@pytest.mark.parametrize("exact", [True, False], ids=["exact", "shortlist"])
def test_vector_search_is_exact_against_brute_force(
    db: Session, clock: FakeClock, exact: bool
) -> None:
    """Both paths return the brute force's nearest chunks in order on this corpus: the exact
    path always, the shortlist whenever half precision keeps the true nearest among its
    max(2k, 24) (here always; the recall test below measures it on a harder corpus)."""
    rng = random.Random(20261121)
    corpus = build_corpus(db, clock, rng)
    repository = RetrievalRepository(db)
    hits = expected_total = 0
    for query_number in range(72):
        session_id = list(corpus.scope)[query_number % len(corpus.scope)]
        scope = corpus.scope[session_id]
        if query_number % 2:  # near one of the session's chunks
            anchor, _ = rng.choice(list(scope.values()))
            query = [value + 0.2 * rng.gauss(0.0, 1.0) for value in anchor]
        else:
            query = gaussian(rng)
        k = (1, 6, 20, 60)[query_number % 4]

        got = ids(
            repository.vector_search(session_id, query, k, embedding_model=MODEL, exact=exact)
        )

        stored_query = float32(query)
        query_norm = norm(stored_query)
        distance = {
            chunk_id: cosine_distance(stored_query, query_norm, vector, vector_norm)
            for chunk_id, (vector, vector_norm) in scope.items()
        }
        expected = sorted(distance, key=lambda chunk_id: (distance[chunk_id], chunk_id))[:k]
        assert len(got) == len(expected) == k
        assert set(got) <= set(scope)
        for position, (found, wanted) in enumerate(zip(got, expected, strict=True)):
            assert found == wanted or abs(distance[found] - distance[wanted]) <= TIE, position
        boundary = distance[expected[-1]]
        hits += sum(
            1 for chunk_id in got if chunk_id in expected or distance[chunk_id] <= boundary + TIE
        )
        expected_total += len(expected)
    assert hits / expected_total == 1.0


def test_identical_vectors_and_texts_come_in_chunk_id_order(db: Session, clock: FakeClock) -> None:
    session_id = new_session(db, clock)
    vector = unit((0, 1.0), (1, 1.0))
    transcript, chunk_ids = add_video(db, clock, "sameSameSam", ["same words"] * 5, [vector] * 5)
    link(db, session_id, transcript, clock())
    db.commit()
    repository = RetrievalRepository(db)

    by_vector = repository.vector_search(session_id, vector, 5, embedding_model=MODEL)
    assert ids(by_vector) == sorted(chunk_ids)
    assert [c.vector_rank for c in by_vector] == [1, 2, 3, 4, 5]
    assert (
        ids(repository.vector_search(session_id, vector, 3, embedding_model=MODEL))
        == sorted(chunk_ids)[:3]
    )
    hybrid = repository.hybrid_search(session_id, vector, "same words", k=5, embedding_model=MODEL)
    assert ids(hybrid) == sorted(chunk_ids)
    assert [(c.vector_rank, c.text_rank) for c in hybrid] == [(r, r) for r in range(1, 6)]
    assert hybrid == repository.hybrid_search(
        session_id, vector, "same words", k=5, embedding_model=MODEL
    )


# --- isolation and filters ----------------------------------------------------------------


def test_a_session_sees_only_the_transcripts_it_linked(db: Session, clock: FakeClock) -> None:
    alice, bob, carol = (new_session(db, clock) for _ in range(3))
    rng = random.Random(7)
    texts = ["chunk about the battery"] * 4

    shared, shared_ids = add_video(db, clock, "sharedVideo", texts, [gaussian(rng) for _ in texts])
    # Alice uploaded her own transcript of a video; Bob added YouTube's transcript of it.
    upload_vectors = [gaussian(rng) for _ in texts]
    upload, upload_ids = add_video(
        db, clock, "uploadedVid", texts, upload_vectors, owner=alice, title="Alice's own title"
    )
    youtube, youtube_ids = add_video(
        db, clock, "uploadedVid", texts, [gaussian(rng) for _ in texts]
    )
    carols, carol_ids = add_video(db, clock, "carolsVideo", texts, [gaussian(rng) for _ in texts])
    _, unlinked_ids = add_video(db, clock, "unlinkedVid", texts, [gaussian(rng) for _ in texts])
    link(db, alice, shared, clock())
    link(db, alice, upload, clock())
    link(db, bob, shared, clock())
    link(db, bob, youtube, clock())
    link(db, carol, carols, clock())
    db.commit()
    repository = RetrievalRepository(db)
    lonely = new_session(db, clock)
    db.commit()

    # The query is one of Alice's upload vectors: the best match anywhere, if it could leak.
    query = upload_vectors[0]
    expected = {
        alice: set(shared_ids) | set(upload_ids),
        bob: set(shared_ids) | set(youtube_ids),
        carol: set(carol_ids),
        lonely: set(),
    }
    for session_id, visible in expected.items():
        by_vector = repository.vector_search(session_id, query, k=100, embedding_model=MODEL)
        hybrid = repository.hybrid_search(
            session_id, query, "battery", k=100, embedding_model=MODEL
        )
        assert set(ids(by_vector)) == visible
        assert set(ids(hybrid)) == visible
        assert not visible & set(unlinked_ids)
    assert (
        repository.vector_search(alice, query, k=1, embedding_model=MODEL)[0].chunk_id
        == upload_ids[0]
    )
    assert (
        repository.vector_search(bob, query, k=1, embedding_model=MODEL)[0].chunk_id
        not in upload_ids
    )

    titles = {
        (session_id, chunk.video_id, chunk.title)
        for session_id in (alice, bob)
        for chunk in repository.hybrid_search(
            session_id, query, "battery", k=100, embedding_model=MODEL
        )
    }
    assert titles == {
        (alice, "sharedVideo", "Video sharedVideo"),
        (alice, "uploadedVid", "Alice's own title"),
        (bob, "sharedVideo", "Video sharedVideo"),
        (bob, "uploadedVid", "Video uploadedVid"),
    }


def test_video_ids_restrict_the_search(db: Session, clock: FakeClock) -> None:
    session_id, other = new_session(db, clock), new_session(db, clock)
    rng = random.Random(11)
    chunk_ids: dict[str, list[int]] = {}
    for video_id in ("firstVideo1", "secondVideo", "thirdVideo1", "othersVideo"):
        texts = [f"words of {video_id} number {n}" for n in range(5)]
        transcript, chunk_ids[video_id] = add_video(
            db, clock, video_id, texts, [gaussian(rng) for _ in texts]
        )
        link(db, other if video_id == "othersVideo" else session_id, transcript, clock())
    db.commit()
    repository = RetrievalRepository(db)
    query = gaussian(rng)

    def found(video_ids: list[str] | None) -> tuple[set[int], set[int]]:
        by_vector = repository.vector_search(
            session_id, query, 100, video_ids=video_ids, embedding_model=MODEL
        )
        hybrid = repository.hybrid_search(
            session_id, query, "words", 100, video_ids=video_ids, embedding_model=MODEL
        )
        return set(ids(by_vector)), set(ids(hybrid))

    everything = set(chunk_ids["firstVideo1"] + chunk_ids["secondVideo"] + chunk_ids["thirdVideo1"])
    assert found(None) == (everything, everything)
    one = set(chunk_ids["firstVideo1"])
    assert found(["firstVideo1"]) == (one, one)
    two = set(chunk_ids["firstVideo1"] + chunk_ids["thirdVideo1"])
    assert found(["thirdVideo1", "firstVideo1", "unknownVid1"]) == (two, two)
    assert found(["unknownVid1"]) == (set(), set())
    assert found(["othersVideo"]) == (set(), set())  # the filter never widens the scope
    assert found([]) == (set(), set())


def test_k_larger_than_the_chunks_returns_them_all(db: Session, clock: FakeClock) -> None:
    session_id = new_session(db, clock)
    rng = random.Random(3)
    texts = [f"sentence {n} about the price" for n in range(7)]
    transcript, chunk_ids = add_video(
        db, clock, "sevenChunks", texts, [gaussian(rng) for _ in texts]
    )
    link(db, session_id, transcript, clock())
    db.commit()
    repository = RetrievalRepository(db)
    query = gaussian(rng)

    by_vector = repository.vector_search(session_id, query, 50, embedding_model=MODEL)
    assert sorted(ids(by_vector)) == chunk_ids
    assert sorted(c.vector_rank or 0 for c in by_vector) == list(range(1, 8))
    # Each side keeps at least k candidates, however few `candidates` asks for.
    hybrid = repository.hybrid_search(
        session_id, query, "price", k=50, candidates=2, embedding_model=MODEL
    )
    assert sorted(ids(hybrid)) == chunk_ids
    assert all(c.vector_rank is not None and c.text_rank is not None for c in hybrid)
    assert_fused_order(hybrid, 60)


def test_invalid_arguments_are_refused(db: Session, clock: FakeClock) -> None:
    repository = RetrievalRepository(db)
    session_id = new_session(db, clock)
    with pytest.raises(ValueError, match="expected 1 to 16000 dimensions, got 0"):
        repository.vector_search(session_id, [], 6, embedding_model=MODEL)
    with pytest.raises(ValueError, match="expected 1 to 16000 dimensions, got 16001"):
        repository.vector_search(session_id, [1.0] * 16001, 6, embedding_model=MODEL)
    with pytest.raises(ValueError, match="k must be at least 1"):
        repository.hybrid_search(session_id, unit((0, 1.0)), "x", k=0, embedding_model=MODEL)
    with pytest.raises(ValueError, match="candidates must be at least 1"):
        repository.hybrid_search(
            session_id, unit((0, 1.0)), "x", candidates=0, embedding_model=MODEL
        )


# --- hybrid search ------------------------------------------------------------------------


@dataclass
class HybridFixture:
    session_id: uuid.UUID
    query: list[float]
    top: int  # nearest to the query and matching its words
    far_words: int  # matching the words, farthest from the query
    near_silent: int  # second nearest, none of the words
    fillers: list[int]


@pytest.fixture
def hybrid(db: Session, clock: FakeClock) -> HybridFixture:
    session_id = new_session(db, clock)
    rng = random.Random(42)
    texts = [
        "the battery life of this laptop is great",
        "battery life battery life: ten hours of battery life",
        "the keyboard feels solid",
    ]
    vectors = [unit((0, 1.0)), unit((0, -1.0)), unit((0, 0.9), (1, 0.1))]
    fillers = 30
    texts += [f"filler sentence number {n} about the screen" for n in range(fillers)]
    vectors += [gaussian(rng) for _ in range(fillers)]
    transcript, chunk_ids = add_video(db, clock, "hybridVideo", texts, vectors, title="Upload")
    link(db, session_id, transcript, clock())
    db.commit()
    top, far_words, near_silent = chunk_ids[:3]
    return HybridFixture(session_id, unit((0, 1.0)), top, far_words, near_silent, chunk_ids[3:])


def test_hybrid_finds_by_words_by_vector_and_best_by_both(
    db: Session, hybrid: HybridFixture
) -> None:
    repository = RetrievalRepository(db)
    results = repository.hybrid_search(
        hybrid.session_id, hybrid.query, "battery life", k=6, candidates=10, embedding_model=MODEL
    )
    assert len(results) == 6
    by_id = {chunk.chunk_id: chunk for chunk in results}

    first = results[0]
    assert first.chunk_id == hybrid.top
    assert first.vector_rank == 1
    assert first.text_rank == 2  # one cover of the words, against three in `far` below
    assert (first.video_id, first.title) == ("hybridVideo", "Upload")
    assert first.text == "the battery life of this laptop is great"
    assert (first.start_seconds, first.end_seconds) == (0.0, 30.0)

    far = by_id[hybrid.far_words]  # farthest of all in vector space, found by its words
    assert far.vector_rank is None
    assert far.text_rank == 1
    near = by_id[hybrid.near_silent]  # no query word, found by its vector
    assert near.vector_rank == 2
    assert near.text_rank is None
    assert_fused_order(results, 60)

    # The vector ranks are those of vector_search over the same candidates.
    nearest = ids(
        repository.vector_search(hybrid.session_id, hybrid.query, 10, embedding_model=MODEL)
    )
    for chunk in results:
        if chunk.vector_rank is not None:
            assert nearest[chunk.vector_rank - 1] == chunk.chunk_id
    # Only the two chunks with the words have a text rank.
    assert {c.chunk_id for c in results if c.text_rank is not None} == {hybrid.top, far.chunk_id}


@pytest.mark.parametrize("rrf_k", [0, 1, 10, 60, 1000])
def test_rrf_scores_match_the_formula(db: Session, hybrid: HybridFixture, rrf_k: int) -> None:
    repository = RetrievalRepository(db)
    results = repository.hybrid_search(
        hybrid.session_id,
        hybrid.query,
        "battery or screen",
        k=12,
        candidates=15,
        rrf_k=rrf_k,
        embedding_model=MODEL,
    )
    # The 15 nearest and the 15 best of 32 text matches overlap in part.
    assert len(results) == 12
    sides = {(c.vector_rank is not None, c.text_rank is not None) for c in results}
    assert (True, True) in sides
    assert_fused_order(results, rrf_k)
    assert results[0].chunk_id == hybrid.top


NASTY_QUERIES = [
    "",
    "   ",
    "'",
    "''",
    "&",
    "|",
    "!",
    ":*",
    "(",
    ")",
    '"unterminated',
    '"',
    "\\",
    "-",
    "or",
    "!!! ??? ...",
    "a & | ! b",
    "battery:* & (life",
    "battery' OR '1'='1",
    "'); DROP TABLE transcript_chunk; --",
    "<->",
    "battery <-> life",
    "\x00",
    "battery\x00life",
    "电池 寿命",
]


def test_query_text_with_metacharacters_never_errors(db: Session, hybrid: HybridFixture) -> None:
    repository = RetrievalRepository(db)
    for query_text in NASTY_QUERIES:
        results = repository.hybrid_search(
            hybrid.session_id, hybrid.query, query_text, k=6, embedding_model=MODEL
        )
        assert len(results) == 6, query_text
        assert results[0].chunk_id == hybrid.top, query_text
        assert_fused_order(results, 60)
    for query_text in ("", "   ", "'", "&", "|", "!", ":*", "(", '"', "!!! ??? ...", "<->"):
        results = repository.hybrid_search(
            hybrid.session_id, hybrid.query, query_text, k=40, embedding_model=MODEL
        )
        assert all(chunk.text_rank is None for chunk in results), query_text
    # Operators are read as web search syntax, words still match.
    for query_text in ("battery:* & (life", '"battery life', "battery' OR '1'='1"):
        results = repository.hybrid_search(
            hybrid.session_id, hybrid.query, query_text, k=6, embedding_model=MODEL
        )
        assert results[0].text_rank is not None, query_text
    assert db.scalar(select(TranscriptChunk.id).where(TranscriptChunk.id == hybrid.top))


# --- embedding models -----------------------------------------------------------------------


def test_a_search_compares_only_vectors_of_its_model_and_width(
    db: Session, clock: FakeClock
) -> None:
    """One session, videos embedded by four models (the configuration changed between them):
    256, 768 and twice 1536 wide. Each search sees its model's chunks only, and pgvector is
    never asked to compare vectors of different widths."""
    session_id = new_session(db, clock)
    models = {
        "wordllama-l2-supercat@256": 256,
        "nomic-embed-text": 768,
        "text-embedding-3-small": 1536,
        "text-embedding-ada-002": 1536,
    }
    chunk_ids: dict[str, set[int]] = {}
    for number, (model, width) in enumerate(models.items()):
        transcript = add_transcript(
            db,
            f"modelVideo{number}",
            chunks=4,
            last_used_at=clock(),
            embedding_model=model,
            dimensions=width,
        )
        link(db, session_id, transcript, clock())
        found = db.scalars(
            select(TranscriptChunk.id).where(TranscriptChunk.transcript_id == transcript.id)
        )
        chunk_ids[model] = set(found)
    db.commit()
    repository = RetrievalRepository(db)
    rng = random.Random(9)
    for model, width in models.items():
        query = [rng.random() for _ in range(width)]
        by_vector = repository.vector_search(session_id, query, 50, embedding_model=model)
        hybrid = repository.hybrid_search(session_id, query, "chunk", 50, embedding_model=model)
        assert set(ids(by_vector)) == chunk_ids[model], model
        assert set(ids(hybrid)) == chunk_ids[model], model
    # A label with the wrong width (or an unknown label) finds nothing, and fails nothing.
    wrong = repository.hybrid_search(
        session_id, [1.0] * 256, "chunk", 50, embedding_model="nomic-embed-text"
    )
    assert wrong == []
    assert repository.vector_search(session_id, [1.0] * 3, 50, embedding_model="other") == []


# --- the half-precision shortlist -----------------------------------------------------------


def test_shortlist_recall_on_clustered_embeddings(db: Session, clock: FakeClock) -> None:
    """Recall@6 of the default path against a float64 brute force, on 1,000 chunks of 1536
    dimensions clustered like a real model's (the retrieval benchmark's generator: a common
    direction, five video topics, subtopics of eight chunks; questions near a subtopic or near
    none) is at least 0.99, and the exact path's is 1.0. Hybrid results keep their vector ranks
    from the re-rank at full precision, so both paths fuse alike whenever the shortlist holds."""
    from benchmarks.retrieval import Layout, question_vector, session_vectors

    layout = Layout(sessions=1, chunks=1000, videos=5, seed=7)
    vectors = session_vectors(layout, 0)
    session_id = new_session(db, clock)
    chunk_ids: list[int] = []
    per_video = layout.chunks_per_video()
    for video in range(layout.videos):
        transcript = add_transcript(
            db, f"clustered{video:02d}", chunks=0, last_used_at=clock(), dimensions=1536
        )
        rows = [
            {
                "transcript_id": transcript.id,
                "ordinal": ordinal,
                "start_seconds": ordinal * 30.0,
                "end_seconds": ordinal * 30.0 + 30.0,
                "text": f"chunk {ordinal} of video {video}",
                "embedding": vectors[video * per_video + ordinal],
            }
            for ordinal in range(per_video)
        ]
        chunk_ids += db.scalars(
            insert(TranscriptChunk).returning(TranscriptChunk.id, sort_by_parameter_order=True),
            rows,
        ).all()
        link(db, session_id, transcript, clock())
    db.commit()
    unit_vectors = vectors.astype(np.float64)
    unit_vectors /= np.linalg.norm(unit_vectors, axis=1, keepdims=True)
    repository = RetrievalRepository(db)
    rng = random.Random(2026)
    hits = {False: 0, True: 0}
    same_hybrid = total = 0
    for _ in range(60):
        query = question_vector(layout, 0, rng)
        wanted = np.asarray(query, dtype=np.float64)
        distances = 1.0 - unit_vectors @ (wanted / np.linalg.norm(wanted))
        distance = dict(zip(chunk_ids, distances.tolist(), strict=True))
        expected = sorted(distance, key=lambda chunk_id: (distance[chunk_id], chunk_id))[:6]
        boundary = distance[expected[-1]]
        for exact in (False, True):
            found = repository.vector_search(
                session_id, query, 6, embedding_model=MODEL, exact=exact
            )
            hits[exact] += sum(1 for c in found if distance[c.chunk_id] <= boundary + TIE)
        by_shortlist, by_exact = (
            repository.hybrid_search(
                session_id, query, "chunk video", k=6, embedding_model=MODEL, exact=exact
            )
            for exact in (False, True)
        )
        same_hybrid += by_shortlist == by_exact
        total += 6
    assert hits[True] / total == 1.0
    assert hits[False] / total >= 0.99
    assert same_hybrid >= 59


def test_the_shortlist_is_re_ranked_at_full_precision(db: Session, clock: FakeClock) -> None:
    """Chunks whose vectors differ by less than half precision can tell apart (they share one
    halfvec) still come in their float32 order when the shortlist holds them all (20 chunks,
    a shortlist of at least 24)."""
    session_id = new_session(db, clock)
    # The second component steps by 1e-5 from 1.0, where float32 resolves 1.2e-7 and half
    # precision only 1e-3: every halfvec copy is the same, so only the re-rank can order them.
    vectors = [unit((0, 1.0), (1, 1.0 + 1e-5 * n)) for n in range(20)]
    transcript, chunk_ids = add_video(
        db, clock, "nearlyEqual", [f"chunk {n}" for n in range(20)], vectors[::-1]
    )
    link(db, session_id, transcript, clock())
    db.commit()
    halves = db.scalars(
        select(TranscriptChunk.embedding_half.cast(Text)).where(
            TranscriptChunk.transcript_id == transcript.id
        )
    ).all()
    assert len(set(halves)) == 1
    repository = RetrievalRepository(db)
    query = unit((0, 1.0))
    nearest_first = chunk_ids[::-1]
    for k in (1, 6, 20):
        for exact in (False, True):
            found = repository.vector_search(
                session_id, query, k, embedding_model=MODEL, exact=exact
            )
            assert ids(found) == nearest_first[:k], (k, exact)


# --- generic plans ------------------------------------------------------------------------------


def test_prepared_generic_plans_find_what_fresh_plans_find(
    deps: Dependencies, database_url: str, db: Session, hybrid: HybridFixture
) -> None:
    """The app's connections reuse one generic plan per statement (`db.engine`), which psycopg
    prepares at the fifth run: past that point every kind of search still returns exactly what
    a connection planning each statement anew (a plain engine) returns, for queries whose text
    has words, none, or operators, with and without a video filter."""
    with deps.engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW plan_cache_mode").scalar() == "force_generic_plan"
        connection.rollback()
        assert connection.exec_driver_sql("SHOW plan_cache_mode").scalar() == "force_generic_plan"
    rng = random.Random(7)
    plain = create_engine(database_url)
    try:
        with Session(plain) as fresh:
            reference, app = RetrievalRepository(fresh), RetrievalRepository(db)
            for run in range(12):
                query = [v + rng.gauss(0, 0.3) for v in hybrid.query]
                words = ("battery life", "", "screen or keyboard", "!!!")[run % 4]
                videos = ["hybridVideo"] if run % 3 == 0 else None
                for exact in (False, True):
                    for kind in ("hybrid", "vector"):
                        expected = _search(reference, kind, hybrid, query, words, videos, exact)
                        assert len(expected) == 6
                        found = _search(app, kind, hybrid, query, words, videos, exact)
                        assert found == expected, (run, kind, exact)
    finally:
        plain.dispose()


def _search(
    repository: RetrievalRepository,
    kind: str,
    hybrid: HybridFixture,
    query: list[float],
    words: str,
    videos: list[str] | None,
    exact: bool,
) -> list[RetrievedChunk]:
    if kind == "hybrid":
        return repository.hybrid_search(
            hybrid.session_id,
            query,
            words,
            k=6,
            video_ids=videos,
            embedding_model=MODEL,
            exact=exact,
        )
    return repository.vector_search(
        hybrid.session_id, query, 6, video_ids=videos, embedding_model=MODEL, exact=exact
    )
