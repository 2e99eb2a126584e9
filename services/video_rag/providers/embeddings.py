"""Embedding providers behind one interface: OpenAI, Azure OpenAI and OpenAI-compatible servers
through langchain-openai (imported on first use), and an offline embedder that needs nothing."""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from services.video_rag.settings import Settings

logger = logging.getLogger(__name__)


class Embedder(Protocol):
    """What ingestion and retrieval need: langchain's `Embeddings` methods."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


class EmbeddingFailed(Exception):
    """The embedding provider failed; the message is safe to show a client."""


_WORD = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset(
    (
        "a an and are as at be but by do does for from has have he her his how i if in is it its "
        "me my of on or our she so that the their them then there these they this to us was we "
        "were what when where which who why will with you your"
    ).split()
)


@lru_cache(maxsize=65536)
def _bucket(feature: str, dimensions: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dimensions, 1.0 if value >> 63 else -1.0


class OfflineHashEmbeddings:
    """Deterministic lexical embeddings with no model and no network.

    Words (lower-cased, stop words dropped) and word pairs are hashed into `dimensions` signed
    buckets with sub-linear term weights, then L2-normalised, so cosine similarity measures shared
    vocabulary. Good enough to retrieve the passage that talks about what a question asks.
    """

    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        words = [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]
        counts: dict[str, int] = {}
        for feature in [*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))]:
            counts[feature] = counts.get(feature, 0) + 1
        vector = [0.0] * self.dimensions
        for feature, count in counts.items():
            index, sign = _bucket(feature, self.dimensions)
            vector[index] += sign * (1.0 + math.log(count))
        norm = math.sqrt(sum(v * v for v in vector))
        if norm == 0.0:
            vector[0] = 1.0  # a text with no words still gets a valid, comparable vector
            return vector
        return [v / norm for v in vector]


class CheckedEmbedder:
    """Wraps a provider: converts its failures to EmbeddingFailed and checks vector widths."""

    def __init__(self, inner: Embedder, dimensions: int) -> None:
        self.inner = inner
        self.dimensions = dimensions

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed many texts (the provider batches them into few requests)."""
        if not texts:
            return []
        vectors = self._call(lambda: self.inner.embed_documents(list(texts)))
        if len(vectors) != len(texts):
            raise EmbeddingFailed("the embedding provider returned the wrong number of vectors")
        return vectors

    def embed_query(self, text: str) -> list[float]:
        """Embed one query text."""
        return self._call(lambda: [self.inner.embed_query(text)])[0]

    def _call(self, embed: Callable[[], list[list[float]]]) -> list[list[float]]:
        try:
            vectors = embed()
        except EmbeddingFailed:
            raise
        except Exception as exc:
            logger.warning("embedding provider failed: %s: %s", type(exc).__name__, exc)
            raise EmbeddingFailed(f"the embedding provider failed ({type(exc).__name__})") from exc
        for vector in vectors:
            if len(vector) != self.dimensions:
                raise EmbeddingFailed(
                    f"the embedding model returned {len(vector)} dimensions; the database stores "
                    f"{self.dimensions} (set EMBEDDING_DIMENSIONS or choose another model)"
                )
        return vectors


def build_embedder(settings: Settings) -> Embedder:
    """The embedding provider the settings ask for. langchain-openai is imported only here."""
    dimensions = settings.embedding_dimensions
    if settings.llm_provider == "offline":
        return OfflineHashEmbeddings(dimensions)
    model = settings.embedding_model
    # text-embedding-3-* can shorten its vectors; older and non-OpenAI models reject the parameter.
    shorten = dimensions if model.startswith("text-embedding-3") else None
    if settings.llm_provider == "azure_openai":
        from langchain_openai import AzureOpenAIEmbeddings

        deployment = settings.azure_openai_embedding_deployment or model
        return AzureOpenAIEmbeddings(
            azure_endpoint=settings.azure_openai_endpoint,
            azure_deployment=deployment,
            api_version=settings.azure_openai_api_version,
            api_key=settings.azure_openai_api_key,  # type: ignore[arg-type]
            dimensions=shorten,
            check_embedding_ctx_length=False,
            chunk_size=settings.embedding_batch_size,
            max_retries=2,
            timeout=30,
        )
    from langchain_openai import OpenAIEmbeddings

    return OpenAIEmbeddings(
        model=model,
        dimensions=shorten,
        api_key=settings.openai_api_key or "not-needed",  # type: ignore[arg-type]
        base_url=settings.openai_base_url,
        # tiktoken would download its encodings; compatible servers expect strings anyway.
        check_embedding_ctx_length=False,
        chunk_size=settings.embedding_batch_size,
        max_retries=2,
        timeout=30,
    )
