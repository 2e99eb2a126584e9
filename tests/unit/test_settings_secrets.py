"""No setting's value reaches a problem message, the logged configuration or GET /health, even
when user names and passwords hold the characters URLs are made of (@ : /)."""

from __future__ import annotations

import json

import pytest

from services.video_rag.bootstrap import Dependencies, set_dependencies
from services.video_rag.diagnostics import masked_configuration
from services.video_rag.settings import load_settings
from tests.helpers import invoke

SECRET = "w0rd:Sec/ret@"
URL_SETTINGS = {
    "PG_VECTOR_CONNECTION_STRING": f"postgresql://admin:p@ss:{SECRET}db.example.invalid:5432/db",
    "OPENAI_BASE_URL": f"https://us:{SECRET}@llm.example.invalid/v1",
    "EMBEDDING_BASE_URL": f"https://us:{SECRET}@emb.example.invalid/v1",
    "YOUTUBE_PROXY_HTTP_URL": f"http://proxy:{SECRET}@proxy.example.invalid:80",
    "YOUTUBE_PROXY_HTTPS_URL": f"http://proxy:{SECRET}@proxy.example.invalid:80",
    "AZURE_OPENAI_ENDPOINT": f"https://x:{SECRET}@aoai.example.invalid",
}
SECRET_SETTINGS = {
    "OPENAI_API_KEY": f"sk-{SECRET}",
    "EMBEDDING_API_KEY": f"sk-{SECRET}",
    "AZURE_OPENAI_API_KEY": SECRET,
    "OPENAI_KEY": f"sk-{SECRET}",  # the original project's name for OPENAI_API_KEY
    "WEBSHARE_PROXY_USERNAME": SECRET,
    "WEBSHARE_PROXY_PASSWORD": SECRET,
    "APPLICATIONINSIGHTS_CONNECTION_STRING": f"InstrumentationKey={SECRET}",
}
PIECES = ("w0rd", "Sec/ret", "p@ss")


@pytest.mark.parametrize(("name", "value"), sorted({**URL_SETTINGS, **SECRET_SETTINGS}.items()))
def test_no_piece_of_a_value_in_problems_or_the_logged_configuration(name: str, value: str) -> None:
    settings = load_settings({name: value})
    problems = " ".join(f"{p.name} {p.message}" for p in settings.problems)
    logged = json.dumps(masked_configuration(settings), default=str)
    for piece in PIECES:
        assert piece not in problems, (name, problems)
        assert piece not in logged, (name, logged)


def test_a_database_url_with_an_unencoded_password_is_named_not_quoted() -> None:
    settings = load_settings(
        {"PG_VECTOR_CONNECTION_STRING": URL_SETTINGS["PG_VECTOR_CONNECTION_STRING"]}
    )
    (problem,) = [p for p in settings.problems if p.name == "PG_VECTOR_CONNECTION_STRING"]
    assert problem.message.startswith("invalid: not a connection URL")


@pytest.mark.parametrize(("name", "value"), sorted({**URL_SETTINGS, **SECRET_SETTINGS}.items()))
def test_no_piece_of_a_value_in_the_health_report(name: str, value: str) -> None:
    """GET /health needs no session: the issue's reproduction read a password there."""
    deps = Dependencies(settings=load_settings({name: value}))
    set_dependencies(deps)
    try:
        body = invoke("GET", "health").get_body().decode()
    finally:
        set_dependencies(None)
        deps.close()
    assert name in body or "database" in body  # the report is there (and names, never quotes)
    for piece in PIECES:
        assert piece not in body, (name, body)
