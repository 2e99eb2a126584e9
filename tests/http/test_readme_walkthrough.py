"""The README's curl walk-through (the bash block marked `readme-walkthrough`), run as it is written
against the real local host, only `BASE` pointed at it: it must run to the end and every call must
answer what the README says it does. So the README stays true, and copy-paste-safe.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = [pytest.mark.db]

README = PROJECT_ROOT / "README.md"
MARKER = "<!-- readme-walkthrough:"
README_BASE = "BASE=http://localhost:7071/api"

CURL_WRAPPER = """\
curl() { command curl --max-time 60 "$@"; local status=$?; echo; return $status; }
"""
"""Every response on a line of its own (the server's JSON ends without a newline), and no call
may hang. `SID=$(curl ... | python3 ...)` is unaffected: JSON may end with white space."""


def walkthrough() -> str:
    """The bash block that follows the marker."""
    text = README.read_text(encoding="utf-8")
    assert MARKER in text, "the README lost its walk-through marker"
    block = text.split(MARKER, 1)[1].split("```sh\n", 1)[1].split("\n```", 1)[0]
    return block + "\n"


def test_the_walkthrough_is_copy_paste_safe() -> None:
    script = walkthrough()
    lines = script.splitlines()
    assert lines[0] == README_BASE
    assert lines[1].startswith('SID=$(curl -s -X POST "$BASE/sessions" | python3 -c ')
    assert "SID=..." not in script
    assert "7071" not in "\n".join(lines[1:])  # the port is said once, in BASE
    assert "localhost" not in "\n".join(lines[1:])
    for line in lines:
        assert not line.startswith(("$ ", "> ")), line  # no prompts to strip


def test_the_readme_walkthrough_runs_against_a_local_host(host: str) -> None:
    for program in ("bash", "curl", "python3"):
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed")
    script = walkthrough().replace(README_BASE, f"BASE={host}", 1)
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", CURL_WRAPPER + script],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    documents = [json.loads(line) for line in lines if line.startswith("{")]
    assert not [d for d in documents if "error" in d], documents

    session, url_add, upload, team, listed, answer, messages, health = documents
    assert set(session) >= {"session_id", "expires_at", "videos", "messages"}
    (by_url,) = url_add["videos"]
    assert by_url["status"] in {"added", "failed"}  # no internet here: youtube_error
    assert _single(upload)["status"] == "added"
    assert _single(upload)["video_id"] == "abcdefghijk"
    assert _single(team)["status"] == "added"
    assert {"abcdefghijk", _single(team)["video_id"]} <= {v["video_id"] for v in listed["videos"]}
    assert "nine hours" in answer["answer"]
    assert answer["sources"][0]["video_id"] == "abcdefghijk"

    events = [line for line in lines if line.startswith(("event:", "data:"))]
    assert "event: delta" in events
    assert events[-2] == "event: done"
    done = json.loads(events[-1].removeprefix("data: "))
    assert "Friday" in done["answer"]

    assert [m["role"] for m in messages["messages"]] == ["user", "assistant"] * 2
    assert health["status"] == "ok"
    assert lines[-1] == "204"


def _single(response: dict[str, Any]) -> dict[str, Any]:
    (item,) = response["videos"]
    return dict(item)
