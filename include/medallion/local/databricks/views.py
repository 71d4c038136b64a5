"""JSON bodies of runs and task runs as the Jobs API returns them."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from medallion.local.databricks.model import Run, TaskRun


class RunViews:
    """``runs/get`` and ``runs/list`` bodies of runs and task runs, with their page URLs."""

    def __init__(self, base_url: Callable[[], str]) -> None:
        self._base_url = base_url

    def page_url(self, job_id: int, run_id: int) -> str:
        return f"{self._base_url()}/#job/{job_id}/run/{run_id}"

    def run_json(self, run: Run, with_tasks: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "job_id": run.job_id,
            "run_id": run.run_id,
            "original_attempt_run_id": run.run_id,
            "number_in_job": run.number_in_job,
            "creator_user_name": "local-emulator",
            "run_name": run.run_name,
            "run_page_url": self.page_url(run.job_id, run.run_id),
            "run_type": run.run_type,
            "format": "MULTI_TASK",
            "trigger": "ONE_TIME",
            "attempt_number": 0,
            "state": run.state.as_dict(),
            "status": run.state.status(),
            "job_clusters": copy.deepcopy(run.job_clusters),
            **_timing(run.start_time, run.exec_start, run.end_time),
        }
        if with_tasks:
            body["tasks"] = [self.task_json(run, t) for t in run.tasks]
        if run.git_source:
            body["git_source"] = copy.deepcopy(run.git_source)
        if run.overriding_parameters:
            body["overriding_parameters"] = copy.deepcopy(run.overriding_parameters)
        return body

    def task_json(self, run: Run, task: TaskRun) -> dict[str, Any]:
        spec = copy.deepcopy(task.spec)
        body: dict[str, Any] = {
            **{k: v for k, v in spec.items() if k not in ("max_retries", "min_retry_interval_millis")},
            "run_id": task.run_id,
            "task_key": task.task_key,
            "attempt_number": task.attempt_number,
            "run_page_url": self.page_url(run.job_id, task.run_id),
            "state": task.state.as_dict(),
            "status": task.state.status(),
            "depends_on": spec.get("depends_on") or [],
            "run_if": str(spec.get("run_if") or "ALL_SUCCESS"),
            **_timing(task.start_time, task.exec_start, task.end_time),
        }
        if task.cluster_id:
            body["cluster_instance"] = {"cluster_id": task.cluster_id, "spark_context_id": str(task.run_id)}
        return body

    def task_run_as_run(self, run: Run, task: TaskRun) -> dict[str, Any]:
        """``runs/get`` on a task run id: that task as a run, listing itself in ``tasks``."""
        task_body = self.task_json(run, task)
        return {
            **task_body,
            "job_id": run.job_id,
            "parent_run_id": run.run_id,
            "original_attempt_run_id": task.run_id,
            "run_name": task.task_key,
            "run_type": run.run_type,
            "creator_user_name": "local-emulator",
            "format": "MULTI_TASK",
            "job_clusters": copy.deepcopy(run.job_clusters),
            "tasks": [task_body],
        }


def _timing(start: int, exec_start: int, end: int) -> dict[str, int]:
    setup = max(exec_start - start, 0) if exec_start else 0
    execution = max(end - exec_start, 0) if exec_start and end else 0
    return {
        "start_time": start,
        "end_time": end,
        "setup_duration": setup,
        "execution_duration": execution,
        "cleanup_duration": 0,
        "run_duration": max(end - start, 0) if end else 0,
    }
