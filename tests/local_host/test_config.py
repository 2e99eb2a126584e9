"""host.json and local.settings.json reading, environment export and port precedence."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from local_host.config import (
    DEFAULT_PORT,
    ConfigError,
    CorsSettings,
    apply_values,
    load_local_settings,
    load_route_prefix,
    parse_cors,
    resolve_port,
)


def _write(path: Path, data: object) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("host_json", "expected"),
    [
        ({"version": "2.0"}, "api"),
        ({"extensions": {"http": {"routePrefix": "v1"}}}, "v1"),
        ({"extensions": {"http": {"routePrefix": ""}}}, ""),
        ({"extensions": {"http": {"routePrefix": "/api/v2/"}}}, "api/v2"),
        ({"Extensions": {"HTTP": {"RoutePrefix": "ci"}}}, "ci"),
    ],
)
def test_route_prefix(tmp_path: Path, host_json: object, expected: str) -> None:
    _write(tmp_path / "host.json", host_json)
    assert load_route_prefix(tmp_path) == expected


def test_route_prefix_without_host_json(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert load_route_prefix(tmp_path) == "api"
    assert "host.json" in caplog.text


def test_invalid_host_json_is_an_error(tmp_path: Path) -> None:
    _write(tmp_path / "host.json", "{not json")
    with pytest.raises(ConfigError, match=r"host\.json"):
        load_route_prefix(tmp_path)


def test_local_settings_full(tmp_path: Path) -> None:
    _write(
        tmp_path / "local.settings.json",
        {
            "IsEncrypted": False,
            "Values": {"A": "1", "B": 2, "C": True, "D": None},
            "Host": {
                "LocalHttpPort": 7080,
                "CORS": "http://a.test, http://b.test,",
                "CORSCredentials": True,
            },
        },
    )
    settings = load_local_settings(tmp_path)
    assert settings.values == {"A": "1", "B": "2", "C": "true"}
    assert settings.local_http_port == 7080
    assert settings.cors == CorsSettings(("http://a.test", "http://b.test"), True)
    assert settings.path == tmp_path / "local.settings.json"


def test_local_settings_missing_is_fine(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        settings = load_local_settings(tmp_path)
    assert settings.values == {}
    assert settings.local_http_port is None
    assert settings.cors is None
    assert settings.path is None
    assert caplog.records == []


@pytest.mark.parametrize("content", ["{broken", "[1, 2]", '"text"'])
def test_local_settings_invalid_is_warned_and_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str
) -> None:
    _write(tmp_path / "local.settings.json", content)
    settings = load_local_settings(tmp_path)
    assert settings.values == {}
    assert settings.path is None
    assert "local.settings.json" in caplog.text
    assert any(record.levelno == logging.WARNING for record in caplog.records)


def test_local_settings_bad_port_is_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _write(tmp_path / "local.settings.json", {"Values": {"A": "1"}, "Host": {"LocalHttpPort": "x"}})
    settings = load_local_settings(tmp_path)
    assert settings.local_http_port is None
    assert settings.values == {"A": "1"}
    assert "LocalHttpPort" in caplog.text


def test_encrypted_values_are_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _write(tmp_path / "local.settings.json", {"IsEncrypted": True, "Values": {"A": "secret"}})
    assert load_local_settings(tmp_path).values == {}
    assert "encrypted" in caplog.text


def test_values_do_not_override_the_environment() -> None:
    environ = {"ALREADY": "from-env", "EMPTY": ""}
    applied = apply_values({"ALREADY": "from-file", "EMPTY": "x", "NEW": "v"}, environ)
    assert environ == {"ALREADY": "from-env", "EMPTY": "", "NEW": "v"}
    assert applied == ["NEW"]


def test_port_precedence() -> None:
    assert resolve_port(8000, {"PORT": "8001"}, 8002) == 8000
    assert resolve_port(None, {"PORT": "8001"}, 8002) == 8001
    assert resolve_port(None, {}, 8002) == 8002
    assert resolve_port(None, {"PORT": " "}, None) == DEFAULT_PORT == 7071
    assert resolve_port(0, {}, None) == 0


@pytest.mark.parametrize("bad", ["abc", "70000", "-1"])
def test_invalid_port_env_var(bad: str) -> None:
    with pytest.raises(ConfigError, match="PORT"):
        resolve_port(None, {"PORT": bad}, None)


def test_parse_cors() -> None:
    assert parse_cors(None) is None
    assert parse_cors(" , ") is None
    assert parse_cors("*") == CorsSettings(("*",), False)
    assert parse_cors("http://x, http://y", True) == CorsSettings(("http://x", "http://y"), True)
