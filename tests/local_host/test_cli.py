"""The command line: in-process failure paths and a real server in a subprocess."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from local_host.server import main

REPO_ROOT = Path(__file__).resolve().parents[2]
TOY_APP = "tests.local_host.toy_app:app"
STARTUP_BOUND = 30.0
STOP_BOUND = 15.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Undo what main() changes globally: sys.path, logging levels, environment."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in ("PORT", "PG_VECTOR_CONNECTION_STRING", "PG_CONNECTION_STRING"):
        monkeypatch.delenv(name, raising=False)
    levels = {
        name: logging.getLogger(name).level for name in ("", "uvicorn", "uvicorn.error", "asyncio")
    }
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("isolated")
class TestMainFailures:
    def test_unknown_app(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        code = main(["--root", str(tmp_path), "--app", "no_such_module:app", "--no-db"])
        assert code == 1
        assert "no_such_module" in caplog.text

    def test_invalid_host_json(self, tmp_path: Path) -> None:
        (tmp_path / "host.json").write_text("{")
        assert main(["--root", str(tmp_path), "--no-db"]) == 1

    def test_port_in_use(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            code = main(["--root", str(tmp_path), "--no-db", "--port", str(port), "--app", TOY_APP])
        assert code == 1
        assert f":{port}" in caplog.text

    def test_invalid_port_variable(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("PORT", "not-a-port")
        assert main(["--root", str(tmp_path), "--no-db"]) == 1

    def test_bad_option(self) -> None:
        assert main(["--no-such-option"]) == 2

    def test_migrations_run_before_the_app_is_imported(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("PG_VECTOR_CONNECTION_STRING", "postgresql+psycopg://u@db/x")
        migrated: list[str] = []
        code = main(
            ["--root", str(tmp_path), "--port", "0", "--app", "no_such_module:app"],
            migrate=migrated.append,
        )
        assert code == 1
        assert migrated == ["postgresql+psycopg://u@db/x"]

    def test_failed_migration_aborts(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        monkeypatch.setenv("PG_CONNECTION_STRING", "postgresql+psycopg://u@db/x")

        def broken(url: str) -> None:
            raise RuntimeError("cannot reach db")

        assert main(["--root", str(tmp_path), "--port", "0"], migrate=broken) == 1
        assert "cannot reach db" in caplog.text


def _wait_until_serving(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_BOUND
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"host exited early:\n{log.read_text()}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"host did not start in time:\n{log.read_text()}")


@pytest.fixture
def app_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    (root / "host.json").write_text(
        json.dumps({"version": "2.0", "extensions": {"http": {"routePrefix": "toy"}}})
    )
    (root / "local.settings.json").write_text(
        json.dumps(
            {
                "IsEncrypted": False,
                "Values": {
                    "TOY_TIMER_SCHEDULE": "0 0 0 1 1 *",
                    "TOY_TIMER_MARKER": str(tmp_path / "timer.txt"),
                    "TOY_GREETING": "from-settings",
                },
                "Host": {"LocalHttpPort": 1, "CORS": "http://ui.test"},
            }
        )
    )
    return root


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_subprocess_serves_and_stops_cleanly(
    app_root: Path, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    port = _free_port()
    log = tmp_path / "host.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG_", "TOY_"))}
    env.update({"TOY_GREETING": "from-env", "PYTHONUNBUFFERED": "1", "PORT": "2"})
    command = [sys.executable, "-m", "local_host", "--app", TOY_APP, "--no-db"]
    command += ["--port", str(port), "--root", str(app_root)]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_until_serving(process, f"{base}/toy/hello", log)

            # Environment beats local.settings.json; the route prefix comes from host.json.
            assert httpx.get(f"{base}/toy/hello").text == "from-env, world!"
            missing = httpx.get(f"{base}/api/hello", headers={"X-Request-Id": "cli-1"})
            assert missing.status_code == 404
            assert missing.json()["error"] == {
                "code": "not_found",
                "message": missing.json()["error"]["message"],
                "request_id": "cli-1",
            }
            assert httpx.post(f"{base}/toy/things", content=b"abc").content == b"abc"
            preflight = httpx.options(
                f"{base}/toy/things",
                headers={"Origin": "http://ui.test", "Access-Control-Request-Method": "POST"},
            )
            assert preflight.headers["access-control-allow-origin"] == "http://ui.test"

            # The timer ran on startup with its schedule from local.settings.json.
            marker = tmp_path / "timer.txt"
            deadline = time.monotonic() + STARTUP_BOUND
            while not marker.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert marker.read_text().startswith("fired")

            began = time.monotonic()
            process.send_signal(stop_signal)
            assert process.wait(timeout=STOP_BOUND) == 0
            assert time.monotonic() - began < STOP_BOUND
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    text = log.read_text()
    assert f"hello: [GET] http://127.0.0.1:{port}/toy/hello" in text
    assert "echo: [ANY]" in text
    assert "toy_timer: timerTrigger - schedule '0 0 0 1 1 *' from '%TOY_TIMER_SCHEDULE%'" in text
    assert "Host stopped." in text
    assert "Traceback" not in text.split("Host started")[0]
