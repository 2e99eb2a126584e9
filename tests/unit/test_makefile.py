"""The Makefile's set-up on a fresh or changed machine (`make -n`: what it would run), with a
stand-in `.venv/bin/python` that answers the 3.13 check as told."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

FILES = ("Makefile", "requirements.txt", "requirements-local.txt", "requirements-dev.txt")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    for name in FILES:
        shutil.copy(PROJECT_ROOT / name, tmp_path / name)
    (tmp_path / "tools").mkdir()
    shutil.copy(PROJECT_ROOT / "tools" / "find-python", tmp_path / "tools" / "find-python")
    return tmp_path


def stamped_venv(project: Path, *, is_313: bool) -> None:
    """A .venv whose python says it is 3.13 or not, with both install stamps, newer than the
    requirements files."""
    bin_dir = project / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    python.write_text(f"#!/bin/sh\nexit {0 if is_313 else 1}\n")
    python.chmod(0o755)
    for stamp in (".installed-run-py313", ".installed-dev-py313"):
        (project / ".venv" / stamp).touch()
    later = max((project / name).stat().st_mtime for name in FILES) + 10
    for stamp in (".installed-run-py313", ".installed-dev-py313"):
        os.utime(project / ".venv" / stamp, (later, later))


def dry_run(project: Path) -> str:
    # As a make of its own, not a sub-make of a `make test` running this test.
    outer = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PYTEST_ARGS", "PYTHON")
    env = {name: value for name, value in os.environ.items() if name not in outer}
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", "test", "PYTHON=/opt/python3.13/bin/python3"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_fresh_machine_gets_a_venv_the_app_and_the_test_toolchain(project: Path) -> None:
    commands = dry_run(project)
    assert "/opt/python3.13/bin/python3 -m venv .venv" in commands
    assert "pip install --quiet -r requirements-local.txt" in commands
    assert "pip install --quiet -r requirements-dev.txt" in commands
    assert "/usr/bin/chromium" in commands  # the browser the browser tests launch
    assert commands.rstrip().endswith(".venv/bin/python -m pytest")


def test_a_stamped_venv_of_3_13_is_used_as_it_is(project: Path) -> None:
    stamped_venv(project, is_313=True)
    commands = dry_run(project)
    assert "pip install" not in commands
    assert "-m venv" not in commands


def test_a_stamped_venv_of_another_python_is_rebuilt(project: Path) -> None:
    stamped_venv(project, is_313=False)
    commands = dry_run(project)
    assert "Recreating .venv with Python 3.13" in commands
    assert "pip install --quiet -r requirements-dev.txt" in commands
