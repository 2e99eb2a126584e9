import re

import pytest

from services.video_rag.domain.captions import MAX_CAPTIONS, MAX_TRANSCRIPT_CHARS
from services.video_rag.settings import (
    DATABASE_URL_SETTINGS,
    DECLARED,
    OPENAI_KEY_SETTINGS,
    Settings,
    load_settings,
    normalize_database_url,
    run_on_startup_from_environment,
    setting_default,
)


def test_defaults_with_an_empty_environment() -> None:
    settings = load_settings({})
    assert settings.database_url is None
    assert settings.session_expire_minutes == 15
    assert settings.session_cleanup_schedule == "0 0 0 * * *"
    assert settings.session_cleanup_run_on_startup is False
    assert settings.llm_provider == "offline"
    assert settings.chat_model_label == "offline-extractive"
    assert settings.langchain_chat_message_table_name == "langchain_chat_message"
    assert [p.name for p in settings.problems] == ["PG_VECTOR_CONNECTION_STRING"]


def test_original_names_are_accepted() -> None:
    settings = load_settings(
        {
            "PG_CONNECTION_STRING": "postgresql://u:p@db.example:5432/app",
            "OPENAI_KEY": "sk-test",
            "SESSION_EXPIRE_MINUTES": "30",
            "LANGCHAIN_CHAT_MESSAGE_TABLE_NAME": "old_history",
        }
    )
    assert settings.database_url == "postgresql+psycopg://u:p@db.example:5432/app"
    assert settings.database_url_setting == "PG_CONNECTION_STRING"
    assert settings.openai_api_key == "sk-test"
    assert settings.llm_provider == "openai"
    assert settings.session_expire_minutes == 30
    assert settings.langchain_chat_message_table_name == "old_history"
    assert settings.problems == ()


def test_pg_vector_connection_string_wins_over_pg_connection_string() -> None:
    settings = load_settings(
        {
            "PG_VECTOR_CONNECTION_STRING": "postgresql+psycopg://a@h1/db1",
            "PG_CONNECTION_STRING": "postgresql://b@h2/db2",
        }
    )
    assert settings.database_url == "postgresql+psycopg://a@h1/db1"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql+psycopg2://u:p@h:6432/db", "postgresql+psycopg://u:p@h:6432/db"),
        (
            "postgresql://u@/postgres?host=/tmp/sock",
            "postgresql+psycopg://u@/postgres?host=%2Ftmp%2Fsock",
        ),
        (
            "host=srv.postgres.database.azure.com port=5432 dbname=app user=admin "
            "password=s3cret sslmode=require",
            "postgresql+psycopg://admin:s3cret@srv.postgres.database.azure.com:5432/app"
            "?sslmode=require",
        ),
    ],
)
def test_connection_strings_are_normalized(raw: str, expected: str) -> None:
    assert normalize_database_url(raw) == expected


@pytest.mark.parametrize("raw", ["mysql://u@h/db", "not a url at all", "host='unclosed"])
def test_bad_connection_strings_are_problems_not_exceptions(raw: str) -> None:
    settings = load_settings({"PG_VECTOR_CONNECTION_STRING": raw})
    assert settings.database_url is None
    (problem,) = settings.problems
    assert problem.name == "PG_VECTOR_CONNECTION_STRING"
    assert raw not in problem.message


def test_invalid_values_fall_back_and_are_reported_by_name_only() -> None:
    settings = load_settings(
        {
            "PG_VECTOR_CONNECTION_STRING": "postgresql://h/db",
            "SESSION_EXPIRE_MINUTES": "soon",
            "SESSION_CLEANUP_RUN_ON_STARTUP": "maybe",
            "SESSION_CLEANUP_SCHEDULE": "0 0 * * *",
            "LLM_PROVIDER": "anthropic",
            "EMBEDDING_DIMENSIONS": "768",
        }
    )
    assert settings.session_expire_minutes == 15
    assert settings.session_cleanup_run_on_startup is False
    names = {p.name for p in settings.problems}
    assert names == {
        "SESSION_EXPIRE_MINUTES",
        "SESSION_CLEANUP_RUN_ON_STARTUP",
        "SESSION_CLEANUP_SCHEDULE",
        "LLM_PROVIDER",
        "EMBEDDING_DIMENSIONS",
    }
    for problem in settings.problems:
        assert "soon" not in problem.message
        assert "maybe" not in problem.message


