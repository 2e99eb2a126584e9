"""Start-up diagnostics: masked configuration, the request id on every log line, health naming
missing settings, and the optional Application Insights export."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest

from services.video_rag import diagnostics
from services.video_rag.bootstrap import Dependencies, get_dependencies, set_dependencies
from services.video_rag.settings import load_settings
from tests.conftest import PROJECT_ROOT
from tests.helpers import body_of, invoke

SECRETS = {
    "PG_VECTOR_CONNECTION_STRING": "postgresql://admin:db-s3cret@db.example:5432/app",
    "OPENAI_API_KEY": "sk-openai-s3cret",
    "AZURE_OPENAI_API_KEY": "azure-s3cret",
    "YOUTUBE_PROXY_HTTP_URL": "http://proxyuser:proxy-s3cret@proxy.example:8080",
    "WEBSHARE_PROXY_PASSWORD": "webshare-s3cret",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=ai-s3cret",
}


def test_the_logged_configuration_masks_every_secret() -> None:
    text = json.dumps(diagnostics.masked_configuration(load_settings(SECRETS)))
    assert "s3cret" not in text
    assert "db.example" in text  # the host is useful and not secret
    resolved = json.loads(text)
    assert resolved["openai_api_key"] == "set"
    assert resolved["azure_openai_api_key"] == "set"
    assert resolved["youtube_proxy_http_url"] == "http://***@proxy.example:8080"


@pytest.fixture
def fresh_process_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(diagnostics, "_configuration_logged", False)
    set_dependencies(None)
    yield
    set_dependencies(None)


@pytest.mark.usefixtures("fresh_process_state")
def test_first_use_logs_the_configuration_once_with_problems_by_name(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SESSION_EXPIRE_MINUTES", "soon")
    monkeypatch.delenv("APPLICATIONINSIGHTS_CONNECTION_STRING")
    with caplog.at_level(logging.INFO, logger="video_rag"):
        get_dependencies()
        set_dependencies(None)
        get_dependencies()
    configuration_lines = [r for r in caplog.records if r.getMessage().startswith("configuration")]
    assert len(configuration_lines) == 1
    assert "s3cret" not in caplog.text
    assert "setting SESSION_EXPIRE_MINUTES: must be an integer" in caplog.text


def test_log_lines_during_a_request_carry_its_id(caplog: pytest.LogCaptureFixture) -> None:
    url = "postgresql+psycopg://postgres@/postgres?host=/nonexistent-socket-dir"
    set_dependencies(Dependencies(settings=load_settings({"PG_VECTOR_CONNECTION_STRING": url})))
    try:
        with caplog.at_level(logging.WARNING):
            response = invoke("POST", "sessions", headers={"X-Request-Id": "trace-42"})
    finally:
        set_dependencies(None)
    assert response.status_code == 503
    (record,) = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert record.getMessage().startswith("[trace-42] ")
    assert record.request_id == "trace-42"  # type: ignore[attr-defined]


def test_health_with_an_empty_environment_names_the_missing_setting() -> None:
    set_dependencies(Dependencies(settings=load_settings({})))
    try:
        response = invoke("GET", "health")
    finally:
        set_dependencies(None)
    body = body_of(response)
    assert response.status_code == 503
    assert body["checks"]["settings"]["ok"] is False
    assert [p["setting"] for p in body["checks"]["settings"]["problems"]] == [
        "PG_VECTOR_CONNECTION_STRING"
    ]
    assert "PG_VECTOR_CONNECTION_STRING" in body["error"]["message"]


def test_application_insights_export_is_configured_only_when_asked() -> None:
    assert diagnostics.configure_telemetry(load_settings({})) is False
    script = (
        "from services.video_rag.diagnostics import configure_telemetry\n"
        "from services.video_rag.settings import load_settings\n"
        "print(configure_telemetry(load_settings({'APPLICATIONINSIGHTS_CONNECTION_STRING': "
        "'InstrumentationKey=00000000-0000-0000-0000-000000000000;"
        "IngestionEndpoint=http://127.0.0.1:9/'})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"OTEL_SDK_DISABLED": "false", "PATH": "/usr/bin:/bin"},
    )
    assert result.stdout.strip().splitlines()[-1] == "True"
