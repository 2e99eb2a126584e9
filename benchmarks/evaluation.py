"""Answer-quality evaluation: the labelled questions of tests/eval/data (five transcripts of about
five minutes, questions of six kinds) asked through the real HTTP API, scored per kind.

By default the local host (`python -m local_host`, a subprocess) serves the app against a fresh
migrated database with the offline provider (no key, no network) and no chat rate limit; with
`--base-url` the questions go to a server that is already running (any provider; its rate limit
is waited out). Either way one fresh session holds the transcripts, and it is ended afterwards.
What each column means is in tests/eval/scorer.py.

    python -m benchmarks.evaluation [--base-url http://localhost:7071/api] [--details]
                                    [--json figures.json] [--provider-from-env]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Final

from benchmarks.common import LIMITS_OFF, local_host, migrated_database
from tests.eval.scorer import run_evaluation

# App settings copied from this environment with --provider-from-env.
_PROVIDER_PREFIXES: Final = ("LLM_", "OPENAI", "AZURE_OPENAI", "CHAT_MODEL", "EMBEDDING_")


def run(
    base_url: str | None = None, *, details: bool = False, provider_from_env: bool = False
) -> dict[str, Any]:
    """Run the evaluation against `base_url`, or against a local host of its own; print the
    table and return the figures (see tests.eval.scorer.run_evaluation)."""
    if base_url is not None:
        return run_evaluation(base_url, details=details)
    settings = {
        "LLM_PROVIDER": "offline",
        **LIMITS_OFF,
        "SESSION_EXPIRE_MINUTES": "120",
    }
    if provider_from_env:
        settings.pop("LLM_PROVIDER")
        settings.update({k: v for k, v in os.environ.items() if k.startswith(_PROVIDER_PREFIXES)})
    with (
        migrated_database() as database_url,
        tempfile.TemporaryDirectory(prefix="eval-host-") as tmp,
    ):
        settings["PG_VECTOR_CONNECTION_STRING"] = database_url
        log = Path(tmp) / "host.log"
        with local_host(settings, log) as base:
            return run_evaluation(base, details=details)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--base-url", help="a running server's API root, e.g. http://localhost:7071/api"
    )
    parser.add_argument(
        "--details", action="store_true", help="also list each question that did not pass"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument(
        "--provider-from-env",
        action="store_true",
        help="own local host only: take the LLM_*, OPENAI*, AZURE_OPENAI*, CHAT_MODEL and "
        "EMBEDDING_* settings from this environment instead of the offline provider",
    )
    args = parser.parse_args()
    if args.base_url and args.provider_from_env:
        parser.error("--provider-from-env applies to the evaluation's own local host only")
    figures = run(args.base_url, details=args.details, provider_from_env=args.provider_from_env)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