def test_provider_is_inferred_from_what_is_configured() -> None:
    assert load_settings({"OPENAI_API_KEY": "k"}).llm_provider == "openai"
    assert load_settings({"OPENAI_BASE_URL": "http://127.0.0.1:11434/v1"}).llm_provider == "openai"
    azure = load_settings(
        {
            "AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com",
            "AZURE_OPENAI_CHAT_DEPLOYMENT": "chat",
        }
    )
    assert azure.llm_provider == "azure_openai"
    assert azure.chat_model_label == "chat"
    assert load_settings({"LLM_PROVIDER": "OFFLINE", "OPENAI_API_KEY": "k"}).llm_provider == (
        "offline"
    )
    explicit = load_settings({"LLM_PROVIDER": "azure_openai"})
    assert "AZURE_OPENAI_ENDPOINT" in {p.name for p in explicit.problems}


def test_secrets_are_not_in_repr() -> None:
    settings = load_settings({"OPENAI_API_KEY": "sk-very-secret", "AZURE_OPENAI_API_KEY": "az-key"})
    assert "sk-very-secret" not in repr(settings)
    assert "az-key" not in repr(settings)


def test_host_resolved_settings_have_documented_defaults() -> None:
    assert setting_default("SESSION_CLEANUP_SCHEDULE") == "0 0 0 * * *"
    assert setting_default("NOT_A_SETTING") is None


def test_ingestion_settings() -> None:
    settings = load_settings(
        {
            "YOUTUBE_LANGUAGES": "de, en-GB",
            "YOUTUBE_PROXY_HTTP_URL": "http://user:pw@proxy.example:8080",
            "WEBSHARE_PROXY_PASSWORD": "ws-secret",
            "MAX_VIDEOS_PER_REQUEST": "3",
            "MAX_VIDEOS_PER_SESSION": "7",
        }
    )
    assert settings.youtube_languages == ("de", "en-GB")
    assert settings.youtube_proxy_http_url == "http://user:pw@proxy.example:8080"
    assert (settings.max_videos_per_request, settings.max_videos_per_session) == (3, 7)
    assert "pw@" not in repr(settings)
    assert "ws-secret" not in repr(settings)
    bad = load_settings({"YOUTUBE_LANGUAGES": "en; DROP TABLE", "MAX_VIDEOS_PER_SESSION": "0"})
    assert bad.youtube_languages == ("en",)
    assert {"YOUTUBE_LANGUAGES", "MAX_VIDEOS_PER_SESSION"} <= {p.name for p in bad.problems}


# --- embeddings -------------------------------------------------------------------------------

LOCAL = "http://127.0.0.1:11434/v1"
AZURE = {"AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com"}


@pytest.mark.parametrize(
    ("environ", "provider"),
    [
        ({}, "offline"),
        ({"OPENAI_API_KEY": "k"}, "openai"),
        ({"OPENAI_KEY": "k"}, "openai"),
        ({"OPENAI_BASE_URL": LOCAL}, "openai"),
        ({"EMBEDDING_BASE_URL": LOCAL}, "openai"),
        ({"EMBEDDING_API_KEY": "k"}, "openai"),
        ({**AZURE, "AZURE_OPENAI_EMBEDDING_DEPLOYMENT": "embed"}, "azure_openai"),
        # Azure for chat only: no embedding deployment, so not Azure embeddings.
        ({**AZURE, "AZURE_OPENAI_CHAT_DEPLOYMENT": "chat"}, "offline"),
        ({**AZURE, "OPENAI_API_KEY": "k"}, "openai"),
        (
            {**AZURE, "AZURE_OPENAI_EMBEDDING_DEPLOYMENT": "e", "OPENAI_API_KEY": "k"},
            "azure_openai",
        ),
        ({"EMBEDDING_PROVIDER": "offline", "OPENAI_BASE_URL": LOCAL}, "offline"),
        ({"EMBEDDING_PROVIDER": " OpenAI ", "EMBEDDING_BASE_URL": LOCAL}, "openai"),
        ({"LLM_PROVIDER": "offline", "OPENAI_API_KEY": "k"}, "openai"),  # each decides alone
        ({"EMBEDDING_PROVIDER": "", "OPENAI_API_KEY": "k"}, "openai"),  # blank is unset
    ],
)
def test_embedding_provider_is_inferred_from_what_is_configured(
    environ: dict[str, str], provider: str
) -> None:
    settings = load_settings(environ)
    assert settings.embedding_provider == provider
    assert not {p.name for p in settings.problems} - {"PG_VECTOR_CONNECTION_STRING"}


