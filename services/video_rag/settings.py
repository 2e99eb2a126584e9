"""The one place that reads the environment.

`load_settings()` never raises: a missing or malformed value falls back to its default and is
recorded as a `SettingProblem` (name and reason, never the value), so that importing the function
app always succeeds and `/api/health` can report what is wrong.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal, TypeVar

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

LlmProvider = Literal["openai", "azure_openai", "offline"]
EmbeddingProvider = Literal["offline", "openai", "azure_openai"]
T = TypeVar("T")

# The offline embedder (providers/embeddings.py): WordLlama's l2_supercat static model, shipped in
# the wordllama wheel. 256 dimensions, or its 128 / 64 leading ones.
OFFLINE_EMBEDDING_MODEL = "wordllama-l2-supercat"
OFFLINE_EMBEDDING_DIMENSIONS = 256
OFFLINE_EMBEDDING_WIDTHS = (64, 128, 256)
# The width of every vector stored before migration 0004, still what text-embedding-3-* models are
# asked for by default; their transcripts from then are labelled with the bare model name.
DEFAULT_OPENAI_EMBEDDING_DIMENSIONS = 1536
# pgvector's limit for a `vector`.
MAX_EMBEDDING_DIMENSIONS = 16_000

DATABASE_URL_SETTINGS = ("PG_VECTOR_CONNECTION_STRING", "PG_CONNECTION_STRING")
OPENAI_KEY_SETTINGS = ("OPENAI_API_KEY", "OPENAI_KEY")

# Defaults of the settings whose value the Functions host resolves itself (binding expressions).
_HOST_DEFAULTS = {
    "SESSION_CLEANUP_SCHEDULE": "0 0 0 * * *",
}

_LANGUAGE_CODE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def accepts_dimensions(model: str) -> bool:
    """Whether an embedding model takes the `dimensions` parameter (OpenAI's text-embedding-3-*);
    other models answer with their own width."""
    return model.startswith("text-embedding-3")


def setting_default(name: str) -> str | None:
    """The documented default of a setting that the Functions host resolves (e.g. a schedule)."""
    return _HOST_DEFAULTS.get(name)


@dataclass(frozen=True)
class SettingProblem:
    """A setting that is missing or invalid. Carries the name and the reason, never the value."""

    name: str
    message: str


@dataclass(frozen=True)
class Settings:
    """Typed view of the app settings, with defaults."""

    database_url: str | None = None
    database_url_setting: str | None = None
    session_expire_minutes: int = 15
    session_max_hours: int = 24
    session_cleanup_schedule: str = "0 0 0 * * *"
    session_cleanup_run_on_startup: bool = False
    session_cleanup_batch_size: int = 500
    langchain_chat_message_table_name: str = "langchain_chat_message"
    max_request_bytes: int = 2 * 1024 * 1024
    llm_provider: LlmProvider = "offline"
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None
    chat_model: str = "gpt-4o-mini"
    embedding_provider: EmbeddingProvider = "offline"
    embedding_base_url: str | None = None
    embedding_api_key: str | None = field(default=None, repr=False)
    embedding_model: str = "text-embedding-3-small"
    # The width of the vectors: None when the model answers with its own, learned at first use.
    embedding_dimensions: int | None = OFFLINE_EMBEDDING_DIMENSIONS
    azure_openai_endpoint: str | None = None
    azure_openai_api_key: str | None = field(default=None, repr=False)
    azure_openai_api_version: str = "2024-10-21"
    azure_openai_chat_deployment: str | None = None
    azure_openai_embedding_deployment: str | None = None
    embedding_batch_size: int = 256
    youtube_languages: tuple[str, ...] = ("en",)
    youtube_proxy_http_url: str | None = field(default=None, repr=False)
    youtube_proxy_https_url: str | None = field(default=None, repr=False)
    webshare_proxy_username: str | None = field(default=None, repr=False)
    webshare_proxy_password: str | None = field(default=None, repr=False)
    max_videos_per_request: int = 10
    max_videos_per_session: int = 25
    max_transcript_chars: int = 1_000_000
    ingest_concurrency: int = 4
    max_message_chars: int = 2000
    chat_rate_limit_per_minute: int = 10
    client_chat_rate_limit_per_minute: int = 30
    client_session_rate_limit_per_minute: int = 10
    llm_daily_token_budget: int = 2_000_000
    trusted_proxy_hops: int = 1
    max_chunks_per_transcript: int = 2000
    max_chunks_per_session: int = 10_000
    max_captions_per_upload: int = 50_000
    client_passages_per_hour: int = 20_000
    retrieval_k: int = 6
    history_token_budget: int = 1500
    whole_video_token_budget: int = 60_000
    whole_video_max_note_calls: int = 8
    not_found_threshold: int = 29
    model_not_found_threshold: int = 15
    llm_timeout_seconds: int = 30
    applicationinsights_connection_string: str | None = field(default=None, repr=False)
    problems: tuple[SettingProblem, ...] = ()

    @property
    def chat_model_label(self) -> str:
        """What answers chat questions, as reported to clients."""
        if self.llm_provider == "offline":
            return "offline-extractive"
        if self.llm_provider == "azure_openai":
            return self.azure_openai_chat_deployment or self.chat_model
        return self.chat_model

    @property
    def embedding_model_label(self) -> str:
        """What vectors are made with, as recorded on each transcript: transcripts are shared per
        label, and retrieval compares a question only with vectors of the same label (and width).

        The offline model is `wordllama-l2-supercat@<width>`. A model asked for a width (OpenAI's
        text-embedding-3-*) is `<model>@<width>`, except at 1536, the only width stored before
        migration 0004, where it stays the bare name that those transcripts carry. Any other
        model is its name (the Azure deployment's, for Azure OpenAI): it has one width."""
        if self.embedding_provider == "offline":
            width = self.embedding_dimensions or OFFLINE_EMBEDDING_DIMENSIONS
            return f"{OFFLINE_EMBEDDING_MODEL}@{width}"
        name = self.embedding_model
        if self.embedding_provider == "azure_openai":
            name = self.azure_openai_embedding_deployment or self.embedding_model
        requested = self.embedding_dimensions
        if (
            accepts_dimensions(self.embedding_model)
            and requested != DEFAULT_OPENAI_EMBEDDING_DIMENSIONS
        ):
            return f"{name}@{requested}"
        return name


class _Reader:
    """Reads typed values from an environment mapping, collecting problems instead of raising."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.problems: list[SettingProblem] = []

    def text(self, *names: str) -> tuple[str | None, str | None]:
        """The first non-blank value among `names` (aliases), and which name supplied it."""
        for name in names:
            value = self._environ.get(name, "").strip()
            if value:
                return value, name
        return None, None

    def parsed(self, name: str, default: T, parse: Callable[[str], T], expected: str) -> T:
        raw, _ = self.text(name)
        if raw is None:
            return default
        try:
            return parse(raw)
        except ValueError:
            self.problems.append(SettingProblem(name, f"must be {expected}; using the default"))
            return default

    def integer(self, name: str, default: int, lo: int, hi: int) -> int:
        def parse(raw: str) -> int:
            value = int(raw)
            if not lo <= value <= hi:
                raise ValueError(raw)
            return value

        return self.parsed(name, default, parse, f"an integer from {lo} to {hi}")

    def languages(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        def parse(raw: str) -> tuple[str, ...]:
            codes = tuple(code.strip() for code in raw.split(",") if code.strip())
            if not codes or not all(_LANGUAGE_CODE.fullmatch(code) for code in codes):
                raise ValueError(raw)
            return codes

        return self.parsed(name, default, parse, "a comma-separated list of language codes")

    def boolean(self, name: str, default: bool) -> bool:
        def parse(raw: str) -> bool:
            if raw.lower() in _TRUE:
                return True
            if raw.lower() in _FALSE:
                return False
            raise ValueError(raw)

        return self.parsed(name, default, parse, "true or false")


def normalize_database_url(raw: str) -> str:
    """Turn any common Postgres connection string into a SQLAlchemy psycopg 3 URL.

    Accepts `postgresql://`, `postgres://`, `postgresql+psycopg2://`, `postgresql+psycopg://`
    URLs and libpq key/value strings (`host=... dbname=... user=... password=... sslmode=require`,
    the form the Azure portal shows). Raises ValueError when it is neither.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    raw = raw.strip()
    if "://" not in raw:
        return _url_from_keyword_string(raw).render_as_string(hide_password=False)
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):  # e.g. int() of a "port" that is part of a password
        # Never chain or quote the parser's error: its text can hold pieces of the password.
        raise ValueError("not a connection URL (a password with @ : / must be %-encoded)") from None
    if url.get_backend_name() not in {"postgresql", "postgres"}:
        raise ValueError("not a PostgreSQL URL")
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def _url_from_keyword_string(raw: str) -> URL:
    from psycopg.conninfo import conninfo_to_dict  # psycopg parses libpq syntax exactly
    from sqlalchemy.engine import URL

    try:
        params = {k: str(v) for k, v in conninfo_to_dict(raw).items() if v is not None}
    except Exception as exc:  # psycopg raises ProgrammingError on bad syntax
        raise ValueError("not a libpq connection string") from exc
    if not params:
        raise ValueError("empty connection string")
    port = params.pop("port", None)
    return URL.create(
        "postgresql+psycopg",
        username=params.pop("user", None),
        password=params.pop("password", None),
        host=params.pop("host", None),
        port=int(port) if port else None,
        database=params.pop("dbname", None),
        query=params,
    )


_PROVIDERS: Final = ("offline", "openai", "azure_openai")


def _explicit_provider(reader: _Reader, name: str) -> str | None:
    """The provider setting `name` names, or None (unset, or invalid: reported by name)."""
    explicit, _ = reader.text(name)
    if explicit is None:
        return None
    if explicit.lower() in _PROVIDERS:
        return explicit.lower()
    reader.problems.append(SettingProblem(name, "must be offline, openai or azure_openai"))
    return None


def _infer_provider(reader: _Reader) -> LlmProvider:
    explicit = _explicit_provider(reader, "LLM_PROVIDER")
    if explicit is not None:
        return explicit  # type: ignore[return-value]
    if reader.text("AZURE_OPENAI_ENDPOINT")[0]:
        return "azure_openai"
    if reader.text(*OPENAI_KEY_SETTINGS)[0] or reader.text("OPENAI_BASE_URL")[0]:
        return "openai"
    return "offline"


def _infer_embedding_provider(reader: _Reader) -> EmbeddingProvider:
    explicit = _explicit_provider(reader, "EMBEDDING_PROVIDER")
    if explicit is not None:
        return explicit  # type: ignore[return-value]
    if (
        reader.text("AZURE_OPENAI_ENDPOINT")[0]
        and reader.text("AZURE_OPENAI_EMBEDDING_DEPLOYMENT")[0]
    ):
        return "azure_openai"
    servers = ("EMBEDDING_BASE_URL", "OPENAI_BASE_URL", "EMBEDDING_API_KEY", *OPENAI_KEY_SETTINGS)
    if reader.text(*servers)[0]:
        return "openai"
    return "offline"


def _embedding_dimensions(reader: _Reader, provider: EmbeddingProvider, model: str) -> int | None:
    """EMBEDDING_DIMENSIONS, else the provider's width: 256 offline, 1536 for a model that takes
    a width (text-embedding-3-*), None (the model's own) for any other."""
    name = "EMBEDDING_DIMENSIONS"
    explicit = reader.integer(name, 0, 1, MAX_EMBEDDING_DIMENSIONS) or None
    if provider == "offline":
        if explicit is not None and explicit not in OFFLINE_EMBEDDING_WIDTHS:
            widths = ", ".join(map(str, OFFLINE_EMBEDDING_WIDTHS))
            reader.problems.append(
                SettingProblem(
                    name, f"the offline embedder makes {widths} dimensions; using the default"
                )
            )
            explicit = None
        return explicit or OFFLINE_EMBEDDING_DIMENSIONS
    if explicit is None and accepts_dimensions(model):
        return DEFAULT_OPENAI_EMBEDDING_DIMENSIONS
    return explicit


def _problem_once(reader: _Reader, name: str, message: str) -> None:
    if all(problem.name != name for problem in reader.problems):
        reader.problems.append(SettingProblem(name, message))


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every setting from `environ` (default: the process environment). Never raises."""
    reader = _Reader(os.environ if environ is None else environ)

    database_url, database_setting = reader.text(*DATABASE_URL_SETTINGS)
    if database_url is not None:
        try:
            database_url = normalize_database_url(database_url)
        except ValueError as exc:
            reader.problems.append(SettingProblem(str(database_setting), f"invalid: {exc}"))
            database_url = None
    else:
        reader.problems.append(
            SettingProblem(
                DATABASE_URL_SETTINGS[0],
                "not set: the app needs a PostgreSQL database with the vector extension",
            )
        )

    provider = _infer_provider(reader)
    openai_key, _ = reader.text(*OPENAI_KEY_SETTINGS)
    azure_endpoint, _ = reader.text("AZURE_OPENAI_ENDPOINT")
    if provider == "openai" and not (openai_key or reader.text("OPENAI_BASE_URL")[0]):
        reader.problems.append(
            SettingProblem("OPENAI_API_KEY", "required when LLM_PROVIDER=openai")
        )
    if provider == "azure_openai" and not azure_endpoint:
        reader.problems.append(
            SettingProblem("AZURE_OPENAI_ENDPOINT", "required when LLM_PROVIDER=azure_openai")
        )

    embedding_provider = _infer_embedding_provider(reader)
    openai_base_url, _ = reader.text("OPENAI_BASE_URL")
    embedding_base_url, _ = reader.text("EMBEDDING_BASE_URL")
    embedding_api_key, _ = reader.text("EMBEDDING_API_KEY")
    if embedding_base_url is None:
        # The chat server's URL, and its key with it; a key is never sent to a server named
        # only by EMBEDDING_BASE_URL unless EMBEDDING_API_KEY says so.
        embedding_base_url = openai_base_url
        embedding_api_key = embedding_api_key or openai_key
    if embedding_provider == "openai" and not (embedding_api_key or embedding_base_url):
        _problem_once(
            reader,
            "EMBEDDING_API_KEY",
            "required when EMBEDDING_PROVIDER=openai without a base URL "
            "(OPENAI_API_KEY is used when it is not set)",
        )
    if embedding_provider == "azure_openai" and not azure_endpoint:
        _problem_once(
            reader, "AZURE_OPENAI_ENDPOINT", "required when EMBEDDING_PROVIDER=azure_openai"
        )
    embedding_model = reader.text("EMBEDDING_MODEL")[0] or Settings.embedding_model

    schedule, _ = reader.text("SESSION_CLEANUP_SCHEDULE")
    if schedule is not None and len(schedule.split()) != 6:
        reader.problems.append(
            SettingProblem(
                "SESSION_CLEANUP_SCHEDULE",
                "must be an NCRONTAB expression with six fields (second minute hour day month dow)",
            )
        )

    dimensions = _embedding_dimensions(reader, embedding_provider, embedding_model)

    defaults = Settings()
    return Settings(
        database_url=database_url,
        database_url_setting=database_setting,
        session_expire_minutes=reader.integer("SESSION_EXPIRE_MINUTES", 15, 1, 7 * 24 * 60),
        session_max_hours=reader.integer("SESSION_MAX_HOURS", 24, 1, 30 * 24),
        session_cleanup_schedule=schedule or defaults.session_cleanup_schedule,
        session_cleanup_run_on_startup=reader.boolean("SESSION_CLEANUP_RUN_ON_STARTUP", False),
        session_cleanup_batch_size=reader.integer("SESSION_CLEANUP_BATCH_SIZE", 500, 1, 100_000),
        langchain_chat_message_table_name=reader.text("LANGCHAIN_CHAT_MESSAGE_TABLE_NAME")[0]
        or defaults.langchain_chat_message_table_name,
        max_request_bytes=reader.integer("MAX_REQUEST_BYTES", 2 * 1024 * 1024, 1024, 100 * 1024**2),
        llm_provider=provider,
        openai_api_key=openai_key,
        openai_base_url=openai_base_url,
        chat_model=reader.text("CHAT_MODEL")[0] or defaults.chat_model,
        embedding_provider=embedding_provider,
        embedding_base_url=embedding_base_url,
        embedding_api_key=embedding_api_key,
        embedding_model=embedding_model,
        embedding_dimensions=dimensions,
        azure_openai_endpoint=azure_endpoint,
        azure_openai_api_key=reader.text("AZURE_OPENAI_API_KEY")[0],
        azure_openai_api_version=reader.text("AZURE_OPENAI_API_VERSION")[0]
        or defaults.azure_openai_api_version,
        azure_openai_chat_deployment=reader.text("AZURE_OPENAI_CHAT_DEPLOYMENT")[0],
        azure_openai_embedding_deployment=reader.text("AZURE_OPENAI_EMBEDDING_DEPLOYMENT")[0],
        embedding_batch_size=reader.integer("EMBEDDING_BATCH_SIZE", 256, 1, 2048),
        youtube_languages=reader.languages("YOUTUBE_LANGUAGES", defaults.youtube_languages),
        youtube_proxy_http_url=reader.text("YOUTUBE_PROXY_HTTP_URL")[0],
        youtube_proxy_https_url=reader.text("YOUTUBE_PROXY_HTTPS_URL")[0],
        webshare_proxy_username=reader.text("WEBSHARE_PROXY_USERNAME")[0],
        webshare_proxy_password=reader.text("WEBSHARE_PROXY_PASSWORD")[0],
        max_videos_per_request=reader.integer("MAX_VIDEOS_PER_REQUEST", 10, 1, 100),
        max_videos_per_session=reader.integer("MAX_VIDEOS_PER_SESSION", 25, 1, 1000),
        max_transcript_chars=reader.integer("MAX_TRANSCRIPT_CHARS", 1_000_000, 1000, 20_000_000),
        ingest_concurrency=reader.integer("INGEST_CONCURRENCY", 4, 1, 32),
        max_message_chars=reader.integer("MAX_MESSAGE_CHARS", 2000, 1, 100_000),
        chat_rate_limit_per_minute=reader.integer("CHAT_RATE_LIMIT_PER_MINUTE", 10, 0, 10_000),
        client_chat_rate_limit_per_minute=reader.integer(
            "CLIENT_CHAT_RATE_LIMIT_PER_MINUTE", 30, 0, 100_000
        ),
        client_session_rate_limit_per_minute=reader.integer(
            "CLIENT_SESSION_RATE_LIMIT_PER_MINUTE", 10, 0, 100_000
        ),
        llm_daily_token_budget=reader.integer("LLM_DAILY_TOKEN_BUDGET", 2_000_000, 0, 10**12),
        trusted_proxy_hops=reader.integer("TRUSTED_PROXY_HOPS", 1, 1, 10),
        max_chunks_per_transcript=reader.integer("MAX_CHUNKS_PER_TRANSCRIPT", 2000, 10, 100_000),
        max_chunks_per_session=reader.integer("MAX_CHUNKS_PER_SESSION", 10_000, 10, 1_000_000),
        max_captions_per_upload=reader.integer("MAX_CAPTIONS_PER_UPLOAD", 50_000, 10, 1_000_000),
        client_passages_per_hour=reader.integer("CLIENT_PASSAGES_PER_HOUR", 20_000, 0, 10**8),
        retrieval_k=reader.integer("RETRIEVAL_K", 6, 1, 50),
        history_token_budget=reader.integer("HISTORY_TOKEN_BUDGET", 1500, 0, 100_000),
        whole_video_token_budget=reader.integer(
            "WHOLE_VIDEO_TOKEN_BUDGET", 60_000, 1000, 1_000_000
        ),
        whole_video_max_note_calls=reader.integer("WHOLE_VIDEO_MAX_NOTE_CALLS", 8, 1, 100),
        not_found_threshold=reader.integer("NOT_FOUND_THRESHOLD", 29, 0, 100),
        model_not_found_threshold=reader.integer("MODEL_NOT_FOUND_THRESHOLD", 15, 0, 100),
        llm_timeout_seconds=reader.integer("LLM_TIMEOUT_SECONDS", 30, 1, 600),
        applicationinsights_connection_string=reader.text("APPLICATIONINSIGHTS_CONNECTION_STRING")[
            0
        ],
        problems=tuple(reader.problems),
    )


def run_on_startup_from_environment() -> bool:
    """`SESSION_CLEANUP_RUN_ON_STARTUP` for the timer decorator, read when functions are indexed.

    The Functions host takes `runOnStartup` as a literal, not a binding expression, so it is read
    at indexing time; an invalid value means false (and is reported by /api/health).
    """
    return _Reader(os.environ).boolean("SESSION_CLEANUP_RUN_ON_STARTUP", False)
