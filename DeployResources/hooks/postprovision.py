"""azd postprovision hook, for Linux, macOS and Windows alike: apply the Alembic migrations to the
database that `azd provision` just created, before `azd deploy` publishes the code.

azd passes the template's outputs (POSTGRES_FQDN, POSTGRES_DATABASE, POSTGRES_ADMIN_LOGIN) and the
environment's values (`azd env set POSTGRES_ADMIN_PASSWORD ...`) as environment variables. The
migrations run as `python -m alembic upgrade head` with the project's `.venv` (created with a
Python 3.13 and `requirements.txt` when missing), or with the interpreter in MIGRATIONS_PYTHON.
No POSIX shell and no make are needed.

The server admits Azure services only, plus POSTGRES_CLIENT_IP when you set it; from anywhere else
the migrations cannot connect: set it (`azd env set POSTGRES_CLIENT_IP <your public IP>`, then
`azd provision`), or run them from a machine that can reach the server.
SKIP_MIGRATIONS=1 skips this step.

Standard library only, so any Python 3 on PATH can start it (azure.yaml runs it with `python3` or
`python`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

HOOK_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = HOOK_DIR.parents[1]
REQUIRED_OUTPUTS = ("POSTGRES_FQDN", "POSTGRES_DATABASE", "POSTGRES_ADMIN_LOGIN")
PYTHON_VERSION = (3, 13)

Runner = Callable[..., "subprocess.CompletedProcess[Any]"]


def _say(message: str) -> None:
    print(f"postprovision: {message}", file=sys.stderr, flush=True)


def _postgres_url(environ: Mapping[str, str]) -> str:
    sys.path.insert(0, str(HOOK_DIR.parent))
    try:
        import deploytool  # the helper beside this folder (stdlib only)
    finally:
        sys.path.pop(0)
    url: str = deploytool.postgres_url(
        environ["POSTGRES_FQDN"],
        environ["POSTGRES_DATABASE"],
        environ["POSTGRES_ADMIN_LOGIN"],
        environ["POSTGRES_ADMIN_PASSWORD"],
    )
    return url


def venv_python(root: Path) -> Path:
    """The interpreter of `root/.venv`, where make and this hook put it on this platform."""
    if os.name == "nt":
        return root / ".venv" / "Scripts" / "python.exe"
    return root / ".venv" / "bin" / "python"


def find_python313(root: Path, run: Runner) -> str | None:
    """A Python 3.13 to create the virtualenv with: this one, else tools/find-python (POSIX) or
    the `py` launcher (Windows)."""
    if sys.version_info[:2] == PYTHON_VERSION:
        return sys.executable
    if os.name == "nt":
        command = ["py", "-3.13", "-c", "import sys; print(sys.executable)"]
    else:
        command = ["sh", str(root / "tools" / "find-python")]
    try:
        found = run(command, capture_output=True, text=True, check=False)
    except OSError:
        return None
    path = str(found.stdout).strip()
    return path if found.returncode == 0 and path else None


def migrations_python(environ: Mapping[str, str], root: Path, run: Runner) -> str | None:
    """MIGRATIONS_PYTHON, else the project's .venv, created and installed when missing. None (with
    the reason said) when there is no Python 3.13 to create it with."""
    named = environ.get("MIGRATIONS_PYTHON", "")
    if named:
        return named
    python = venv_python(root)
    if not python.exists():
        base = find_python313(root, run)
        if base is None:
            _say(
                "no Python 3.13 found to create .venv for the migrations: install one, or set "
                "MIGRATIONS_PYTHON to an interpreter that has requirements.txt installed."
            )
            return None
        _say(f"creating .venv with {base}")
        if run([base, "-m", "venv", str(root / ".venv")], cwd=root, check=False).returncode:
            _say("could not create .venv")
            return None
    # Quick when everything is there already (after `make run`, for instance).
    install = [str(python), "-m", "pip", "install", "--quiet", "-r", "requirements.txt"]
    if run(install, cwd=root, check=False).returncode:
        _say("could not install requirements.txt into .venv")
        return None
    return str(python)


def main(
    environ: Mapping[str, str] | None = None,
    root: Path = PROJECT_ROOT,
    run: Runner = subprocess.run,
) -> int:
    environ = dict(os.environ if environ is None else environ)
    if environ.get("SKIP_MIGRATIONS", "0") == "1":
        _say("SKIP_MIGRATIONS=1, migrations not run (run 'make migrate' before using the app).")
        return 0
    missing = [name for name in REQUIRED_OUTPUTS if not environ.get(name)]
    if missing:
        _say(f"missing {', '.join(missing)}: run 'azd provision' first.")
        return 1
    if not environ.get("POSTGRES_ADMIN_PASSWORD"):
        _say(
            "POSTGRES_ADMIN_PASSWORD is not in the azd environment, so the migrations cannot run. "
            "'azd env set POSTGRES_ADMIN_PASSWORD <the server password>' and run 'azd provision' "
            "again (or SKIP_MIGRATIONS=1 and run 'make migrate' yourself)."
        )
        return 1
    if not environ.get("POSTGRES_CLIENT_IP"):
        _say("POSTGRES_CLIENT_IP is not set; the server may refuse this machine.")
    python = migrations_python(environ, root, run)
    if python is None:
        return 1
    child = {**environ, "PG_VECTOR_CONNECTION_STRING": _postgres_url(environ)}
    database, server = environ["POSTGRES_DATABASE"], environ["POSTGRES_FQDN"]
    _say(f"migrating {database} on {server} (alembic upgrade head)")
    command: Sequence[str] = [python, "-m", "alembic", "upgrade", "head"]
    return int(run(command, cwd=root, env=child, check=False).returncode)


if __name__ == "__main__":
    raise SystemExit(main())
