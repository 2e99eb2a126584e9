"""Node command-line tools the tests use (newman, openapi-typescript, tsc), installed with npm at
test time into `.local/node-tools/` (git-ignored, like the embedded database), the way the browser
tests install Chromium. Without npm, or when the registry cannot be reached, the tests that need
them are skipped with the reason in the summary.

The versions are pinned here; a folder holding other versions is brought to these.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import pytest

from tests.conftest import PROJECT_ROOT

TOOLS_DIR: Final = PROJECT_ROOT / ".local" / "node-tools"
PACKAGES: Final = {"newman": "6.2.2", "openapi-typescript": "7.13.0", "typescript": "5.9.3"}
"""npm package -> pinned version (typescript: the compiler the generated types are checked with,
and openapi-typescript's peer dependency)."""
INSTALL_SECONDS: Final = 300


def node_tool(binary: str) -> Path:
    """`.local/node-tools/node_modules/.bin/<binary>`, after installing the pinned packages if
    they are missing or of other versions; skips the calling test when that is not possible."""
    for program in ("node", "npm"):
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed (Node.js is needed for this test)")
    with _locked():
        if not _installed():
            _install()
    path = TOOLS_DIR / "node_modules" / ".bin" / binary
    if not path.exists():
        pytest.fail(f"{binary} is not among the installed tools: {sorted(PACKAGES)}")
    return path


def _installed() -> bool:
    for name, version in PACKAGES.items():
        manifest = TOOLS_DIR / "node_modules" / name / "package.json"
        try:
            if json.loads(manifest.read_text(encoding="utf-8")).get("version") != version:
                return False
        except (OSError, ValueError):
            return False
    return True


def _install() -> None:
    TOOLS_DIR.mkdir(parents=True, exist_ok=True)
    command = [
        "npm",
        "install",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
        "--prefix",
        str(TOOLS_DIR),
        *(f"{name}@{version}" for name, version in PACKAGES.items()),
    ]
    try:
        result = subprocess.run(
            command,
            cwd=TOOLS_DIR,
            capture_output=True,
            text=True,
            timeout=INSTALL_SECONDS,
            env={**os.environ, "npm_config_update_notifier": "false"},
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"npm install did not finish within {INSTALL_SECONDS} s (registry reachable?)")
    if result.returncode != 0 or not _installed():
        tail = (result.stderr or result.stdout).strip()[-600:]
        pytest.skip(f"npm install of {sorted(PACKAGES)} failed (registry reachable?): {tail}")


@contextmanager
def _locked() -> Iterator[None]:
    """One installer at a time (parallel test processes share the folder)."""
    TOOLS_DIR.parent.mkdir(parents=True, exist_ok=True)
    with (TOOLS_DIR.parent / "node-tools.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
