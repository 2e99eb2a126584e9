"""Embedding providers: the offline embedder, the checks around any provider, and the real
langchain-openai clients against a local OpenAI-compatible server (batching, parameters)."""

from __future__ import annotations

import math

import pytest

from services.video_rag.providers.embeddings import (
    CheckedEmbedder,
    EmbeddingFailed,
    OfflineHashEmbeddings,
    build_embedder,
)
from services.video_rag.settings import load_settings
from tests.fakes import FailingEmbeddings
from tests.support.fake_openai import FakeOpenAI, fake_openai_server


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_offline_embeddings_are_deterministic_normalised_and_lexical() -> None:
    embedder = OfflineHashEmbeddings(1536)
    battery = embedder.embed_query("How long does the battery last?")
    assert battery == OfflineHashEmbeddings(1536).embed_query("How long does the battery last?")
    assert len(battery) == 1536
    assert math.isclose(math.sqrt(sum(v * v for v in battery)), 1.0)
    near, far = embedder.embed_documents(
        ["The battery lasts nine hours in his test.", "The keyboard cover is sold separately."]
    )
    assert cosine(battery, near) > cosine(battery, far)
    empty = embedder.embed_query("   ")
    assert math.isclose(math.sqrt(sum(v * v for v in empty)), 1.0)


def test_offline_is_the_default_provider() -> None:
    assert isinstance(build_embedder(load_settings({})), OfflineHashEmbeddings)


def test_provider_failures_and_wrong_widths_become_embedding_failed() -> None:
    with pytest.raises(EmbeddingFailed, match=r"provider failed \(ConnectionError\)"):
        CheckedEmbedder(FailingEmbeddings(), 1536).embed_documents(["x"])
    with pytest.raises(EmbeddingFailed, match="returned 8 dimensions"):
        CheckedEmbedder(OfflineHashEmbeddings(8), 1536).embed_documents(["x"])
    assert CheckedEmbedder(FailingEmbeddings(), 1536).embed_documents([]) == []


def test_openai_compatible_server_gets_batches_of_strings() -> None:
    with fake_openai_server() as server:
        settings = load_settings(
            {
                "OPENAI_BASE_URL": f"{server.base_url}/v1",
                "OPENAI_API_KEY": "sk-test",
                "EMBEDDING_BATCH_SIZE": "100",
            }
        )
        embedder = CheckedEmbedder(build_embedder(settings), 1536)
        texts = [f"chunk number {i}" for i in range(250)]
        vectors = embedder.embed_documents(texts)
    assert len(vectors) == 250
    assert vectors[7] == pytest.approx(server.vector("chunk number 7"), abs=1e-6)
    paths = [path for path, _ in server.requests]
    assert paths == ["/v1/embeddings"] * 3  # 250 chunks in batches of 100
    inputs = [body["input"] for _, body in server.requests]
    assert [len(batch) for batch in inputs] == [100, 100, 50]
    assert inputs[0][0] == "chunk number 0"  # strings, not tiktoken ids
    first = server.requests[0][1]
    assert (first["model"], first["dimensions"]) == ("text-embedding-3-small", 1536)


def test_azure_openai_embeddings_use_the_deployment() -> None:
    with fake_openai_server() as server:
        settings = load_settings(
            {
                "AZURE_OPENAI_ENDPOINT": server.base_url,
                "AZURE_OPENAI_API_KEY": "az-key",
                "AZURE_OPENAI_EMBEDDING_DEPLOYMENT": "embed-deploy",
            }
        )
        vectors = CheckedEmbedder(build_embedder(settings), 1536).embed_documents(["a", "b"])
    assert len(vectors) == 2
    (path, body) = server.requests[0]
    assert path.startswith("/openai/deployments/embed-deploy/embeddings?api-version=2024-10-21")
    assert body["input"] == ["a", "b"]


def test_server_errors_become_embedding_failed() -> None:
    with fake_openai_server(FakeOpenAI(fail_with_status=400)) as server:
        settings = load_settings({"OPENAI_BASE_URL": f"{server.base_url}/v1"})
        with pytest.raises(EmbeddingFailed):
            CheckedEmbedder(build_embedder(settings), 1536).embed_documents(["x"])
