import pytest

from services.video_rag.settings import load_settings, normalize_database_url, setting_default


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
