"""Deployment helpers shared by deploy.sh, the azd hook and the deploy workflow (stdlib only).

python DeployResources/deploytool.py package --output app.zip [--exclude PATTERN ...]
    Zip the function app the way Core Tools does: everything under the project root except
    what .funcignore (gitignore syntax) excludes. `.azure/` (azd's environments, which hold
    secrets) and the output file itself are never packaged.
python DeployResources/deploytool.py parameters --output params.json
    Render main.parameters.json for `az deployment group create`: `${VAR}` and `${VAR=default}`
    placeholders are replaced from the environment, as azd does. The output is private (0600).
python DeployResources/deploytool.py pg-url --host H --database D --user U
    Print a PostgreSQL URL for the migrations. The password is read from the environment
    (POSTGRES_ADMIN_PASSWORD), never from the command line, and is percent-encoded.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEPLOY_DIR = Path(__file__).resolve().parent
ALWAYS_EXCLUDED = (".azure/",)
PASSWORD_VARIABLE = "POSTGRES_ADMIN_PASSWORD"  # noqa: S105 (a variable name, not a password)


# --------------------------------------------------------------------------------------------
# .funcignore (gitignore syntax)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IgnoreRule:
    """One line of a gitignore-style file."""

    pattern: str
    regex: re.Pattern[str]
    negated: bool
    directory_only: bool


def _glob_to_regex(glob: str) -> str:
    """Translate a gitignore glob (relative, '/'-separated) into a regular expression."""
    out: list[str] = []
    i = 0
    while i < len(glob):
        char = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("/**", i) and i + 3 == len(glob):
            out.append("/.*")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            end = glob.find("]", i + 2)
            if end == -1:
                out.append(re.escape(char))
                i += 1
                continue
            body = glob[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        elif char == "\\" and i + 1 < len(glob):
            out.append(re.escape(glob[i + 1]))
            i += 2
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out)


def parse_ignore_rules(text: str) -> list[IgnoreRule]:
    """The rules of a .funcignore/.gitignore file, in order (the last match wins)."""
    rules: list[IgnoreRule] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        if negated:
            line = line[1:]
        if line.startswith("\\"):
            line = line[1:]
        directory_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        line = line.lstrip("/")
        regex = _glob_to_regex(line)
        if not anchored:
            regex = "(?:.*/)?" + regex
        rules.append(IgnoreRule(raw.strip(), re.compile(regex), negated, directory_only))
    return rules


def is_ignored(rules: Sequence[IgnoreRule], relative_path: str, is_dir: bool) -> bool:
    """Whether `relative_path` ('/'-separated, relative to the root) is excluded by `rules`."""
    ignored = False
    for rule in rules:
        if rule.directory_only and not is_dir:
            continue
        if rule.regex.fullmatch(relative_path):
            ignored = not rule.negated
    return ignored


def package_files(root: Path, rules: Sequence[IgnoreRule]) -> Iterator[str]:
    """Relative paths of the files to package, sorted. An excluded folder is never entered."""
    for directory, dirnames, filenames in os.walk(root):
        base = Path(directory).relative_to(root).as_posix()
        prefix = "" if base == "." else base + "/"
        dirnames[:] = sorted(d for d in dirnames if not is_ignored(rules, prefix + d, True))
        for name in sorted(filenames):
            if not is_ignored(rules, prefix + name, False):
                yield prefix + name


def build_package(root: Path, output: Path, extra_excludes: Sequence[str] = ()) -> list[str]:
    """Zip the function app under `root` into `output`; returns the packaged paths."""
    ignore_file = root / ".funcignore"
    text = ignore_file.read_text(encoding="utf-8") if ignore_file.exists() else ""
    rules = parse_ignore_rules("\n".join([text, *ALWAYS_EXCLUDED, *extra_excludes]))
    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    packaged: list[str] = []
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative in package_files(root, rules):
            path = root / relative
            if path.resolve() == output:
                continue
            archive.write(path, arcname=relative)
            packaged.append(relative)
    if "host.json" not in packaged:
        raise SystemExit(f"{root}: host.json is not in the package (wrong root or .funcignore)")
    return packaged


# --------------------------------------------------------------------------------------------
# main.parameters.json placeholders
# --------------------------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:=([^}]*))?\}")


def substitute(value: str, environ: Mapping[str, str]) -> str:
    """Replace `${VAR}` (empty when unset) and `${VAR=default}` (default when unset)."""

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        return default if default is not None else ""

    return PLACEHOLDER.sub(replace, value)


def _substitute_tree(node: object, environ: Mapping[str, str]) -> object:
    if isinstance(node, str):
        return substitute(node, environ)
    if isinstance(node, list):
        return [_substitute_tree(item, environ) for item in node]
    if isinstance(node, dict):
        return {key: _substitute_tree(item, environ) for key, item in node.items()}
    return node


def render_parameters(template: Path, environ: Mapping[str, str]) -> dict[str, object]:
    """The parameters file with its placeholders filled in. Parameters whose value comes out
    empty are dropped, so that the template's default applies; so are the empty entries of an
    object value (appSettingOverrides: an app setting whose variable is not set keeps its
    default, as the template itself does for azd, which passes them empty)."""
    document = json.loads(template.read_text(encoding="utf-8"))
    rendered = _substitute_tree(document, environ)
    parameters = rendered.get("parameters") if isinstance(rendered, dict) else None
    if not isinstance(rendered, dict) or not isinstance(parameters, dict):
        raise ValueError(f"{template}: not a deployment parameters file")
    kept: dict[str, object] = {}
    for name, entry in parameters.items():
        if isinstance(entry, dict) and isinstance(entry.get("value"), dict):
            entry = {**entry, "value": {k: v for k, v in entry["value"].items() if v != ""}}
        if not (isinstance(entry, dict) and entry.get("value") == ""):
            kept[name] = entry
    rendered["parameters"] = kept
    return rendered


def write_private_json(path: Path, document: object) -> None:
    """Write JSON readable by the owner only (it may hold secrets)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
    os.chmod(path, 0o600)


