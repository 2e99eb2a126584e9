"""Client generators on the OpenAPI document the local host serves: openapi-python-client (a dev
dependency, run offline in a temporary folder) makes a small set of models and a client that
completes the quick-start flow against the real host; openapi-typescript (installed with npm at
test time, skipped with the reason without Node.js) makes types that compile with `tsc --strict`
and keep optional request fields optional.

Before issue 14 the document gave openapi-python-client 285 model files (a copy of the error body
per status and operation, `AddVideosRequest` split into `Type0`/`Type1`) and openapi-typescript a
required `languages`.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.support.node_tools import node_tool

pytestmark = [pytest.mark.db]

MAX_MODEL_FILES = 40
PACKAGE = "video_rag_generated_client"
VTT = (
    "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\nThe battery lasts about nine hours in my test.\n\n"
    "00:00:04.000 --> 00:00:08.000\nThe keyboard cover is sold separately.\n"
)


@pytest.fixture(scope="module")
def served_document(host: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The document as the host serves it, saved to a file."""
    response = httpx.get(f"{host}/openapi.json", timeout=30)
    assert response.status_code == 200
    path = tmp_path_factory.mktemp("document") / "openapi.json"
    path.write_text(json.dumps(response.json()), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def python_client(served_document: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package openapi-python-client generates (no network: it reads the saved file)."""
    out = tmp_path_factory.mktemp("python-client")
    package = out / PACKAGE
    bin_dir = str(Path(sys.executable).parent)  # its post-hook runs ruff, found on PATH
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(served_document),
            "--output-path",
            str(package),
            "--meta",
            "none",
        ],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    return package


@pytest.fixture
def generated(python_client: Path) -> Iterator[ModuleType]:
    """The generated package, imported (and forgotten afterwards)."""
    sys.path.insert(0, str(python_client.parent))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(python_client.parent))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def test_the_python_client_has_few_models(python_client: Path) -> None:
    models = sorted(p.stem for p in (python_client / "models").glob("*.py") if p.stem != "__init__")
    print(f"\nopenapi-python-client: {len(models)} model files")
    assert len(models) <= MAX_MODEL_FILES, models
    assert "error_response" in models
    # No copy of the error body per operation and status (`ask_response_401`, ...).
    assert not [m for m in models if re.search(r"_response_[45]\d\d", m)]
    # One request model for POST /videos, not one per alternative.
    assert "add_videos_request" in models
    assert not [m for m in models if m.startswith("add_videos_request_")]


def test_the_python_client_completes_the_quick_start(generated: ModuleType, host: str) -> None:
    sessions = importlib.import_module(f"{PACKAGE}.api.sessions")
    videos = importlib.import_module(f"{PACKAGE}.api.videos")
    chat = importlib.import_module(f"{PACKAGE}.api.chat")
    models = importlib.import_module(f"{PACKAGE}.models")
    create_session = importlib.import_module(f"{sessions.__name__}.create_session")
    current_session = importlib.import_module(f"{sessions.__name__}.get_current_session")
    end_session = importlib.import_module(f"{sessions.__name__}.end_current_session")
    add_videos = importlib.import_module(f"{videos.__name__}.add_videos")
    list_videos = importlib.import_module(f"{videos.__name__}.list_videos")
    ask = importlib.import_module(f"{chat.__name__}.ask")

    # Create a session: no credentials needed.
    with generated.Client(base_url=host) as anonymous:
        created = create_session.sync(client=anonymous)
    assert isinstance(created, models.SessionResponse), created
    client: Any = generated.AuthenticatedClient(
        base_url=host, token=created.session_id, auth_header_name="X-Session-Id", prefix=""
    )
    with client:
        # Upload a transcript (no video id: the server assigns one; `languages` may be omitted).
        upload = models.TranscriptUploadIn(
            format_=models.TranscriptUploadInFormat.VTT, content=VTT, title="Surface Go review"
        )
        added = add_videos.sync(client=client, body=models.AddVideosRequest(transcripts=[upload]))
        assert isinstance(added, models.AddVideosResponse), added
        (result,) = added.videos
        assert result.status == models.AddVideoResultOutStatus.ADDED
        video_id = result.video_id
        assert isinstance(video_id, str)

        listed = list_videos.sync(client=client)
        assert isinstance(listed, models.VideosResponse), listed
        assert [video.video_id for video in listed.videos] == [video_id]

        answer = ask.sync(
            client=client, body=models.ChatRequest(message="How long does the battery last?")
        )
        assert isinstance(answer, models.ChatResponse), answer
        assert "nine hours" in answer.answer
        assert answer.sources
        assert {source.video_id for source in answer.sources} == {video_id}

        # An error comes back as the one error model, its code a plain string.
        missing = ask.sync(
            client=client,
            body=models.ChatRequest(message="Anything?", video_ids=["zzzzzzzzzzz"]),
        )
        assert isinstance(missing, models.ErrorResponse), missing
        assert missing.error.code == "video_not_found"

        ended = end_session.sync_detailed(client=client)
        assert ended.status_code == 204
        gone = current_session.sync(client=client)
        assert isinstance(gone, models.ErrorResponse), gone
        assert gone.error.code == "session_not_found"


TYPESCRIPT_USE = """\
import type { components, paths } from "./api";

type Schemas = components["schemas"];

// Optional request fields are optional: `languages` and `urls` may be left out.
const upload: Schemas["AddVideosRequest"] = {
  transcripts: [{ format: "text", content: "We agreed to ship on Friday." }],
};
const byUrl: Schemas["AddVideosRequest"] = { urls: ["GJLlxj_dtq8"], languages: ["en"] };
const body: paths["/videos"]["post"]["requestBody"]["content"]["application/json"] = upload;
const question: Schemas["ChatRequest"] = { message: "When do we ship?" };
// @ts-expect-error: `message` is required (tsc fails if this is not an error)
const noMessage: Schemas["ChatRequest"] = {};

type Created = paths["/sessions"]["post"]["responses"][201]["content"]["application/json"];
function sessionIdOf(session: Created): string {
  return session.session_id;
}
function codeOf(failure: Schemas["ErrorResponse"]): string {
  return failure.error.code;
}

export { upload, byUrl, body, question, noMessage, sessionIdOf, codeOf };
"""


def test_typescript_types_compile_and_keep_optional_fields_optional(
    served_document: Path, tmp_path: Path
) -> None:
    generator = node_tool("openapi-typescript")
    tsc = node_tool("tsc")
    generated = subprocess.run(
        [str(generator), str(served_document), "--output", str(tmp_path / "api.ts")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    types = (tmp_path / "api.ts").read_text(encoding="utf-8")
    request = types.split("AddVideosRequest: {", 1)[1].split("};", 1)[0]
    assert re.search(r"\blanguages\?: string\[\] \| null;", request), request
    assert re.search(r"\burls\?: string\[\];", request), request
    assert re.search(r"\btranscripts\?: ", request), request

    (tmp_path / "use.ts").write_text(TYPESCRIPT_USE, encoding="utf-8")
    compiled = subprocess.run(
        [
            str(tsc),
            "--noEmit",
            "--strict",
            "--skipLibCheck",
            "--target",
            "es2022",
            "--module",
            "esnext",
            "--moduleResolution",
            "bundler",
            "api.ts",
            "use.ts",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
