"""Embedding providers: the offline embedder (semantic, deterministic, normalised, shared by
threads, loaded lazily once), the checks around any provider (failures, widths learned or set),
and the real langchain-openai clients against a local OpenAI-compatible server (batching,
parameters, a local model of its own width)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from benchmarks import offline_embedders
from services.video_rag.providers import embeddings
from services.video_rag.providers.embeddings import (
    CheckedEmbedder,
    EmbeddingFailed,
    OfflineEmbeddings,
    build_embedder,
    failure_hint,
)
from services.video_rag.settings import load_settings
from tests.fakes import FailingEmbeddings
from tests.support.fake_openai import FakeOpenAI, fake_openai_server

ROOT = Path(__file__).resolve().parents[2]


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(v * v for v in vector))


class FixedWidth:
    """A provider that answers with vectors of the widths it is given, one call after another."""

    def __init__(self, *widths: int) -> None:
        self.widths = list(widths)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        width = self.widths.pop(0)
        return [[1.0] + [0.0] * (width - 1) for _ in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


# --- the offline embedder -------------------------------------------------------------------


def test_offline_embeddings_are_deterministic_and_normalised() -> None:
    embedder = OfflineEmbeddings()
    question = embedder.embed_query("How long should the dough sit in the refrigerator?")
    assert len(question) == 256
    assert question == OfflineEmbeddings().embed_query(
        "How long should the dough sit in the refrigerator?"
    )
    assert math.isclose(norm(question), 1.0, abs_tol=1e-6)
    documents = embedder.embed_documents(["first text", "second text", "first text"])
    assert documents[0] == documents[2] != documents[1]
    assert documents[0] == embedder.embed_query("first text")
    for text in ("", "   ", "\n"):  # (next to) no tokens: still a valid, comparable unit vector
        assert math.isclose(norm(embedder.embed_query(text)), 1.0, abs_tol=1e-6)
    assert embedder.embed_documents([]) == []


@pytest.mark.parametrize("width", [64, 128, 256])
def test_offline_widths_are_the_leading_dimensions_renormalised(width: int) -> None:
    text = "The keyboard backlight has three levels."
    full = OfflineEmbeddings(256).embed_query(text)
    short = OfflineEmbeddings(width).embed_query(text)
    assert len(short) == width
    assert math.isclose(norm(short), 1.0, abs_tol=1e-6)
    scale = norm(full[:width])
    assert short == pytest.approx([v / scale for v in full[:width]], abs=1e-6)


def test_offline_width_must_be_one_the_model_makes() -> None:
    with pytest.raises(ValueError, match="offline embedder makes"):
        OfflineEmbeddings(1536)


def test_offline_embeddings_match_paraphrases_not_just_words() -> None:
    embedder = OfflineEmbeddings()
    pairs = [
        (
            "How long should the dough sit in the refrigerator?",
            "Now cover the basket and let it rest in the fridge overnight, twelve to sixteen "
            "hours.",
            # Shares "how long" (hours) and nothing else either; about the same bread.
            "Preheat the oven with a Dutch oven inside for forty-five minutes.",
        ),
        (
            "Is a window enough light for young plants?",
            "Seedlings need a lot of light; a sunny windowsill is rarely enough, so I hang a grow "
            "lamp above them.",
            # Shares "light", and is about the same seedlings.
            "Start your tomato seeds indoors, a quarter inch deep in a light seed-starting mix.",
        ),
        (
            "Can I plug in a memory card from my camera?",
            "On the right a full-size USB-A and a headphone jack. There's no SD card reader, "
            "sadly.",
            "The webcam is 1080p and handles dim rooms decently.",  # a camera, but the wrong one
        ),
    ]
    for question, answer, distractor in pairs:
        q, a, d = embedder.embed_query(question), *embedder.embed_documents([answer, distractor])
        assert cosine(q, a) > cosine(q, d), question


def test_offline_embedder_beats_the_hashed_bag_of_words_on_the_labelled_set() -> None:
    """The comparison of benchmarks/offline_embedders.py, as a guard on the shipped model: 34
    paraphrased questions ranked against all 37 passages of four videos."""
    model = embeddings.load_offline_model()
    offline = offline_embedders.score(lambda texts: model.embed(texts, 256))
    hashing = offline_embedders.score(offline_embedders.hashing_embed)
    assert (hashing.hit_at_3, round(hashing.mrr, 2)) == (15 / 34, 0.41)
    assert offline.hit_at_3 >= 0.75
    assert offline.hit_at_6 >= 0.85  # the app retrieves 6 passages by default
    assert offline.mrr >= 0.6
    assert offline.mrr > hashing.mrr + 0.15


def test_offline_embedder_is_shared_by_threads() -> None:
    texts = [
        f"Passage {n}: the battery lasts {n} hours with noise cancelling on." for n in range(40)
    ]
    embedder = OfflineEmbeddings()
    expected = [embedder.embed_documents([text])[0] for text in texts]
    start = threading.Barrier(8)

    def embed(offset: int) -> list[list[float]]:
        start.wait()
        ordered = texts[offset:] + texts[:offset]
        vectors = []
        for _ in range(5):
            vectors = embedder.embed_documents(ordered)
        return vectors[len(texts) - offset :] + vectors[: len(texts) - offset]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(embed, range(0, 40, 5)))
    assert all(result == expected for result in results)


def test_the_offline_model_is_loaded_once_whoever_asks_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads: list[Path] = []
    read = embeddings._read_offline_model

    def counting(folder: Path) -> embeddings.StaticEmbeddingModel:
        reads.append(folder)
        return read(folder)

    monkeypatch.setattr(embeddings, "_offline_model", None)
    monkeypatch.setattr(embeddings, "_read_offline_model", counting)
    start = threading.Barrier(6)

    def load(_: int) -> embeddings.StaticEmbeddingModel:
        start.wait()
        return embeddings.load_offline_model()

    with ThreadPoolExecutor(6) as pool:
        models = list(pool.map(load, range(6)))
    assert len(reads) == 1
    assert all(model is models[0] for model in models)


def test_importing_the_app_loads_no_model_and_building_the_embedder_neither() -> None:
    """numpy, tokenizers, safetensors and wordllama are imported at the first embedding only."""
    heavy = ("numpy", "tokenizers", "safetensors", "wordllama")
    script = f"""
