"""The task graph of a run (order, ``run_if``, outcome) and the task list a request body stands for."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from medallion.local.databricks.model import (
    CANCELED_RESULTS,
    FAILED_RESULTS,
    LEGACY_TASK_FIELDS,
    SUCCESS_RESULTS,
    Run,
    State,
    TaskRun,
    invalid,
    str_dict,
)


def task_order(tasks: list[dict[str, Any]]) -> list[str]:
    """Validate task keys and dependencies and return a topological order (declaration-stable)."""
    keys = [t.get("task_key") for t in tasks]
    if not tasks:
        raise invalid("A run must contain at least one task.")
    if any(not k for k in keys):
        raise invalid("Every task needs a non-empty task_key.")
    if len(set(keys)) != len(keys):
        raise invalid(f"Duplicate task_key in {keys}.")
    deps = {t["task_key"]: [d.get("task_key") for d in t.get("depends_on") or []] for t in tasks}
    for key, upstream in deps.items():
        unknown = [d for d in upstream if d not in deps]
        if unknown:
            raise invalid(f"Task {key} depends on unknown task(s) {unknown}.")
    order: list[str] = []
    while len(order) < len(keys):
        ready = [k for k in keys if k not in order and all(d in order for d in deps[k])]
        if not ready:
            cycle = [k for k in keys if k not in order]
            raise invalid(f"The task dependencies contain a cycle among {cycle}.")
        order.append(ready[0])
    return order


def validate_clusters(tasks: list[dict[str, Any]], job_clusters: list[dict[str, Any]]) -> None:
    known = {c.get("job_cluster_key") for c in job_clusters}
    for task in tasks:
        chosen = [k for k in ("new_cluster", "existing_cluster_id", "job_cluster_key") if task.get(k)]
        if len(chosen) > 1:
            raise invalid(f"Task {task['task_key']} sets more than one of {chosen}.")
        key = task.get("job_cluster_key")
        if key and key not in known:
            raise invalid(f"Task {task['task_key']} uses job_cluster_key {key!r} not in job_clusters.")


def dependency_verdict(task: TaskRun, upstream: list[TaskRun]) -> str | None:
    """``None`` when the task may run, else the result state for skipping it (``run_if`` rules)."""
    results = [u.state.result_state or "" for u in upstream]
    if not results:
        return None
    ok = [r in SUCCESS_RESULTS for r in results]
    failed = [r in FAILED_RESULTS for r in results]
    canceled = "UPSTREAM_CANCELED" if any(r in CANCELED_RESULTS for r in results) else "UPSTREAM_FAILED"
    run_if = str(task.spec.get("run_if") or "ALL_SUCCESS").upper()
    rules: dict[str, tuple[bool, str]] = {
        "ALL_SUCCESS": (all(ok), canceled),
        "ALL_DONE": (True, ""),
        "NONE_FAILED": (not any(failed), "UPSTREAM_FAILED"),
        "AT_LEAST_ONE_SUCCESS": (any(ok), canceled),
        "ALL_FAILED": (all(failed), "EXCLUDED"),
        "AT_LEAST_ONE_FAILED": (any(failed), "EXCLUDED"),
    }
    may_run, skipped_as = rules.get(run_if, rules["ALL_SUCCESS"])
    return None if may_run else skipped_as


def run_outcome(run: Run) -> State:
    """Parent state from the latest task attempts (Databricks: any failed task fails the run)."""
    latest = list(run.latest().values())
    if run.cancel_requested:
        return State("TERMINATED", "CANCELED", "Run cancelled.")
    internal = [t for t in latest if t.state.life_cycle_state == "INTERNAL_ERROR"]
    if internal:
        first = internal[0].state
        return State("INTERNAL_ERROR", "FAILED", first.state_message, first.termination)
    for result in ("FAILED", "TIMEDOUT", "CANCELED", "UPSTREAM_FAILED"):
        hit = [t for t in latest if t.state.result_state == result]
        if hit:
            keys = ", ".join(t.task_key for t in hit)
            return State(
                "TERMINATED",
                "FAILED" if result == "UPSTREAM_FAILED" else result,
                f"{len(hit)} of {len(latest)} tasks ended {result}: {keys}. "
                "Retrieve the output of each task run for details.",
            )
    return State("TERMINATED", "SUCCESS", "")


def merge_settings(old: dict[str, Any], new: dict[str, Any], remove: Iterable[str]) -> dict[str, Any]:
    """``jobs/update``: top-level fields are replaced, ``tasks``/``job_clusters`` merged by key."""
    merged = {**old, **new}
    for field_name, key in (("tasks", "task_key"), ("job_clusters", "job_cluster_key")):
        if field_name in old and field_name in new:
            by_key = {item[key]: item for item in old[field_name]}
            by_key.update({item[key]: item for item in new[field_name]})
            merged[field_name] = list(by_key.values())
    for name in remove:
        merged.pop(name, None)
    return merged


def legacy_task(body: dict[str, Any], run_name: str) -> dict[str, Any]:
    """A ``runs/submit`` body without ``tasks`` is one task keyed by ``run_name``.

    The provider's DatabricksNotebookOperator relies on that: it looks its task up by
    ``task_key == run_name`` in ``runs/get``.
    """
    task = {k: body[k] for k in LEGACY_TASK_FIELDS if k in body}
    return {"task_key": run_name, **task}


def run_now_overrides(body: dict[str, Any]) -> dict[str, Any]:
    names = ("notebook_params", "jar_params", "python_params", "spark_submit_params", "job_parameters")
    return {name: copy.deepcopy(body[name]) for name in names if body.get(name)}


def job_parameters(settings: dict[str, Any], body: dict[str, Any]) -> dict[str, str]:
    """Job-level parameters (defaults overridden by run-now ``job_parameters``) reach every task."""
    defaults = {p["name"]: p.get("default", "") for p in settings.get("parameters") or [] if "name" in p}
    return str_dict({**defaults, **(body.get("job_parameters") or {})})


def apply_params(task: dict[str, Any], notebook_params: dict[str, Any], job_params: dict[str, str]) -> dict:
    """Databricks semantics: run-now ``notebook_params`` override each notebook's ``base_parameters``."""
    task = copy.deepcopy(task)
    notebook = task.get("notebook_task")
    if notebook is not None:
        notebook["base_parameters"] = {
            **(notebook.get("base_parameters") or {}),
            **job_params,
            **str_dict(notebook_params),
        }
    return task
