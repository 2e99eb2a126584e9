"""The one place that reads the environment.

Every setting is declared once, as a field of `Settings`: its name (and the older names it also
answers to), default, bounds and whether it is secret. `load_settings()` reads them all in one
loop, then derives what depends on several of them (the providers, the embedding server, the
vector width). It never raises: a malformed value falls back to its default and is recorded as a
`SettingProblem` (name and reason, never the value), so that importing the function app always
succeeds and `/api/health` can report what is wrong.

The limits that the domain also enforces (`MAX_TRANSCRIPT_CHARS`, `MAX_CAPTIONS_PER_UPLOAD`)
take their defaults from the domain's constants, so each is written once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Final, Literal

from services.video_rag.domain.captions import MAX_CAPTIONS, MAX_TRANSCRIPT_CHARS

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

LlmProvider = Literal["openai", "azure_openai", "offline"]
EmbeddingProvider = Literal["offline", "openai", "azure_openai"]

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

# A setting's name, then the older names it also answers to: the first non-blank value wins.
DATABASE_URL_SETTINGS = ("PG_VECTOR_CONNECTION_STRING", "PG_CONNECTION_STRING")
OPENAI_KEY_SETTINGS = ("OPENAI_API_KEY", "OPENAI_KEY")

_PROVIDERS: Final = ("offline", "openai", "azure_openai")
_LANGUAGE_CODE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def accepts_dimensions(model: str) -> bool:
    """Whether an embedding model takes the `dimensions` parameter (OpenAI's text-embedding-3-*);
    other models answer with their own width."""
    return model.startswith("text-embedding-3")


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


@dataclass(frozen=True)
class SettingProblem:
    """A setting that is missing or invalid. Carries the name and the reason, never the value."""

    name: str
    message: str


@dataclass(frozen=True)
class Declared:
    """How one field of `Settings` is read from the environment."""

    names: tuple[str, ...]  # the setting, then its aliases
    parse: Callable[[str], object]  # raises ValueError on an invalid value
    problem: str | None  # the reason given for an invalid value (None: the ValueError's text)
    bounds: tuple[int, int] | None = None
    missing: str | None = None  # the reason given when it is not set (None: optional)
    inferred: bool = False  # its default depends on other settings (no fixed default)


def _declare(default: object, spec: Declared, *, secret: bool = False) -> Any:
    return field(default=default, repr=not secret, metadata={"setting": spec})


def _integer(name: str, default: int | None, lo: int, hi: int, *, inferred: bool = False) -> Any:
    def parse(raw: str) -> int:
        value = int(raw)
        if not lo <= value <= hi:
            raise ValueError(raw)
        return value

    problem = f"must be an integer from {lo} to {hi}; using the default"
    return _declare(default, Declared((name,), parse, problem, (lo, hi), inferred=inferred))


def _text(
    *names: str,
    default: str | None = None,
    secret: bool = False,
    check: Callable[[str], bool] | None = None,
    expected: str = "",
) -> Any:
    def parse(raw: str) -> str:
        if check is not None and not check(raw):
            raise ValueError(raw)
        return raw

    problem = f"must be {expected}; using the default" if check else None
    return _declare(default, Declared(names, parse, problem), secret=secret)


def _flag(name: str, default: bool) -> Any:
    def parse(raw: str) -> bool:
        if raw.lower() not in _TRUE | _FALSE:
            raise ValueError(raw)
        return raw.lower() in _TRUE

    return _declare(default, Declared((name,), parse, "must be true or false; using the default"))


def _languages(name: str, default: tuple[str, ...]) -> Any:
    def parse(raw: str) -> tuple[str, ...]:
        codes = tuple(code.strip() for code in raw.split(",") if code.strip())
        if not codes or not all(_LANGUAGE_CODE.fullmatch(code) for code in codes):
            raise ValueError(raw)
        return codes

    problem = "must be a comma-separated list of language codes; using the default"
    return _declare(default, Declared((name,), parse, problem))


def _provider(name: str) -> Any:
    def parse(raw: str) -> str:
        if raw.lower() not in _PROVIDERS:
            raise ValueError(raw)
        return raw.lower()

    problem = "must be offline, openai or azure_openai; inferring it from the other settings"
    return _declare("offline", Declared((name,), parse, problem, inferred=True))


def _derived(default: object = None) -> Any:
    """A field computed from other settings, not read under a name of its own."""
    return field(default=default)


@dataclass(frozen=True)
class Settings:
    """Typed view of the app settings: each field declares its setting's name, default and
    bounds (the README's settings table documents them; a test keeps the two in step)."""

    database_url: str | None = _declare(
        None,
        Declared(
            DATABASE_URL_SETTINGS,
            normalize_database_url,
            None,
            missing="not set: the app needs a PostgreSQL database with the vector extension",
        ),
    )
    database_url_setting: str | None = _derived()  # which of DATABASE_URL_SETTINGS gave it
    session_expire_minutes: int = _integer("SESSION_EXPIRE_MINUTES", 15, 1, 7 * 24 * 60)
    session_max_hours: int = _integer("SESSION_MAX_HOURS", 24, 1, 30 * 24)
    # Resolved by the Functions host (%SESSION_CLEANUP_SCHEDULE%); checked and logged here.
    session_cleanup_schedule: str = _text(
        "SESSION_CLEANUP_SCHEDULE",
        default="0 0 0 * * *",
        check=lambda raw: len(raw.split()) == 6,
        expected="an NCRONTAB expression with six fields (second minute hour day month dow)",
    )
    # Read when functions are indexed (run_on_startup_from_environment); checked and logged here.
    session_cleanup_run_on_startup: bool = _flag("SESSION_CLEANUP_RUN_ON_STARTUP", False)
    session_cleanup_batch_size: int = _integer("SESSION_CLEANUP_BATCH_SIZE", 500, 1, 100_000)
    langchain_chat_message_table_name: str = _text(
        "LANGCHAIN_CHAT_MESSAGE_TABLE_NAME", default="langchain_chat_message"
    )
    max_request_bytes: int = _integer("MAX_REQUEST_BYTES", 2 * 1024**2, 1024, 100 * 1024**2)
    llm_provider: LlmProvider = _provider("LLM_PROVIDER")  # noqa: RUF009
    openai_api_key: str | None = _text(*OPENAI_KEY_SETTINGS, secret=True)
    openai_base_url: str | None = _text("OPENAI_BASE_URL")
    chat_model: str = _text("CHAT_MODEL", default="gpt-4o-mini")
    embedding_provider: EmbeddingProvider = _provider("EMBEDDING_PROVIDER")  # noqa: RUF009
    embedding_base_url: str | None = _text("EMBEDDING_BASE_URL")
    embedding_api_key: str | None = _text("EMBEDDING_API_KEY", secret=True)
    embedding_model: str = _text("EMBEDDING_MODEL", default="text-embedding-3-small")
    # The width of the vectors: None when the model answers with its own, learned at first use.
    embedding_dimensions: int | None = _integer(
        "EMBEDDING_DIMENSIONS",
        OFFLINE_EMBEDDING_DIMENSIONS,
        1,
        MAX_EMBEDDING_DIMENSIONS,
        inferred=True,
    )
    azure_openai_endpoint: str | None = _text("AZURE_OPENAI_ENDPOINT")
    azure_openai_api_key: str | None = _text("AZURE_OPENAI_API_KEY", secret=True)
    azure_openai_api_version: str = _text("AZURE_OPENAI_API_VERSION", default="2024-10-21")
    azure_openai_chat_deployment: str | None = _text("AZURE_OPENAI_CHAT_DEPLOYMENT")
    azure_openai_embedding_deployment: str | None = _text("AZURE_OPENAI_EMBEDDING_DEPLOYMENT")
    embedding_batch_size: int = _integer("EMBEDDING_BATCH_SIZE", 256, 1, 2048)
    youtube_languages: tuple[str, ...] = _languages("YOUTUBE_LANGUAGES", ("en",))
    youtube_proxy_http_url: str | None = _text("YOUTUBE_PROXY_HTTP_URL", secret=True)
    youtube_proxy_https_url: str | None = _text("YOUTUBE_PROXY_HTTPS_URL", secret=True)
    webshare_proxy_username: str | None = _text("WEBSHARE_PROXY_USERNAME", secret=True)
    webshare_proxy_password: str | None = _text("WEBSHARE_PROXY_PASSWORD", secret=True)
    max_videos_per_request: int = _integer("MAX_VIDEOS_PER_REQUEST", 10, 1, 100)
    max_videos_per_session: int = _integer("MAX_VIDEOS_PER_SESSION", 25, 1, 1000)
    max_transcript_chars: int = _integer(
        "MAX_TRANSCRIPT_CHARS", MAX_TRANSCRIPT_CHARS, 1000, 20_000_000
    )
    # At most the connection pool (db.engine: 5 + 5 overflow).
    ingest_concurrency: int = _integer("INGEST_CONCURRENCY", 4, 1, 10)
    max_message_chars: int = _integer("MAX_MESSAGE_CHARS", 2000, 1, 100_000)
    chat_rate_limit_per_minute: int = _integer("CHAT_RATE_LIMIT_PER_MINUTE", 10, 0, 10_000)
    client_chat_rate_limit_per_minute: int = _integer(
        "CLIENT_CHAT_RATE_LIMIT_PER_MINUTE", 30, 0, 100_000
    )
    client_session_rate_limit_per_minute: int = _integer(
        "CLIENT_SESSION_RATE_LIMIT_PER_MINUTE", 10, 0, 100_000
    )
    llm_daily_token_budget: int = _integer("LLM_DAILY_TOKEN_BUDGET", 2_000_000, 0, 10**12)
    trusted_proxy_hops: int = _integer("TRUSTED_PROXY_HOPS", 1, 1, 10)
    max_chunks_per_transcript: int = _integer("MAX_CHUNKS_PER_TRANSCRIPT", 2000, 10, 100_000)
    max_chunks_per_session: int = _integer("MAX_CHUNKS_PER_SESSION", 10_000, 10, 1_000_000)
    max_captions_per_upload: int = _integer("MAX_CAPTIONS_PER_UPLOAD", MAX_CAPTIONS, 10, 1_000_000)
    client_passages_per_hour: int = _integer("CLIENT_PASSAGES_PER_HOUR", 20_000, 0, 10**8)
    retrieval_k: int = _integer("RETRIEVAL_K", 6, 1, 50)
    history_token_budget: int = _integer("HISTORY_TOKEN_BUDGET", 1500, 0, 100_000)
    whole_video_token_budget: int = _integer("WHOLE_VIDEO_TOKEN_BUDGET", 60_000, 1000, 1_000_000)
    whole_video_max_note_calls: int = _integer("WHOLE_VIDEO_MAX_NOTE_CALLS", 8, 1, 100)
    not_found_threshold: int = _integer("NOT_FOUND_THRESHOLD", 29, 0, 100)
    model_not_found_threshold: int = _integer("MODEL_NOT_FOUND_THRESHOLD", 15, 0, 100)
    llm_timeout_seconds: int = _integer("LLM_TIMEOUT_SECONDS", 30, 1, 600)
    applicationinsights_connection_string: str | None = _text(
        "APPLICATIONINSIGHTS_CONNECTION_STRING", secret=True
    )
    problems: tuple[SettingProblem, ...] = _derived(())

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


# Field name -> how it is read, in declaration order (the order problems are reported in).
DECLARED: Final[Mapping[str, Declared]] = {
    f.name: f.metadata["setting"] for f in fields(Settings) if "setting" in f.metadata
}
# Every app setting's name and alias (what a clean environment for a test host leaves out).
SETTING_NAMES: Final = frozenset(name for spec in DECLARED.values() for name in spec.names)


def setting_default(name: str) -> str | None:
    """The documented default of a setting, as the text of an app setting (`15`, `false`,
    `en`), or None when it has none: unset, inferred from other settings, or not a setting."""
    for field_ in fields(Settings):
        spec = DECLARED.get(field_.name)
        if spec is None or spec.inferred or name != spec.names[0]:
            continue
        default = field_.default
        if isinstance(default, bool):
            return str(default).lower()
        if isinstance(default, tuple):
            return ",".join(default)
        return None if default is None else str(default)
    return None


class _Reader:
    """Reads declared settings from an environment mapping, collecting problems (at most one per
    name) instead of raising."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.problems: list[SettingProblem] = []

    def problem(self, name: str, message: str) -> None:
        if all(problem.name != name for problem in self.problems):
            self.problems.append(SettingProblem(name, message))

    def read(self, spec: Declared) -> tuple[object, str] | None:
        """The parsed value of the first non-blank name, and that name; None when none is set
        or the value is invalid (a problem, reported under the name that supplied it)."""
        for name in spec.names:
            raw = self._environ.get(name, "").strip()
            if raw:
                try:
                    return spec.parse(raw), name
                except ValueError as exc:
                    self.problem(name, spec.problem or f"invalid: {exc}")
                    return None
        if spec.missing is not None:
            self.problem(spec.names[0], spec.missing)
        return None


def _providers(given: dict[str, Any], reader: _Reader) -> None:
    """The chat and embedding providers, where not set, from what is configured; the embedding
    server and key, where not set, from the chat ones; and what each provider requires."""
    key, base_url = given.get("openai_api_key"), given.get("openai_base_url")
    endpoint = given.get("azure_openai_endpoint")
    if "llm_provider" not in given:
        given["llm_provider"] = (
            "azure_openai" if endpoint else "openai" if key or base_url else "offline"
        )
    if given["llm_provider"] == "openai" and not (key or base_url):
        reader.problem(OPENAI_KEY_SETTINGS[0], "required when LLM_PROVIDER=openai")
    if given["llm_provider"] == "azure_openai" and not endpoint:
        reader.problem("AZURE_OPENAI_ENDPOINT", "required when LLM_PROVIDER=azure_openai")

    embedding_url, embedding_key = given.get("embedding_base_url"), given.get("embedding_api_key")
    if "embedding_provider" not in given:
        if endpoint and given.get("azure_openai_embedding_deployment"):
            given["embedding_provider"] = "azure_openai"
        elif embedding_url or base_url or embedding_key or key:
            given["embedding_provider"] = "openai"
    if embedding_url is None:
        # The chat server's URL, and its key with it; a key is never sent to a server named
        # only by EMBEDDING_BASE_URL unless EMBEDDING_API_KEY says so.
        embedding_url, embedding_key = base_url, embedding_key or key
        given["embedding_base_url"], given["embedding_api_key"] = embedding_url, embedding_key
    provider = given.get("embedding_provider", Settings.embedding_provider)
    if provider == "openai" and not (embedding_key or embedding_url):
        reader.problem(
            "EMBEDDING_API_KEY",
            "required when EMBEDDING_PROVIDER=openai without a base URL "
            "(OPENAI_API_KEY is used when it is not set)",
        )
    if provider == "azure_openai" and not endpoint:
        reader.problem("AZURE_OPENAI_ENDPOINT", "required when EMBEDDING_PROVIDER=azure_openai")


def _embedding_dimensions(given: dict[str, Any], reader: _Reader) -> int | None:
    """EMBEDDING_DIMENSIONS, else the provider's width: 256 offline, 1536 for a model that takes
    a width (text-embedding-3-*), None (the model's own) for any other."""
    explicit: int | None = given.get("embedding_dimensions")
    if given.get("embedding_provider", Settings.embedding_provider) == "offline":
        if explicit is not None and explicit not in OFFLINE_EMBEDDING_WIDTHS:
            widths = ", ".join(map(str, OFFLINE_EMBEDDING_WIDTHS))
            reader.problem(
                "EMBEDDING_DIMENSIONS",
                f"the offline embedder makes {widths} dimensions; using the default",
            )
            explicit = None
        return explicit or OFFLINE_EMBEDDING_DIMENSIONS
    model = given.get("embedding_model", Settings.embedding_model)
    if explicit is None and accepts_dimensions(model):
        return DEFAULT_OPENAI_EMBEDDING_DIMENSIONS
    return explicit


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every setting from `environ` (default: the process environment). Never raises."""
    reader = _Reader(os.environ if environ is None else environ)
    given: dict[str, Any] = {}
    for name, spec in DECLARED.items():
        found = reader.read(spec)
        if found is not None:
            given[name] = found[0]
            if name == "database_url":
                given["database_url_setting"] = found[1]
    _providers(given, reader)
    given["embedding_dimensions"] = _embedding_dimensions(given, reader)
    return Settings(**given, problems=tuple(reader.problems))


def run_on_startup_from_environment() -> bool:
    """`SESSION_CLEANUP_RUN_ON_STARTUP` for the timer decorator, read when functions are indexed.

    The Functions host takes `runOnStartup` as a literal, not a binding expression, so it is read
    at indexing time; an invalid value means the default (and is reported by /api/health).
    """
    found = _Reader(os.environ).read(DECLARED["session_cleanup_run_on_startup"])
    return Settings.session_cleanup_run_on_startup if found is None else found[0] is True
