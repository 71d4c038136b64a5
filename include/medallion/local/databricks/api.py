"""Jobs API routes (2.1 and 2.2 share them): request parameters to engine operations."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from medallion.local.databricks.engine import Engine
from medallion.local.databricks.model import API_VERSIONS, ApiError, bool_param, int_param

Route = Callable[[Engine, dict[str, Any]], dict[str, Any]]


def _list_jobs(engine: Engine, p: dict[str, Any]) -> dict[str, Any]:
    limit = max(1, min(int(p.get("limit") or 20), 100))
    offset = int(p.get("page_token") or p.get("offset") or 0)
    return engine.list_jobs(p.get("name") or None, bool_param(p, "expand_tasks"), offset, limit)


ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "jobs/runs/submit"): lambda e, p: e.submit_run(p),
    ("GET", "jobs/runs/get"): lambda e, p: e.get_run(int_param(p, "run_id")),
    ("GET", "jobs/runs/get-output"): lambda e, p: e.get_run_output(int_param(p, "run_id")),
    ("POST", "jobs/runs/cancel"): lambda e, p: e.cancel_run(int_param(p, "run_id")),
    ("POST", "jobs/runs/cancel-all"): lambda e, p: e.cancel_all_runs(int_param(p, "job_id")),
    ("GET", "jobs/runs/list"): lambda e, p: e.list_runs(p),
    ("POST", "jobs/create"): lambda e, p: e.create_job(p),
    ("POST", "jobs/reset"): lambda e, p: e.reset_job(int_param(p, "job_id"), p.get("new_settings") or {}),
    ("POST", "jobs/update"): lambda e, p: e.update_job(
        int_param(p, "job_id"), p.get("new_settings") or {}, p.get("fields_to_remove") or []
    ),
    ("POST", "jobs/delete"): lambda e, p: e.delete_job(int_param(p, "job_id")),
    ("GET", "jobs/get"): lambda e, p: e.get_job(int_param(p, "job_id")),
    ("GET", "jobs/list"): _list_jobs,
    ("POST", "jobs/run-now"): lambda e, p: e.run_now(p),
}


def find_route(method: str, path: str) -> Route:
    """The operation for ``/api/<2.1|2.2>/jobs/...``; ENDPOINT_NOT_FOUND (404) for anything else."""
    parts = path.split("/", 3)  # "", "api", "2.2", "jobs/..."
    route = None
    if len(parts) == 4 and parts[1] == "api" and parts[2] in API_VERSIONS:
        route = ROUTES.get((method, parts[3]))
    if route is None:
        raise ApiError(HTTPStatus.NOT_FOUND, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {path}'")
    return route