import json, sys
import function_app
from services.video_rag.bootstrap import Dependencies
from services.video_rag.settings import load_settings
loaded = {{"import": [m for m in {heavy!r} if m in sys.modules]}}
embedder = Dependencies(settings=load_settings({{}})).get_embedder()
loaded["built"] = [m for m in {heavy!r} if m in sys.modules]
embedder.embed_query("hello")
loaded["used"] = [m for m in {heavy!r} if m in sys.modules]
print(json.dumps(loaded))
"""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["import"] == []
    assert loaded["built"] == []
    assert set(loaded["used"]) == {"numpy", "tokenizers", "safetensors"}  # not wordllama's code


def test_offline_is_the_default_provider() -> None:
    embedder = build_embedder(load_settings({}))
    assert isinstance(embedder, OfflineEmbeddings)
    assert embedder.dimensions == 256
    assert isinstance(
        build_embedder(load_settings({"EMBEDDING_DIMENSIONS": "64"})), OfflineEmbeddings
    )
    local_chat = load_settings(
        {
            "LLM_PROVIDER": "openai",
            "OPENAI_BASE_URL": "http://127.0.0.1:11434/v1",
            "EMBEDDING_PROVIDER": "offline",
        }
    )
    assert isinstance(build_embedder(local_chat), OfflineEmbeddings)


# --- the checks around any provider ---------------------------------------------------------


def test_provider_failures_and_wrong_widths_become_embedding_failed() -> None:
    with pytest.raises(EmbeddingFailed, match=r"provider failed \(ConnectionError\)"):
        CheckedEmbedder(FailingEmbeddings(), 1536).embed_documents(["x"])
    with pytest.raises(EmbeddingFailed, match="returned 8 dimensions where EMBEDDING_DIMENSIONS"):
        CheckedEmbedder(FixedWidth(8), 1536).embed_documents(["x"])
    assert CheckedEmbedder(FailingEmbeddings(), 1536).embed_documents([]).shape == (0, 1536)


class Answering:
    """A provider that answers every text with the given vector."""

    def __init__(self, vector: list[float]) -> None:
        self.vector = vector

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [list(self.vector) for _ in texts]

    def embed_query(self, text: str) -> list[float]:
        return list(self.vector)


def test_vectors_are_scaled_to_unit_length_and_empty_ones_refused() -> None:
    # Beyond what half precision holds, and too small for it: both keep their direction.
    for vector in ([70_000.0, 0.0, 70_000.0], [1e-9, 0.0, 1e-9]):
        (unit,) = CheckedEmbedder(Answering(vector), 3).embed_documents(["x"])
        assert unit == pytest.approx([math.sqrt(0.5), 0.0, math.sqrt(0.5)])
        assert CheckedEmbedder(Answering(vector), 3).embed_query("x") == pytest.approx(unit)
    for bad in ([0.0, 0.0, 0.0], [1.0, math.nan, 0.0], [math.inf, 0.0, 0.0], [1e308, 1e308, 0]):
        with pytest.raises(EmbeddingFailed, match="empty or non-finite vector"):
            CheckedEmbedder(Answering(bad), 3).embed_documents(["x"])


def test_a_width_not_set_is_learned_from_the_first_answer_and_then_held() -> None:
    embedder = CheckedEmbedder(FixedWidth(768, 768, 1024), None)
    assert embedder.dimensions is None
    assert len(embedder.embed_documents(["a", "b"])[1]) == 768
    assert embedder.dimensions == 768
    assert len(embedder.embed_query("c")) == 768
    with pytest.raises(EmbeddingFailed, match="returned 1024 dimensions after 768 earlier"):
        embedder.embed_query("d")


def test_failure_hints_name_settings_only() -> None:
    local = load_settings(
        {"OPENAI_BASE_URL": "http://user:pw@127.0.0.1:11434/v1", "OPENAI_API_KEY": "sk-x"}
    )
    hint = failure_hint(local)
    assert "EMBEDDING_PROVIDER=offline" in hint
    assert "127.0.0.1" not in hint
    assert "pw" not in hint
    assert failure_hint(load_settings({})) == ""


# --- the OpenAI clients against a local server ----------------------------------------------


def test_openai_compatible_server_gets_batches_of_strings() -> None:
    with fake_openai_server() as server:
        settings = load_settings(
            {
                "OPENAI_BASE_URL": f"{server.base_url}/v1",
                "OPENAI_API_KEY": "sk-test",
                "EMBEDDING_BATCH_SIZE": "100",
            }
        )
        assert settings.embedding_provider == "openai"
        embedder = CheckedEmbedder(build_embedder(settings), settings.embedding_dimensions)
        texts = [f"chunk number {i}" for i in range(250)]
        vectors = embedder.embed_documents(texts)
    assert len(vectors) == 250
    sent = server.vector("chunk number 7")
    norm = math.sqrt(sum(x * x for x in sent))
    assert vectors[7] == pytest.approx([x / norm for x in sent], abs=1e-6)  # its direction
    paths = [path for path, _ in server.requests]
    assert paths == ["/v1/embeddings"] * 3  # 250 chunks in batches of 100
    inputs = [body["input"] for _, body in server.requests]
    assert [len(batch) for batch in inputs] == [100, 100, 50]
    assert inputs[0][0] == "chunk number 0"  # strings, not tiktoken ids
    first = server.requests[0][1]
    assert (first["model"], first["dimensions"]) == ("text-embedding-3-small", 1536)


def test_text_embedding_3_models_are_asked_for_the_configured_width() -> None:
    with fake_openai_server(FakeOpenAI(dimensions=512)) as server:
        settings = load_settings(
            {"EMBEDDING_API_KEY": "sk-test", "EMBEDDING_BASE_URL": f"{server.base_url}/v1"}
            | {"EMBEDDING_MODEL": "text-embedding-3-large", "EMBEDDING_DIMENSIONS": "512"}
        )
        embedder = CheckedEmbedder(build_embedder(settings), settings.embedding_dimensions)
        assert len(embedder.embed_query("x")) == 512
    (_, body), *_ = server.requests
    assert (body["model"], body["dimensions"]) == ("text-embedding-3-large", 512)
    assert settings.embedding_model_label == "text-embedding-3-large@512"


def test_a_local_model_answers_with_its_own_width() -> None:
    """EMBEDDING_MODEL=nomic-embed-text on an Ollama-like server: no `dimensions` parameter (such
    servers reject or ignore it), and the 768 dimensions it answers with are learned."""
    with fake_openai_server(FakeOpenAI(dimensions=768)) as server:
        settings = load_settings(
            {"OPENAI_BASE_URL": f"{server.base_url}/v1", "EMBEDDING_MODEL": "nomic-embed-text"}
        )
        assert settings.embedding_dimensions is None
        embedder = CheckedEmbedder(build_embedder(settings), settings.embedding_dimensions)
        vectors = embedder.embed_documents(["a", "b"])
    assert [len(v) for v in vectors] == [768, 768]
    assert embedder.dimensions == 768
    (_, body), *_ = server.requests
    assert body["model"] == "nomic-embed-text"
    assert "dimensions" not in body


def test_azure_openai_embeddings_use_the_deployment() -> None:
    with fake_openai_server() as server:
        settings = load_settings(
            {
                "AZURE_OPENAI_ENDPOINT": server.base_url,
                "AZURE_OPENAI_API_KEY": "az-key",
                "AZURE_OPENAI_EMBEDDING_DEPLOYMENT": "embed-deploy",
            }
        )
        assert settings.embedding_provider == "azure_openai"
        vectors = CheckedEmbedder(build_embedder(settings), 1536).embed_documents(["a", "b"])
    assert len(vectors) == 2
    (path, body) = server.requests[0]
    assert path.startswith("/openai/deployments/embed-deploy/embeddings?api-version=2024-10-21")
    assert body["input"] == ["a", "b"]


def test_server_errors_become_embedding_failed_with_a_hint() -> None:
    with fake_openai_server(FakeOpenAI(fail_with_status=404)) as server:
        settings = load_settings({"OPENAI_BASE_URL": f"{server.base_url}/v1"})
        embedder = CheckedEmbedder(build_embedder(settings), 1536, hint=failure_hint(settings))
        with pytest.raises(EmbeddingFailed, match=r"NotFoundError.*EMBEDDING_PROVIDER=offline"):
            embedder.embed_documents(["x"])


# --- the seam ---------------------------------------------------------------------------------


def test_the_seam_builds_one_embedder_for_all_threads() -> None:
    from services.video_rag.bootstrap import Dependencies

    deps = Dependencies(settings=load_settings({}))
    start = threading.Barrier(6)

    def get(_: int) -> CheckedEmbedder:
        start.wait()
        return deps.get_embedder()

    with ThreadPoolExecutor(6) as pool:
        built = list(pool.map(get, range(6)))
    assert all(embedder is built[0] for embedder in built)
    assert built[0].dimensions == 256
    assert isinstance(built[0].inner, OfflineEmbeddings)


def test_a_provider_put_in_the_seam_keeps_its_own_width() -> None:
    from services.video_rag.bootstrap import Dependencies

    deps = Dependencies(settings=load_settings({}), embedder=FixedWidth(1536, 1536, 8))
    embedder = deps.get_embedder()
    assert len(embedder.embed_query("a")) == 1536  # not the offline model's 256
    assert len(embedder.embed_documents(["b"])[0]) == 1536
    with pytest.raises(EmbeddingFailed, match="returned 8 dimensions after 1536"):
        embedder.embed_query("c")
