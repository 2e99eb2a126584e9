"""Embedding providers behind one interface: OpenAI, Azure OpenAI and OpenAI-compatible servers
through langchain-openai, and an offline embedder that needs no key and no download.

The offline embedder is WordLlama's `l2_supercat` static model: a table of 256-dimension token
vectors (trained so that their average embeds a sentence) and its tokenizer, both shipped inside
the `wordllama` wheel. A text's vector is the average of its tokens' rows, L2-normalised. This
module reads those two files itself (with `tokenizers`, `safetensors` and numpy) rather than
through `WordLlama.load`: the package's loader looks for the tokenizer in the wrong folder and
then tries to download it, its import costs about 0.5 s more (pydantic, requests) and configures
the root logger, and its batch encoding starts a thread pool. Nothing here is imported until the
first embedding is needed, and the model is loaded once per process, whoever asks first.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from services.video_rag.settings import (
    OFFLINE_EMBEDDING_DIMENSIONS,
    OFFLINE_EMBEDDING_WIDTHS,
    accepts_dimensions,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from services.video_rag.settings import Settings

logger = logging.getLogger(__name__)

# Where the offline model lives inside the wordllama package (its 256-dimension weights).
OFFLINE_PACKAGE = "wordllama"
OFFLINE_WEIGHTS = "weights/l2_supercat_256.safetensors"
OFFLINE_TOKENIZER = "tokenizers/l2_supercat_tokenizer_config.json"
OFFLINE_TENSOR = "embedding.weight"


class Embedder(Protocol):
    """What ingestion and retrieval need: langchain's `Embeddings` methods."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


class EmbeddingFailed(Exception):
    """The embedding provider failed; the message is safe to show a client."""