def test_a_local_chat_model_pairs_with_either_embedder() -> None:
    offline = load_settings(
        {"LLM_PROVIDER": "openai", "OPENAI_BASE_URL": LOCAL, "EMBEDDING_PROVIDER": "offline"}
    )
    assert (offline.llm_provider, offline.embedding_provider) == ("openai", "offline")
    assert offline.embedding_model_label == "wordllama-l2-supercat@256"
    assert offline.embedding_dimensions == 256
    local = load_settings({"OPENAI_BASE_URL": LOCAL, "EMBEDDING_MODEL": "nomic-embed-text"})
    assert (local.llm_provider, local.embedding_provider) == ("openai", "openai")
    assert local.embedding_base_url == LOCAL
    assert local.embedding_model_label == "nomic-embed-text"
    assert local.embedding_dimensions is None  # whatever the server answers with


def test_the_embedding_server_and_key_default_to_the_chat_ones() -> None:
    same = load_settings({"OPENAI_BASE_URL": LOCAL, "OPENAI_API_KEY": "chat-key"})
    assert (same.embedding_base_url, same.embedding_api_key) == (LOCAL, "chat-key")
    own = load_settings(
        {"OPENAI_API_KEY": "chat-key", "EMBEDDING_BASE_URL": "http://127.0.0.1:8080/v1"}
    )
    assert own.openai_base_url is None
    assert own.embedding_base_url == "http://127.0.0.1:8080/v1"
    assert own.embedding_api_key is None  # the chat key never goes to another server unasked
    both = load_settings(
        {
            "OPENAI_API_KEY": "chat-key",
            "EMBEDDING_BASE_URL": "http://127.0.0.1:8080/v1",
            "EMBEDDING_API_KEY": "embed-key",
        }
    )
    assert both.embedding_api_key == "embed-key"
    assert load_settings({"EMBEDDING_API_KEY": "embed-key"}).embedding_base_url is None


@pytest.mark.parametrize(
    ("environ", "dimensions", "label"),
    [
        ({}, 256, "wordllama-l2-supercat@256"),
        ({"EMBEDDING_DIMENSIONS": "128"}, 128, "wordllama-l2-supercat@128"),
        ({"EMBEDDING_DIMENSIONS": "64"}, 64, "wordllama-l2-supercat@64"),
        ({"OPENAI_API_KEY": "k"}, 1536, "text-embedding-3-small"),
        ({"OPENAI_API_KEY": "k", "EMBEDDING_DIMENSIONS": "1536"}, 1536, "text-embedding-3-small"),
        ({"OPENAI_API_KEY": "k", "EMBEDDING_DIMENSIONS": "512"}, 512, "text-embedding-3-small@512"),
        (
            {"OPENAI_API_KEY": "k", "EMBEDDING_MODEL": "text-embedding-3-large"},
            1536,
            "text-embedding-3-large",
        ),
        (
            {"OPENAI_API_KEY": "k", "EMBEDDING_MODEL": "text-embedding-3-large"}
            | {"EMBEDDING_DIMENSIONS": "3072"},
            3072,
            "text-embedding-3-large@3072",
        ),
        (
            {"OPENAI_API_KEY": "k", "EMBEDDING_MODEL": "text-embedding-ada-002"},
            None,
            "text-embedding-ada-002",
        ),
        (
            {"OPENAI_BASE_URL": LOCAL, "EMBEDDING_MODEL": "mxbai-embed-large:335m"}
            | {"EMBEDDING_DIMENSIONS": "1024"},
            1024,
            "mxbai-embed-large:335m",
        ),
        (
            {**AZURE, "AZURE_OPENAI_EMBEDDING_DEPLOYMENT": "embed"},
            1536,
            "embed",
        ),
        (
            {**AZURE, "AZURE_OPENAI_EMBEDDING_DEPLOYMENT": "embed", "EMBEDDING_DIMENSIONS": "256"},
            256,
            "embed@256",
        ),
    ],
)
def test_embedding_widths_and_labels(
    environ: dict[str, str], dimensions: int | None, label: str
) -> None:
    settings = load_settings(environ)
    assert settings.embedding_dimensions == dimensions
    assert settings.embedding_model_label == label
    assert not {p.name for p in settings.problems} - {"PG_VECTOR_CONNECTION_STRING"}


