"""Jobs and runs of the emulator and the Jobs API operations on them (the worker runs them)."""

from __future__ import annotations

import copy
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any

from medallion.duck import S3Settings
from medallion.local.databricks.model import ApiError, Job, Run, State, TaskRun, bool_param, int_param, invalid
from medallion.local.databricks.tasks import (
    apply_params,
    job_parameters,
    legacy_task,
    merge_settings,
    run_now_overrides,
    run_outcome,
    task_order,
    validate_clusters,
)
from medallion.local.databricks.views import RunViews
from medallion.local.databricks.worker import RunWorker

log = logging.getLogger(__name__)


class Engine(RunWorker):
    """Jobs, runs and the worker that executes them; every public method is thread-safe."""

    def __init__(
        self,
        *,
        project_dir: Path,
        workspace_root: str,
        lakehouse_path: Path,
        s3: S3Settings | None,
        base_url: Callable[[], str],
        cluster_start_seconds: float,
    ) -> None:
        self.project_dir = Path(project_dir)
        self.cluster_start_seconds = cluster_start_seconds
        self.workspace_root = workspace_root.rstrip("/") or "/"
        self.lakehouse_path = Path(lakehouse_path)
        self.s3 = s3
        self._views = RunViews(base_url)
        self._lock = threading.RLock()
        self._ids = itertools.count(int(time.time()) % 100_000 * 1000 + 1)
        self._jobs: dict[int, Job] = {}
        self._runs: dict[int, Run] = {}
        self._task_runs: dict[int, tuple[Run, TaskRun]] = {}
        self._idempotency: dict[str, int] = {}
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None
        self._fail_next_cluster_start = False
        self._counters = dict.fromkeys(("cluster_launches", "cluster_launch_failures", "runs", "notebooks_executed"), 0)

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self._worker = threading.Thread(target=self._work, name="databricks-emulator-worker", daemon=True)
        self._worker.start()

    @property
    def stopped(self) -> bool:
        return self._stopping.is_set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._queue.put(None)
        if self._worker is not None:
            self._worker.join(timeout)

    # ----------------------------------------------------------------- faults & stats

    def set_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if body.get("clear"):
                self._fail_next_cluster_start = False
            if "cluster_start_failure" in body:
                self._fail_next_cluster_start = bool(body["cluster_start_failure"])
            return {"cluster_start_failure": self._fail_next_cluster_start}

    def stats(self) -> dict[str, Any]:
        with self._lock:
            active = sum(1 for r in self._runs.values() if not r.state.terminal)
            return {**self._counters, "active_runs": active, "jobs": len(self._jobs)}

    # ----------------------------------------------------------------- jobs

    def create_job(self, settings: dict[str, Any]) -> dict[str, Any]:
        settings = self._validated_settings(settings)
        with self._lock:
            job = Job(next(self._ids), settings)
            self._jobs[job.job_id] = job
            return {"job_id": job.job_id}

    def reset_job(self, job_id: int, new_settings: dict[str, Any]) -> dict[str, Any]:
        settings = self._validated_settings(new_settings)
        with self._lock:
            self._job(job_id).settings = settings
        return {}

    def update_job(self, job_id: int, new_settings: dict[str, Any], remove: Iterable[str]) -> dict[str, Any]:
        with self._lock:
            job = self._job(job_id)
            job.settings = self._validated_settings(merge_settings(job.settings, new_settings, remove))
        return {}

    def delete_job(self, job_id: int) -> dict[str, Any]:
        with self._lock:
            self._job(job_id)
            del self._jobs[job_id]
        return {}

    def get_job(self, job_id: int) -> dict[str, Any]:
        with self._lock:
            return self._job(job_id).as_dict()

    def list_jobs(self, name: str | None, expand_tasks: bool, offset: int, limit: int) -> dict[str, Any]:
        with self._lock:
            jobs = [
                j
                for j in sorted(self._jobs.values(), key=lambda j: j.job_id)
                if not name or str(j.settings.get("name", "")).lower() == name.lower()
            ]
            page = [j.as_dict(expand_tasks) for j in jobs[offset : offset + limit]]
        body: dict[str, Any] = {"jobs": page, "has_more": offset + limit < len(jobs)}
        if body["has_more"]:
            body["next_page_token"] = str(offset + limit)
        return body

    def _job(self, job_id: int) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise invalid(f"Job {job_id} does not exist.")
        return job

    @staticmethod
    def _validated_settings(settings: dict[str, Any]) -> dict[str, Any]:
        settings = copy.deepcopy(settings or {})
        tasks = settings.get("tasks") or []
        if tasks:
            task_order(tasks)
            validate_clusters(tasks, settings.get("job_clusters") or [])
        settings.setdefault("name", "Untitled")
        return settings

    # ----------------------------------------------------------------- runs

    def run_now(self, body: dict[str, Any]) -> dict[str, Any]:
        job_id = int_param(body, "job_id")
        with self._lock:
            token = body.get("idempotency_token")
            if token and token in self._idempotency:
                return self._run_ids(self._idempotency[token])
            job = self._job(job_id)
            settings = copy.deepcopy(job.settings)
            if not settings.get("tasks"):
                raise invalid(f"Job {job_id} has no tasks to run.")
            overrides = run_now_overrides(body)
            params = job_parameters(settings, body)
            notebook_params = overrides.get("notebook_params", {})
            tasks = [apply_params(t, notebook_params, params) for t in settings["tasks"]]
            job.runs_started += 1
            run = self._new_run(
                job_id=job_id,
                run_name=str(settings.get("name")),
                run_type="JOB_RUN",
                tasks=tasks,
                settings=settings,
                number_in_job=job.runs_started,
                overriding_parameters=overrides,
            )
            if token:
                self._idempotency[token] = run.run_id
            return self._run_ids(run.run_id)

    def submit_run(self, body: dict[str, Any]) -> dict[str, Any]:
        body = copy.deepcopy(body)
        run_name = str(body.get("run_name") or "Untitled")
        tasks = body.get("tasks") or [legacy_task(body, run_name)]
        task_order(tasks)
        validate_clusters(tasks, body.get("job_clusters") or [])
        with self._lock:
            token = body.get("idempotency_token")
            if token and token in self._idempotency:
                return {"run_id": self._idempotency[token]}
            run = self._new_run(
                job_id=next(self._ids),
                run_name=run_name,
                run_type="SUBMIT_RUN",
                tasks=tasks,
                settings=body,
            )
            if token:
                self._idempotency[token] = run.run_id
            return {"run_id": run.run_id}

    def _run_ids(self, run_id: int) -> dict[str, Any]:
        return {"run_id": run_id, "number_in_job": self._runs[run_id].number_in_job}

    def _new_run(
        self,
        *,
        job_id: int,
        run_name: str,
        run_type: str,
        tasks: list[dict[str, Any]],
        settings: dict[str, Any],
        number_in_job: int = 1,
        overriding_parameters: dict[str, Any] | None = None,
    ) -> Run:
        order = task_order(tasks)
        by_key = {t["task_key"]: t for t in tasks}
        run = Run(
            run_id=next(self._ids),
            job_id=job_id,
            run_name=run_name,
            run_type=run_type,
            tasks=[TaskRun(next(self._ids), by_key[key]) for key in order],
            job_clusters=settings.get("job_clusters") or [],
            git_source=settings.get("git_source"),
            timeout_seconds=int(settings.get("timeout_seconds") or 0),
            number_in_job=number_in_job,
            overriding_parameters=overriding_parameters or {},
        )
        self._runs[run.run_id] = run
        for task in run.tasks:
            self._task_runs[task.run_id] = (run, task)
        self._counters["runs"] += 1
        self._queue.put(run.run_id)
        log.info("Queued %s run %s (%s) with tasks %s", run_type, run.run_id, run_name, order)
        return run

    def get_run(self, run_id: int) -> dict[str, Any]:
        with self._lock:
            if run_id in self._runs:
                return self._views.run_json(self._runs[run_id])
            run, task = self._task_run(run_id)
            return self._views.task_run_as_run(run, task)

    def get_run_output(self, run_id: int) -> dict[str, Any]:
        with self._lock:
            if run_id in self._runs:
                raise invalid(
                    "Retrieving the output of runs with multiple tasks is not supported. "
                    "Please retrieve the output of each individual task run instead."
                )
            run, task = self._task_run(run_id)
            body: dict[str, Any] = {"metadata": self._views.task_run_as_run(run, task)}
            if task.state.result_state == "SUCCESS":
                body["notebook_output"] = {"result": task.exit_value, "truncated": False}
                if task.logs:
                    body["logs"], body["logs_truncated"] = task.logs, False
            elif task.error:
                body["error"] = task.error
                if task.error_trace:
                    body["error_trace"] = task.error_trace
            return body

    def cancel_run(self, run_id: int) -> dict[str, Any]:
        with self._lock:
            if run_id in self._runs:
                run = self._runs[run_id]
                if not run.state.terminal:
                    run.cancel_requested = True
                    for task in run.tasks:
                        self._cancel_task(task)
                    self._settle_if_not_started(run)
                return {}
            _, task = self._task_run(run_id)
            self._cancel_task(task)
            return {}

    def cancel_all_runs(self, job_id: int) -> dict[str, Any]:
        with self._lock:
            active = [r.run_id for r in self._runs.values() if r.job_id == job_id and not r.state.terminal]
        for run_id in active:
            self.cancel_run(run_id)
        return {}

    def list_runs(self, params: dict[str, Any]) -> dict[str, Any]:
        job_id = int(params["job_id"]) if params.get("job_id") not in (None, "") else None
        active_only = bool_param(params, "active_only")
        completed_only = bool_param(params, "completed_only")
        offset = int(params.get("page_token") or params.get("offset") or 0)
        limit = min(int(params.get("limit") or 25), 25)
        with self._lock:
            runs = [
                r
                for r in sorted(self._runs.values(), key=lambda r: r.run_id, reverse=True)
                if (job_id is None or r.job_id == job_id)
                and not (active_only and r.state.terminal)
                and not (completed_only and not r.state.terminal)
            ]
            expand = bool_param(params, "expand_tasks")
            page = [self._views.run_json(r, with_tasks=expand) for r in runs[offset : offset + limit]]
        body: dict[str, Any] = {"runs": page, "has_more": offset + limit < len(runs)}
        if body["has_more"]:
            body["next_page_token"] = str(offset + limit)
        return body

    def _task_run(self, run_id: int) -> tuple[Run, TaskRun]:
        found = self._task_runs.get(run_id)
        if found is None:
            raise ApiError(HTTPStatus.NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", f"Run {run_id} does not exist.")
        return found

    def _cancel_task(self, task: TaskRun) -> None:
        if task.state.terminal:
            return
        task.cancel_requested = True
        if task.state.life_cycle_state == "PENDING":
            self._finish(task, State("TERMINATED", "CANCELED", "Run cancelled."))
        else:
            task.state.life_cycle_state = "TERMINATING"

    def _settle_if_not_started(self, run: Run) -> None:
        """A queued run is cancelled at once; a running one is finalised by the worker."""
        if run.state.life_cycle_state == "PENDING":
            self._finish(run, run_outcome(run))
        else:
            run.state.life_cycle_state = "TERMINATING"
            run.state.state_message = "Run cancellation requested."