class StaticEmbeddingModel:
    """A static embedding model: one vector per token, a text is the mean of its tokens'.

    Safe to share between threads: the table is read-only and the tokenizer is only read after
    construction (`Tokenizer.encode` takes no lock and starts no threads, unlike `encode_batch`).
    """

    def __init__(self, table: Any, tokenizer: Any) -> None:
        import numpy as np

        self._np = np
        self.table = np.asarray(table)
        self.table.flags.writeable = False
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self.tokenizer = tokenizer

    @property
    def width(self) -> int:
        """The full width of the token vectors."""
        return int(self.table.shape[1])

    def embed(self, texts: Sequence[str], width: int) -> list[list[float]]:
        """Unit vectors of the first `width` dimensions (the model is trained so that its leading
        dimensions work on their own). A text without tokens gets the first basis vector."""
        np = self._np
        if not 1 <= width <= self.width:
            raise ValueError(f"width must be from 1 to {self.width}, got {width}")
        vectors = np.zeros((len(texts), width), dtype=np.float32)
        vectors[:, 0] = 1.0
        for row, text in enumerate(texts):
            ids = self.tokenizer.encode(text, add_special_tokens=False).ids
            if ids:
                # The sum has the mean's direction; float32 accumulates the float16 table.
                vectors[row] = self.table[ids, :width].sum(axis=0, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        empty = norms[:, 0] == 0.0  # tokens whose vectors cancel out: keep a valid vector
        vectors[empty] = 0.0
        vectors[empty, 0] = 1.0
        norms[empty] = 1.0
        result: list[list[float]] = (vectors / norms).tolist()
        return result


_offline_model: StaticEmbeddingModel | None = None
_offline_lock = threading.Lock()


def offline_model_folder() -> Path:
    """The installed wordllama package's folder, found without importing it."""
    spec = importlib.util.find_spec(OFFLINE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"the offline embedding model needs the '{OFFLINE_PACKAGE}' package "
            "(pip install -r requirements.txt)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def load_offline_model() -> StaticEmbeddingModel:
    """The offline model, loaded on first call (about 0.1 s), then shared by the process."""
    global _offline_model
    if _offline_model is None:
        with _offline_lock:
            if _offline_model is None:
                _offline_model = _read_offline_model(offline_model_folder())
    return _offline_model


def _read_offline_model(folder: Path) -> StaticEmbeddingModel:
    from safetensors import safe_open
    from tokenizers import Tokenizer

    with safe_open(str(folder / OFFLINE_WEIGHTS), framework="np") as weights:
        table = weights.get_tensor(OFFLINE_TENSOR)
    tokenizer = Tokenizer.from_file(str(folder / OFFLINE_TOKENIZER))
    logger.info("offline embedding model loaded: %d tokens x %d", *table.shape)
    return StaticEmbeddingModel(table, tokenizer)


class OfflineEmbeddings:
    """Semantic embeddings with no key, no network and no download (see the module docstring).
    `dimensions` is 256, or 128 / 64 (the model's shorter, matryoshka-trained prefixes)."""

    def __init__(self, dimensions: int = OFFLINE_EMBEDDING_DIMENSIONS) -> None:
        if dimensions not in OFFLINE_EMBEDDING_WIDTHS:
            raise ValueError(f"the offline embedder makes {OFFLINE_EMBEDDING_WIDTHS} dimensions")
        self.dimensions = dimensions

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return load_offline_model().embed(texts, self.dimensions)

    def embed_query(self, text: str) -> list[float]:
        return load_offline_model().embed([text], self.dimensions)[0]


class CheckedEmbedder:
    """Wraps a provider: converts its failures to EmbeddingFailed and checks vector widths.

    `dimensions` is the width every vector must have; when None (a model that chooses its own
    width), the first answer sets it and every later one must match it."""

    def __init__(self, inner: Embedder, dimensions: int | None, *, hint: str = "") -> None:
        self.inner = inner
        self._dimensions = dimensions
        self._configured = dimensions is not None
        self._hint = hint
        self._lock = threading.Lock()

    @property
    def dimensions(self) -> int | None:
        """The width of this provider's vectors; None until its first answer when not set."""
        return self._dimensions

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed many texts (the provider batches them into few requests): one unit-length
        float32 row per text, the form they are stored in."""
        vectors = self._call(lambda: self.inner.embed_documents(list(texts))) if texts else []
        if len(vectors) != len(texts):
            raise EmbeddingFailed("the embedding provider returned the wrong number of vectors")
        return _unit_vectors(vectors, self._dimensions or 0)

    def embed_query(self, text: str) -> list[float]:
        """Embed one query text (unit length)."""
        vector = self._call(lambda: [self.inner.embed_query(text)])
        unit: list[float] = _unit_vectors(vector, len(vector[0]))[0].tolist()
        return unit

    def _call(self, embed: Callable[[], list[list[float]]]) -> list[list[float]]:
        try:
            vectors = embed()
        except EmbeddingFailed:
            raise
        except Exception as exc:
            logger.warning("embedding provider failed: %s: %s", type(exc).__name__, exc)
            raise EmbeddingFailed(
                f"the embedding provider failed ({type(exc).__name__}){self._hint}"
            ) from exc
        for vector in vectors:
            self._check_width(len(vector))
        return vectors

    def _check_width(self, width: int) -> None:
        expected = self._dimensions
        if expected is None:
            with self._lock:
                if self._dimensions is None:
                    self._dimensions = width
                    logger.info("embedding model answers with %d dimensions", width)
                expected = self._dimensions
        if width == expected:
            return
        if self._configured:
            raise EmbeddingFailed(
                f"the embedding model returned {width} dimensions where EMBEDDING_DIMENSIONS "
                f"asks for {expected} (set EMBEDDING_DIMENSIONS to {width}, or leave it unset)"
            )
        raise EmbeddingFailed(
            f"the embedding model returned {width} dimensions after {expected} earlier"
        )


def _unit_vectors(vectors: list[list[float]], width: int) -> npt.NDArray[np.float32]:
    """`vectors` as float32 rows (`width` wide when there are none) scaled to unit length, in
    place. Retrieval compares directions only (cosine), so nothing changes for a model whose
    vectors are normalized already; a model whose vectors are not (some local models) can no
    longer store values half precision cannot hold (beyond 65,504) or too small to tell apart
    from zero in it (the retrieval shortlist's copy). An empty or non-finite vector is
    EmbeddingFailed."""
    import numpy as np

    if not vectors:
        return np.empty((0, width), dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        array = np.asarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(array, axis=1)
    if not np.all(np.isfinite(norms)) or not np.all(norms > 0.0):
        raise EmbeddingFailed("the embedding model returned an empty or non-finite vector")
    array /= norms[:, np.newaxis]
    return array


def build_embedder(settings: Settings) -> Embedder:
    """The embedding provider the settings ask for. langchain-openai is imported only here, and
    the offline model only at its first embedding."""
    if settings.embedding_provider == "offline":
        return OfflineEmbeddings(settings.embedding_dimensions or OFFLINE_EMBEDDING_DIMENSIONS)
    model = settings.embedding_model
    # text-embedding-3-* can shorten its vectors; older and non-OpenAI models reject the parameter.
    shorten = settings.embedding_dimensions if accepts_dimensions(model) else None
    if settings.embedding_provider == "azure_openai":
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
        api_key=settings.embedding_api_key or "not-needed",  # type: ignore[arg-type]
        base_url=settings.embedding_base_url,
        # tiktoken would download its encodings; compatible servers expect strings anyway.
        check_embedding_ctx_length=False,
        chunk_size=settings.embedding_batch_size,
        max_retries=2,
        timeout=30,
    )


def failure_hint(settings: Settings) -> str:
    """What to check when the configured provider fails, named by setting (never by value)."""
    if settings.embedding_provider == "offline":
        return ""
    if settings.embedding_provider == "azure_openai":
        return "; check AZURE_OPENAI_EMBEDDING_DEPLOYMENT"
    if settings.embedding_base_url:
        return (
            "; does the server at EMBEDDING_BASE_URL (else OPENAI_BASE_URL) serve EMBEDDING_MODEL? "
            "EMBEDDING_PROVIDER=offline embeds without it"
        )
    return ""