@pytest.mark.parametrize(
    ("environ", "problem", "dimensions"),
    [
        ({"EMBEDDING_DIMENSIONS": "1536"}, "EMBEDDING_DIMENSIONS", 256),  # offline: 64/128/256
        ({"OPENAI_API_KEY": "k", "EMBEDDING_DIMENSIONS": "16001"}, "EMBEDDING_DIMENSIONS", 1536),
        ({"OPENAI_API_KEY": "k", "EMBEDDING_DIMENSIONS": "0"}, "EMBEDDING_DIMENSIONS", 1536),
        ({"OPENAI_API_KEY": "k", "EMBEDDING_DIMENSIONS": "wide"}, "EMBEDDING_DIMENSIONS", 1536),
        ({"EMBEDDING_PROVIDER": "huggingface-secret"}, "EMBEDDING_PROVIDER", 256),
        ({"EMBEDDING_PROVIDER": "openai"}, "EMBEDDING_API_KEY", 1536),
        ({"EMBEDDING_PROVIDER": "azure_openai"}, "AZURE_OPENAI_ENDPOINT", 1536),
    ],
)
def test_embedding_setting_problems_are_reported_by_name_only(
    environ: dict[str, str], problem: str, dimensions: int
) -> None:
    settings = load_settings(environ)
    problems = [p for p in settings.problems if p.name != "PG_VECTOR_CONNECTION_STRING"]
    assert [p.name for p in problems] == [problem]
    for value in ("1536", "16001", "wide", "huggingface-secret"):
        assert value not in problems[0].message
    assert settings.embedding_dimensions == dimensions


def test_an_azure_problem_is_reported_once() -> None:
    settings = load_settings({"LLM_PROVIDER": "azure_openai", "EMBEDDING_PROVIDER": "azure_openai"})
    assert [p.name for p in settings.problems].count("AZURE_OPENAI_ENDPOINT") == 1


def test_the_embedding_key_is_a_secret() -> None:
    from services.video_rag.diagnostics import masked_configuration

    settings = load_settings(
        {"EMBEDDING_API_KEY": "emb-very-secret", "EMBEDDING_BASE_URL": "http://u:pw@h.example/v1"}
    )
    assert "emb-very-secret" not in repr(settings)
    logged = masked_configuration(settings)
    assert logged["embedding_api_key"] == "set"
    assert logged["embedding_base_url"] == "http://***@h.example/v1"
    assert "emb-very-secret" not in str(logged)


# --- the one declaration ----------------------------------------------------------------------

INTEGER_SETTINGS = sorted(
    (spec.names[0], name, spec.bounds) for name, spec in DECLARED.items() if spec.bounds
)
# Settings whose fallback depends on others: a base environment where every bound is valid.
BASES = {"EMBEDDING_DIMENSIONS": {"OPENAI_API_KEY": "k"}}


def test_every_setting_is_declared_once_with_its_names() -> None:
    names = [name for spec in DECLARED.values() for name in spec.names]
    assert len(names) == len(set(names)) >= 45
    assert DECLARED["database_url"].names == DATABASE_URL_SETTINGS
    assert DECLARED["openai_api_key"].names == OPENAI_KEY_SETTINGS
    assert len(INTEGER_SETTINGS) >= 25


@pytest.mark.parametrize(("setting", "field_name", "bounds"), INTEGER_SETTINGS)
def test_each_integer_setting_takes_its_bounds_and_refuses_what_is_beyond(
    setting: str, field_name: str, bounds: tuple[int, int]
) -> None:
    base = BASES.get(setting, {})
    fallback = getattr(load_settings(base), field_name)
    lo, hi = bounds
    for good in (lo, hi):
        settings = load_settings({**base, setting: f" {good} "})
        assert getattr(settings, field_name) == good
        assert setting not in {p.name for p in settings.problems}
    for bad in (str(lo - 1), str(hi + 1), "12abc", "1.5"):
        settings = load_settings({**base, setting: bad})
        assert getattr(settings, field_name) == fallback, bad
        (problem,) = [p for p in settings.problems if p.name == setting]
        assert problem.message == f"must be an integer from {lo} to {hi}; using the default"


def test_blank_is_unset_and_the_first_non_blank_name_wins() -> None:
    settings = load_settings(
        {"OPENAI_API_KEY": "  ", "OPENAI_KEY": "old-key", "MAX_VIDEOS_PER_REQUEST": " "}
    )
    assert settings.openai_api_key == "old-key"
    assert settings.max_videos_per_request == Settings.max_videos_per_request
    assert settings.problems == load_settings({"OPENAI_KEY": "k"}).problems
    bad_alias = load_settings({"PG_CONNECTION_STRING": "mysql://u@h/db"})
    assert [p.name for p in bad_alias.problems] == ["PG_CONNECTION_STRING"]
    assert bad_alias.database_url_setting is None


