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
