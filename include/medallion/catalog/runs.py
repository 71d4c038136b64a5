"""Run state through Airflow's own models (``DagRun``, ``TaskInstance``) and the api-server's session: the
last runs of each DAG, each layer's state in them, and the failed tasks of the latest run (open alerts)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from medallion.catalog.products import LAYERS

#: A layer's state in a run: the worst of its tasks' states.
_RANK = {"failed": 3, "upstream_failed": 3, "running": 2, "queued": 2, "scheduled": 2, "up_for_retry": 2,
         "restarting": 2, "deferred": 2, "up_for_reschedule": 2, "success": 1, "skipped": 1, "removed": 0}  # fmt: skip
_WORD = {3: "failed", 2: "running", 1: "success", 0: "none"}


def task_layer(task_id: str) -> str | None:
    """``bronze.extract_orders``, ``silver_gate``, ``gold.x_run`` → their layer; preflight tasks belong to
    the layer they guard."""
    head = re.split(r"[._]", task_id, maxsplit=1)[0]
    return head if head in LAYERS else None


@dataclass
class RunInfo:
    run_id: str
    state: str
    logical_date: dt.datetime | None
    end_date: dt.datetime | None
    layers: dict[str, str] = field(default_factory=dict)  # layer → failed|running|success|none
    failed_tasks: list[str] = field(default_factory=list)

    @property
    def ds(self) -> str | None:
        return self.logical_date.date().isoformat() if self.logical_date else None


def last_runs(session: Any, dag_ids: list[str], per_dag: int) -> dict[str, list[RunInfo]]:
    """The ``per_dag`` latest runs of each DAG (newest first), with each layer's state: two queries in all."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import func, select, tuple_

    if not dag_ids:
        return {}
    rank = func.row_number().over(partition_by=DagRun.dag_id, order_by=DagRun.run_after.desc()).label("rank")
    inner = select(DagRun.dag_id, DagRun.run_id, DagRun.state, DagRun.logical_date, DagRun.end_date, rank).where(
        DagRun.dag_id.in_(dag_ids)
    )
    sub = inner.subquery()
    rows = session.execute(select(sub).where(sub.c.rank <= per_dag).order_by(sub.c.dag_id, sub.c.rank)).all()
    runs: dict[str, list[RunInfo]] = {}
    by_key: dict[tuple[str, str], RunInfo] = {}
    for dag_id, run_id, state, logical_date, end_date, _ in rows:
        info = RunInfo(run_id, str(state or "none"), logical_date, end_date)
        runs.setdefault(dag_id, []).append(info)
        by_key[(dag_id, run_id)] = info
    if not by_key:
        return runs
    ranks: dict[tuple[str, str, str], int] = {}
    tis = session.execute(
        select(TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.state).where(
            tuple_(TaskInstance.dag_id, TaskInstance.run_id).in_(list(by_key))
        )
    ).all()
    for dag_id, run_id, task_id, state in tis:
        info = by_key[(dag_id, run_id)]
        if str(state) == "failed":
            info.failed_tasks.append(task_id)
        layer = task_layer(task_id)
        if layer:
            key = (dag_id, run_id, layer)
            ranks[key] = max(ranks.get(key, 0), _RANK.get(str(state), 0))
    for (dag_id, run_id, layer), value in ranks.items():
        by_key[(dag_id, run_id)].layers[layer] = _WORD[value]
    for info in by_key.values():
        info.failed_tasks.sort()
    return runs


def silver_job(session: Any, dag_id: str, run_ids: list[str]) -> dict[str, Any] | None:
    """``{job_id, run_id}`` of the Databricks job the newest of ``run_ids`` launched (``silver.launch``'s XCom)."""
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    if not run_ids:
        return None
    rows = session.execute(
        select(XComModel.run_id, XComModel.value).where(
            XComModel.dag_id == dag_id,
            XComModel.task_id == "silver.launch",
            XComModel.key == "return_value",
            XComModel.run_id.in_(run_ids),
        )
    ).all()
    values = {run_id: value for run_id, value in rows}
    for run_id in run_ids:  # newest first
        value = values.get(run_id)
        if isinstance(value, str):
            import json

            value = json.loads(value)
        if isinstance(value, dict) and value.get("job_id") is not None:
            return value
    return None