def test_flags_accept_the_usual_spellings() -> None:
    for raw, value in [("TRUE", True), ("on", True), ("1", True), ("No", False), ("0", False)]:
        settings = load_settings({"SESSION_CLEANUP_RUN_ON_STARTUP": raw})
        assert settings.session_cleanup_run_on_startup is value
        assert "SESSION_CLEANUP_RUN_ON_STARTUP" not in {p.name for p in settings.problems}


def test_the_timer_reads_run_on_startup_from_the_same_declaration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SESSION_CLEANUP_RUN_ON_STARTUP", raising=False)
    assert run_on_startup_from_environment() is False
    monkeypatch.setenv("SESSION_CLEANUP_RUN_ON_STARTUP", " Yes ")
    assert run_on_startup_from_environment() is True
    monkeypatch.setenv("SESSION_CLEANUP_RUN_ON_STARTUP", "maybe")
    assert run_on_startup_from_environment() is False


def test_documented_defaults_come_from_the_declaration() -> None:
    assert setting_default("SESSION_EXPIRE_MINUTES") == "15"
    assert setting_default("SESSION_CLEANUP_RUN_ON_STARTUP") == "false"
    assert setting_default("YOUTUBE_LANGUAGES") == "en"
    assert setting_default("MAX_TRANSCRIPT_CHARS") == str(MAX_TRANSCRIPT_CHARS)
    for none in ("OPENAI_API_KEY", "OPENAI_KEY", "LLM_PROVIDER", "EMBEDDING_DIMENSIONS"):
        assert setting_default(none) is None, none


def test_the_readme_table_and_the_template_state_the_declared_defaults() -> None:
    """README.md's settings table and main.bicep's appSettingDefaults against the declaration:
    every declared setting is documented, and each documented default is the declared one."""
    from tests.unit import test_deploy_resources as deploy

    documented = deploy.readme_settings()
    template = deploy.bicep_app_setting_values()
    declared = {spec.names[0] for spec in DECLARED.values()}
    aliases = {alias for spec in DECLARED.values() for alias in spec.names[1:]}
    assert declared <= set(documented), sorted(declared - set(documented))
    assert set(documented) <= declared | aliases, sorted(set(documented) - declared - aliases)
    problems: list[str] = []
    for name, row in documented.items():
        default = setting_default(name)
        cell = re.fullmatch(r"`([^`]*)`", row.default)
        if (cell.group(1) if cell else None) != default:
            problems.append(f"{name}: README says {row.default}, the declaration {default!r}")
        if name in deploy.SECRET_SETTINGS | deploy.HOST_SETTINGS:
            continue
        deployed = deploy.resolved_default(template[name])
        if deployed != (default or ""):
            problems.append(f"{name}: main.bicep sets {deployed!r}, the declaration {default!r}")
    assert not problems, "\n".join(problems)


def test_the_domain_limits_are_the_settings_defaults_and_follow_the_settings() -> None:
    """MAX_TRANSCRIPT_CHARS and MAX_CAPTIONS_PER_UPLOAD: one number each, enforced by the
    domain at the value the settings give."""
    from services.video_rag.service.videos import UploadInput, prepare_items

    defaults = load_settings({})
    assert defaults.max_transcript_chars == MAX_TRANSCRIPT_CHARS
    assert defaults.max_captions_per_upload == MAX_CAPTIONS
    text = "x" * 100
    segments = [{"text": text, "start": i} for i in range(MAX_TRANSCRIPT_CHARS // 100 + 1)]

    def errors(environ: dict[str, str]) -> list[str | None]:
        settings = load_settings(environ)
        items = prepare_items(
            [],
            [UploadInput(None, None, None, "segments", segments)],
            default_language="en",
            max_items=settings.max_videos_per_request,
            max_characters=settings.max_transcript_chars,
            max_captions=settings.max_captions_per_upload,
        )
        return [item.error.message if item.error else None for item in items]

    (refused,) = errors({})
    assert (
        refused == f"transcript is too large: more than {MAX_TRANSCRIPT_CHARS} characters of text"
    )
    assert errors({"MAX_TRANSCRIPT_CHARS": str(2 * MAX_TRANSCRIPT_CHARS)}) == [None]
    (few,) = errors(
        {"MAX_TRANSCRIPT_CHARS": str(2 * MAX_TRANSCRIPT_CHARS), "MAX_CAPTIONS_PER_UPLOAD": "10"}
    )
    assert few == "transcript has too many captions (limit 10, MAX_CAPTIONS_PER_UPLOAD)"
