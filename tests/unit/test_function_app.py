"""The function app indexes with no settings and no database, and registers what API.md lists."""

import json
import subprocess
import sys

from azure.functions.decorators.http import HttpTrigger

from tests.conftest import PROJECT_ROOT
from tests.helpers import registered_functions

INDEX_SCRIPT = """
import json, sys
import function_app
functions = []
for f in function_app.app.get_functions():
    t = f.get_trigger()
    functions.append({
        "name": f.get_function_name(),
        "type": type(t).__name__,
        "route": getattr(t, "route", None),
        "schedule": getattr(t, "schedule", None),
        "run_on_startup": getattr(t, "run_on_startup", None),
        "allowed": list(getattr(f.get_user_function(), "allowed_methods", ())),
    })
heavy = [m for m in ("langchain_openai", "openai", "langchain_core", "sqlalchemy", "psycopg",
                       "pgvector", "alembic")
         if m in sys.modules]
print(json.dumps({"functions": functions, "heavy": heavy}))
"""


def _index(env: dict[str, str]) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", INDEX_SCRIPT],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


def test_imports_with_an_empty_environment_and_registers_every_function() -> None:
    indexed = _index({})  # not even PATH: no setting, no database
    by_name = {f["name"]: f for f in indexed["functions"]}
    assert by_name["sessions"] == {
        "name": "sessions",
        "type": "HttpTrigger",
        "route": "sessions",
        "schedule": None,
        "run_on_startup": None,
        "allowed": ["POST"],
    }
    assert by_name["sessions_current"]["route"] == "sessions/current"
    assert by_name["sessions_current"]["allowed"] == ["DELETE", "GET"]
    routes = {name: (f["route"], f["allowed"]) for name, f in by_name.items() if f["route"]}
    assert routes == {
        "sessions": ("sessions", ["POST"]),
        "sessions_current": ("sessions/current", ["DELETE", "GET"]),
        "videos": ("videos", ["GET", "POST"]),
        "video": ("videos/{video_id}", ["DELETE"]),
        "chat": ("chat", ["POST"]),
        "chat_messages": ("chat/messages", ["DELETE", "GET"]),
        "health": ("health", ["GET"]),
        "getorcreatesession": ("getorcreatesession", ["POST"]),
        "savevideotranscript": ("savevideotranscript", ["POST"]),
        "getinference": ("getinference", ["POST"]),
        "getchatmessagehistory": ("getchatmessagehistory", ["GET"]),
        "getvideos": ("getvideos", ["GET"]),
        "ui": ("ui", ["GET"]),
        "openapi": ("openapi.json", ["GET"]),
    }
    timer = by_name["session_expire_timer"]
    assert timer["type"] == "TimerTrigger"
    assert timer["schedule"] == "%SESSION_CLEANUP_SCHEDULE%"
    assert timer["run_on_startup"] is False
    # Heavy or connection-making libraries are not imported at indexing time.
    assert indexed["heavy"] == []


def test_garbage_settings_do_not_break_indexing() -> None:
    indexed = _index(
        {
            "PG_VECTOR_CONNECTION_STRING": "::not a url::",
            "SESSION_EXPIRE_MINUTES": "-3",
            "SESSION_CLEANUP_RUN_ON_STARTUP": "perhaps",
            "LLM_PROVIDER": "nonsense",
        }
    )
    assert {f["name"] for f in indexed["functions"]} >= {"sessions", "session_expire_timer"}


def test_run_on_startup_follows_the_setting_at_indexing_time() -> None:
    indexed = _index({"SESSION_CLEANUP_RUN_ON_STARTUP": "true"})
    timer = next(f for f in indexed["functions"] if f["name"] == "session_expire_timer")
    assert timer["run_on_startup"] is True


def test_http_functions_are_anonymous_and_accept_every_method_for_json_405s() -> None:
    for function in registered_functions().values():
        trigger = function.get_trigger()
        if isinstance(trigger, HttpTrigger):
            assert trigger.methods is None, function.get_function_name()
            assert str(trigger.auth_level).lower().endswith("anonymous")
