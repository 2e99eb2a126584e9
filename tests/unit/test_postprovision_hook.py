"""The azd postprovision hook (DeployResources/hooks/postprovision.py), which azure.yaml runs on
Linux, macOS and Windows alike: what it refuses, and the commands it runs (recorded by a fake
runner; nothing reaches Azure)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import types
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "DeployResources" / "hooks" / "postprovision.py"


def _load_hook() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("postprovision_hook", HOOK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hook = _load_hook()

AZD_ENVIRONMENT = {
    "POSTGRES_FQDN": "psql-demo.postgres.database.azure.com",
    "POSTGRES_DATABASE": "videorag",
    "POSTGRES_ADMIN_LOGIN": "videoragadmin",
    "POSTGRES_ADMIN_PASSWORD": "p@ss w:rd/?#%",
    "POSTGRES_CLIENT_IP": "203.0.113.7",
}


class FakeRunner:
    """Records each command; answers with the given return codes (0 when none is left)."""

    def __init__(self, *codes: int, stdout: str = "") -> None:
        self.calls: list[tuple[list[str], dict[str, Any]]] = []
        self.codes = list(codes)
        self.stdout = stdout

    def __call__(self, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(([str(word) for word in command], kwargs))
        code = self.codes.pop(0) if self.codes else 0
        return subprocess.CompletedProcess(command, code, stdout=self.stdout, stderr="")

    @property
    def commands(self) -> list[list[str]]:
        return [command for command, _ in self.calls]


def test_skip_migrations_runs_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    runner = FakeRunner()
    assert hook.main({"SKIP_MIGRATIONS": "1"}, run=runner) == 0
    assert runner.calls == []
    assert "SKIP_MIGRATIONS=1" in capsys.readouterr().err


def test_missing_outputs_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    runner = FakeRunner()
    environ = {k: v for k, v in AZD_ENVIRONMENT.items() if k != "POSTGRES_FQDN"}
    assert hook.main(environ, run=runner) == 1
    assert runner.calls == []
    assert "POSTGRES_FQDN" in capsys.readouterr().err


def test_missing_password_is_explained_without_running(capsys: pytest.CaptureFixture[str]) -> None:
    runner = FakeRunner()
    environ = {k: v for k, v in AZD_ENVIRONMENT.items() if k != "POSTGRES_ADMIN_PASSWORD"}
    assert hook.main(environ, run=runner) == 1
    assert runner.calls == []
    assert "azd env set POSTGRES_ADMIN_PASSWORD" in capsys.readouterr().err


@pytest.mark.parametrize("code", [0, 3])
def test_migrates_with_the_named_interpreter_and_returns_its_code(
    code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    runner = FakeRunner(code)
    environ = {**AZD_ENVIRONMENT, "MIGRATIONS_PYTHON": "/opt/py313/bin/python"}
    assert hook.main(environ, run=runner) == code
    ((command, kwargs),) = runner.calls
    assert command == ["/opt/py313/bin/python", "-m", "alembic", "upgrade", "head"]
    assert kwargs["cwd"] == ROOT
    url = urlsplit(kwargs["env"]["PG_VECTOR_CONNECTION_STRING"])
    assert (url.scheme, url.hostname, url.port) == (
        "postgresql",
        AZD_ENVIRONMENT["POSTGRES_FQDN"],
        5432,
    )
    assert unquote(url.password or "") == AZD_ENVIRONMENT["POSTGRES_ADMIN_PASSWORD"]
    assert url.query == "sslmode=require"
    assert AZD_ENVIRONMENT["POSTGRES_ADMIN_PASSWORD"] not in capsys.readouterr().err


def test_creates_the_virtualenv_when_missing(tmp_path: Path) -> None:
    """No .venv: one is created with a Python 3.13, requirements.txt installed into it, and the
    migrations run with it, in that order, from the project root."""
    runner = FakeRunner(stdout="/usr/bin/python3.13\n")
    assert hook.main(AZD_ENVIRONMENT, root=tmp_path, run=runner) == 0
    venv_python = str(hook.venv_python(tmp_path))
    commands = runner.commands
    if sys.version_info[:2] != (3, 13):  # then it asked tools/find-python (or py -3.13) first
        commands = commands[1:]
        base = "/usr/bin/python3.13"
    else:
        base = sys.executable
    assert commands == [
        [base, "-m", "venv", str(tmp_path / ".venv")],
        [venv_python, "-m", "pip", "install", "--quiet", "-r", "requirements.txt"],
        [venv_python, "-m", "alembic", "upgrade", "head"],
    ]
    assert all(kwargs.get("cwd") == tmp_path for _, kwargs in runner.calls[-3:])


def test_an_existing_virtualenv_is_reused(tmp_path: Path) -> None:
    python = hook.venv_python(tmp_path)
    python.parent.mkdir(parents=True)
    python.write_text("")
    runner = FakeRunner()
    assert hook.main(AZD_ENVIRONMENT, root=tmp_path, run=runner) == 0
    assert [command[1:3] for command in runner.commands] == [["-m", "pip"], ["-m", "alembic"]]


def test_a_failed_install_stops_before_migrating(tmp_path: Path) -> None:
    python = hook.venv_python(tmp_path)
    python.parent.mkdir(parents=True)
    python.write_text("")
    runner = FakeRunner(1)
    assert hook.main(AZD_ENVIRONMENT, root=tmp_path, run=runner) == 1
    assert len(runner.calls) == 1


@pytest.mark.parametrize(
    ("environ", "code", "said"),
    [
        ({"SKIP_MIGRATIONS": "1"}, 0, "SKIP_MIGRATIONS=1"),
        ({}, 1, "POSTGRES_FQDN, POSTGRES_DATABASE, POSTGRES_ADMIN_LOGIN"),
    ],
)
def test_runs_as_a_plain_script(environ: dict[str, str], code: int, said: str) -> None:
    """As azd starts it: a separate interpreter in isolated mode (the project is not on its path),
    with nothing but the standard library."""
    result = subprocess.run(
        [sys.executable, "-I", str(HOOK)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == code, result.stderr
    assert said in result.stderr
