"""Start the local host (python -m local_host) as a real process on a free port."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from services.video_rag.db.migrations import upgrade_to_head
from services.video_rag.settings import SETTING_NAMES
from tests.conftest import CLIENT_LIMITS_OFF, PROJECT_ROOT

STARTUP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_environment(**settings: str) -> dict[str, str]:
    """The test process's environment without app settings, plus `settings`. Any YouTube request
    goes to a closed local port, so no test can reach the internet through the host."""
    env = {k: v for k, v in os.environ.items() if k not in SETTING_NAMES}
    env.update(
        {
            **CLIENT_LIMITS_OFF,
            "YOUTUBE_PROXY_HTTP_URL": "http://127.0.0.1:9",
            "YOUTUBE_PROXY_HTTPS_URL": "http://127.0.0.1:9",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(settings)
    return env


def model_environment(database_url: str, model_base_url: str, **settings: str) -> dict[str, str]:
    """`clean_environment` for an app that answers and embeds with an OpenAI-compatible stand-in
    (tests/support/fake_openai.py) at `model_base_url`, with no chat rate limit."""
    return clean_environment(
        PG_VECTOR_CONNECTION_STRING=database_url,
        OPENAI_BASE_URL=f"{model_base_url}/v1",
        OPENAI_API_KEY="sk-test-not-a-real-key",
        CHAT_RATE_LIMIT_PER_MINUTE="0",
        **settings,
    )


@contextmanager
def running_host(env: dict[str, str], *args: str, log: Path) -> Iterator[str]:
    """Run the local host until the block ends; yields its base URL (…/api). Unless `args` name
    a `--root`, its root is a folder holding only the project's host.json: a developer's
    local.settings.json never fills in settings the test did not give."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="host-root-") as root, log.open("wb") as output:
        if "--root" not in args:
            shutil.copy(PROJECT_ROOT / "host.json", Path(root) / "host.json")
            args = ("--root", root, *args)
        process = subprocess.Popen(
            [sys.executable, "-m", "local_host", "--port", str(port), *args],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}/api"
        try:
            _wait_until_serving(process, base, log)
            yield base
        finally:
            process.send_signal(signal.SIGINT)
            try:
                exit_code = process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                raise
    assert exit_code == 0, log.read_text()


def _wait_until_serving(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"local host exited with {process.returncode}:\n{log.read_text()}")
        try:
            httpx.get(f"{base}/health", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"local host did not start within {STARTUP_SECONDS} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def host_database_url(create_database: Callable[[], str]) -> str:
    """A migrated database of the HTTP tests' own (the host's writes stay out of the others')."""
    url = create_database()
    upgrade_to_head(url)
    return url


@pytest.fixture(scope="module")
def host(host_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app served by the local host against its test database (already migrated)."""
    env = clean_environment(PG_VECTOR_CONNECTION_STRING=host_database_url)
    log = tmp_path_factory.mktemp("host") / "host.log"
    with running_host(env, "--no-migrate", "--cors", "http://ui.test", log=log) as base:
        yield base


@pytest.fixture
def client(host: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=host, timeout=30) as http:
        yield http


@pytest.fixture
def new_session(client: httpx.Client) -> Callable[[], str]:
    def create() -> str:
        response = client.post("/sessions")
        assert response.status_code == 201
        return str(response.json()["session_id"])

    return create
