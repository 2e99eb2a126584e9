"""The Postman collection, run with newman against the real local host: every request's checks
(status, X-Request-Id, body shape, error codes, the step's own) must pass. newman is installed at
test time (tests/support/node_tools.py); without Node.js the test is skipped with the reason.

A second run against a stand-in that answers `{}` to everything shows that the checks do fail.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT
from tests.support.node_tools import node_tool
from tools.generate_requests import FOLDERS, MORE, POSTMAN_FILE

pytestmark = [pytest.mark.db]

ARTIFACTS = PROJECT_ROOT / "test-artifacts"


def run_newman(base_url: str, report: Path) -> tuple[subprocess.CompletedProcess[str], Any]:
    """Run the collection against `base_url`; the process and newman's JSON report."""
    newman = node_tool("newman")
    result = subprocess.run(
        [
            str(newman),
            "run",
            str(PROJECT_ROOT / POSTMAN_FILE),
            "--env-var",
            f"baseUrl={base_url}",
            "--reporters",
            "cli,json",
            "--reporter-json-export",
            str(report),
            "--timeout-request",
            "60000",
            "--disable-unicode",
            "--color",
            "off",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if not report.exists():
        pytest.fail(f"newman wrote no report:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result, json.loads(report.read_text(encoding="utf-8"))


def test_newman_runs_the_collection_with_no_failed_check(host: str, tmp_path: Path) -> None:
    report = tmp_path / "newman.json"
    result, data = run_newman(host, report)
    stats = data["run"]["stats"]
    failures = [
        f"{f['source']['name']}: {f['error'].get('test', '')} {f['error']['message']}"
        for f in data["run"]["failures"]
    ]
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(report, ARTIFACTS / "newman-report.json")
    summary = {
        "requests": stats["requests"]["total"],
        "assertions": stats["assertions"]["total"],
        "failed assertions": stats["assertions"]["failed"],
        "failures": len(failures),
    }
    print(f"\nnewman: {summary}")
    assert not failures, "\n".join(failures) + "\n" + result.stdout[-4000:]
    assert result.returncode == 0, result.stdout[-4000:]
    expected_requests = sum(len(folder.steps) for folder in FOLDERS) + len(MORE)
    assert stats["requests"]["total"] == expected_requests
    assert stats["requests"]["failed"] == 0
    # Each request checks at least its status, X-Request-Id and body (or its absence).
    assert stats["assertions"]["total"] >= 3 * stats["requests"]["total"]
    assert stats["assertions"]["failed"] == 0
    assert stats["testScripts"]["failed"] == 0


class _EmptyObjects(BaseHTTPRequestHandler):
    """Answers every request with 200 `{}`: nothing the collection expects."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def empty_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EmptyObjects)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()
        server.server_close()


def test_the_checks_fail_against_a_server_that_answers_nothing_useful(
    empty_server: str, tmp_path: Path
) -> None:
    result, data = run_newman(empty_server, tmp_path / "newman.json")
    stats = data["run"]["stats"]
    assert result.returncode != 0
    assert stats["requests"]["total"] > 0
    # Every request fails at least one check (statuses other than 200, X-Request-Id, shapes).
    failed_requests = {f["source"]["name"] for f in data["run"]["failures"]}
    assert len(failed_requests) == stats["requests"]["total"]
