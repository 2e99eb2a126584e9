"""Loading the app object, indexing its functions, and the startup listing."""

from __future__ import annotations

from datetime import UTC, datetime

import azure.functions as func
import pytest
from azurefunctions.extensions.http.fastapi import PlainTextResponse, Request, Response

from local_host.discovery import AppLoadError, discover_functions, load_app
from local_host.server import format_functions
from local_host.timers import prepare_timers
from tests.local_host import toy_app


def _app() -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

    @app.route(route="/lead/{id}/", methods=["get", "POST"])
    async def lead(req: Request) -> Response:
        return PlainTextResponse("x")

    @app.route()
    async def defaulted(req: Request) -> Response:
        return PlainTextResponse("x")

    @app.route(route="other", trigger_arg_name="request", auth_level=func.AuthLevel.ANONYMOUS)
    async def other(request: Request) -> Response:
        return PlainTextResponse("x")

    @app.route(route="classic")
    def classic(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("x")

    @app.route(route="sync")
    def sync(req: Request) -> Response:
        return PlainTextResponse("x")

    @app.route(route="pages/{page?}")
    async def optional(req: Request) -> Response:
        return PlainTextResponse("x")

    @app.queue_trigger(arg_name="msg", queue_name="q", connection="AzureWebJobsStorage")
    def queued(msg: func.QueueMessage) -> None:
        return None

    @app.timer_trigger(schedule="0 */5 * * * *", arg_name="tick")
    def ticker(tick: func.TimerRequest) -> None:
        return None

    return app


def test_catalog() -> None:
    catalog = discover_functions(_app())
    http = {f.name: f for f in catalog.http}
    assert set(http) == {"lead", "defaulted", "other"}
    assert http["lead"].methods == frozenset({"GET", "POST"})
    assert http["lead"].route == "lead/{id}"
    assert http["defaulted"].route == "defaulted"
    assert http["defaulted"].methods is None
    assert http["other"].arg_name == "request"
    (timer,) = catalog.timers
    assert (timer.name, timer.schedule, timer.run_on_startup, timer.arg_name) == (
        "ticker",
        "0 */5 * * * *",
        False,
        "tick",
    )
    unsupported = dict(catalog.unsupported)
    assert unsupported.keys() == {"classic", "sync", "optional", "queued"}
    assert "not an HTTP-streams function" in unsupported["classic"]
    assert "not an HTTP-streams function" in unsupported["sync"]
    assert "route 'pages/{page?}'" in unsupported["optional"]
    assert unsupported["queued"] == "queueTrigger"


def test_load_app() -> None:
    assert load_app("tests.local_host.toy_app:app") is toy_app.app
    assert load_app("tests.local_host.toy_app") is toy_app.app


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "invalid app spec"),
        ("no_such_module_xyz:app", "cannot import"),
        ("tests.local_host.toy_app:missing", "no attribute"),
        ("tests.local_host.toy_app:TIMER_CALLS", "not a FunctionApp"),
        ("tests.local_host.toy_app:classic.x", "no attribute"),
    ],
)
def test_load_app_errors(spec: str, message: str) -> None:
    with pytest.raises(AppLoadError, match=message):
        load_app(spec)


def test_startup_listing() -> None:
    catalog = discover_functions(_app())
    timers = prepare_timers(catalog.timers, {})
    now = datetime(2024, 1, 1, 0, 1, 0, tzinfo=UTC)
    text = format_functions(catalog, timers, "http://127.0.0.1:7071", "api", now)
    assert "        lead: [GET,POST] http://127.0.0.1:7071/api/lead/{id}" in text
    assert "        defaulted: [ANY] http://127.0.0.1:7071/api/defaulted" in text
    assert (
        "ticker: timerTrigger - schedule '0 */5 * * * *' (UTC), next 2024-01-01T00:05:00Z" in text
    )
    assert "queued: queueTrigger - not supported" in text
    assert "classic: httpTrigger (not an HTTP-streams function" in text
    no_prefix = format_functions(catalog, timers, "http://localhost:8080", "", now)
    assert "other: [ANY] http://localhost:8080/other" in no_prefix


def test_startup_listing_marks_unresolved_timers() -> None:
    catalog = discover_functions(toy_app.app)
    text = format_functions(catalog, [], "http://h:1", "api")
    assert "toy_timer: timerTrigger - schedule '%TOY_TIMER_SCHEDULE%' unresolved" in text


def test_startup_listing_shows_methods_a_dispatching_function_declares() -> None:
    from local_host.discovery import FunctionCatalog, HttpFunction
    from tests.helpers import http_functions_by_route

    # The app's functions take every method and dispatch themselves (get_functions() can run
    # only once per process, so the catalog is built from the shared test index).
    http = tuple(
        HttpFunction(str(f.get_function_name()), route, None, "req", f.get_user_function())
        for route, f in http_functions_by_route().items()
    )
    text = format_functions(FunctionCatalog(http, (), ()), [], "http://h:1", "api")
    assert "        sessions_current: [DELETE,GET] http://h:1/api/sessions/current" in text
    assert "        videos: [GET,POST] http://h:1/api/videos" in text
