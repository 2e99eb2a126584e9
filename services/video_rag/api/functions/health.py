"""Liveness and readiness."""

from __future__ import annotations

import azure.functions as func

from services.video_rag.api.http import error_body, json_response
from services.video_rag.api.openapi import HEALTH_UNAVAILABLE
from services.video_rag.api.routes import Operation, Reply, Route, register
from services.video_rag.api.schemas import (
    HealthCheck,
    HealthChecks,
    HealthResponse,
    MigrationCheck,
    SettingProblemOut,
    SettingsCheck,
)
from services.video_rag.bootstrap import get_dependencies
from services.video_rag.service.health import HealthReport, check_health

bp = func.Blueprint()


def get_health(req: func.HttpRequest) -> func.HttpResponse:
    report = check_health(get_dependencies())
    body = HealthResponse(
        status="ok" if report.ready else "unavailable",
        checks=HealthChecks(
            database=HealthCheck(ok=report.database_ok, message=report.database_message),
            migrations=MigrationCheck(
                ok=report.schema_ok, current=report.schema_revision, head=report.head_revision
            ),
            settings=SettingsCheck(
                ok=not report.problems,
                problems=[
                    SettingProblemOut(setting=p.name, message=p.message) for p in report.problems
                ],
            ),
        ),
        provider=report.provider,
    ).model_dump(mode="json")
    if report.ready:
        return json_response(body)
    code, message = _failure(report)
    return json_response({**body, **error_body(code, message)}, 503)


def _failure(report: HealthReport) -> tuple[str, str]:
    if not report.database_ok:
        return "database_unavailable", f"database: {report.database_message}"
    if not report.schema_ok:
        return "database_unavailable", (
            f"database schema is at {report.schema_revision or 'nothing'}, "
            f"not {report.head_revision}: run `alembic upgrade head`"
        )
    names = ", ".join(problem.name for problem in report.problems)
    return "configuration_error", f"invalid or missing settings: {names}"


ROUTES = (
    Route(
        "health",
        "/health",
        "meta",
        Operation(
            "GET",
            get_health,
            "getHealth",
            "Liveness and readiness",
            replies=(
                Reply(
                    200,
                    "Ready: database reachable, schema at head, settings valid.",
                    HealthResponse,
                ),
                Reply(503, "Not ready: the report says which check failed.", HEALTH_UNAVAILABLE),
            ),
            session="none",
        ),
    ),
)
register(bp, ROUTES)