# --------------------------------------------------------------------------------------------
# PostgreSQL URL
# --------------------------------------------------------------------------------------------


def postgres_url(host: str, database: str, user: str, password: str, port: int = 5432) -> str:
    """A `postgresql://` URL with user and password percent-encoded, TLS required."""
    credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
    return f"postgresql://{credentials}@{host}:{port}/{quote(database, safe='')}?sslmode=require"


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)

    package = commands.add_parser("package", help="zip the app, honoring .funcignore")
    package.add_argument("--root", type=Path, default=PROJECT_ROOT)
    package.add_argument("--output", type=Path, required=True)
    package.add_argument("--exclude", action="append", default=[], help="extra pattern")
    package.add_argument("--list", action="store_true", help="print the packaged paths")

    parameters = commands.add_parser("parameters", help="render main.parameters.json")
    parameters.add_argument("--template", type=Path, default=DEPLOY_DIR / "main.parameters.json")
    parameters.add_argument("--output", type=Path, required=True)

    pg_url = commands.add_parser("pg-url", help="print the migrations' database URL")
    pg_url.add_argument("--host", required=True)
    pg_url.add_argument("--database", required=True)
    pg_url.add_argument("--user", required=True)
    pg_url.add_argument("--port", type=int, default=5432)

    args = parser.parse_args(argv)
    if args.command == "package":
        packaged = build_package(args.root.resolve(), args.output, args.exclude)
        if args.list:
            print("\n".join(packaged))
        print(f"{args.output}: {len(packaged)} files", file=sys.stderr)
    elif args.command == "parameters":
        write_private_json(args.output, render_parameters(args.template, os.environ))
    else:
        password = os.environ.get(PASSWORD_VARIABLE, "")
        if not password:
            print(f"{PASSWORD_VARIABLE} is not set", file=sys.stderr)
            return 2
        print(postgres_url(args.host, args.database, args.user, password, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
