"""Local emulator of the Databricks Jobs API subset used by the Airflow Databricks provider.

The real provider operators (``DatabricksWorkflowTaskGroup`` + ``DatabricksNotebookOperator``,
``DatabricksSubmitRunOperator``) talk to it over HTTP exactly as they talk to a workspace, and the
notebooks really run (PySpark on DuckDB through sqlframe, see ``notebook_runner``). Runs follow the
Databricks state machine (PENDING -> RUNNING -> TERMINATED / INTERNAL_ERROR / SKIPPED) so that
operator polling, failure extraction, cancel and timeouts behave as in production.

One worker thread executes runs in submission order and the tasks of a run in dependency order;
only one notebook runs at a time because the DuckDB lakehouse file allows a single writer.
"""

from __future__ import annotations

import copy
import ctypes
import itertools
import json
import logging
import queue
import random
import string
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import duckdb

from medallion.duck import S3Settings
from medallion.local.databricks.notebook_runner import NOTEBOOK_LOCK, format_notebook_error, run_notebook
from medallion.local.service import LocalService

log = logging.getLogger(__name__)

API_VERSIONS = ("2.1", "2.2")
TERMINAL_LIFE_CYCLES = frozenset({"TERMINATED", "SKIPPED", "INTERNAL_ERROR"})
FAILED_RESULTS = frozenset({"FAILED", "TIMEDOUT", "UPSTREAM_FAILED"})
CANCELED_RESULTS = frozenset({"CANCELED", "UPSTREAM_CANCELED"})
SUCCESS_RESULTS = frozenset({"SUCCESS", "SUCCESS_WITH_FAILURES"})
# Task-type keys of a legacy single-task ``runs/submit`` body (no ``tasks`` array).
LEGACY_TASK_FIELDS = (
    "notebook_task",
    "spark_python_task",
    "spark_jar_task",
    "spark_submit_task",
    "python_wheel_task",
    "sql_task",
    "dbt_task",
    "pipeline_task",
    "run_job_task",
    "new_cluster",
    "existing_cluster_id",
    "job_cluster_key",
    "libraries",
    "timeout_seconds",
    "max_retries",
    "min_retry_interval_millis",
    "retry_on_timeout",
)
POLL_SECONDS = 0.05


def _now_ms() -> int:
    return int(time.time() * 1000)


class ApiError(Exception):
    """A Databricks-style error response: ``{"error_code": ..., "message": ...}``."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message

    def body(self) -> dict[str, str]:
        return {"error_code": self.error_code, "message": self.message}


def _invalid(message: str) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, "INVALID_PARAMETER_VALUE", message)


def _malformed(message: str) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, "MALFORMED_REQUEST", message)


class _InfraError(Exception):
    """A fault outside the notebook (cluster, missing file): the task ends in INTERNAL_ERROR."""

    def __init__(self, message: str, code: str = "RESOURCE_NOT_FOUND", kind: str = "CLIENT_ERROR") -> None:
        super().__init__(message)
        self.termination = (code, kind)


# --------------------------------------------------------------------------- request parameters


def _int_param(params: dict[str, Any], name: str) -> int:
    value = params.get(name)
    if value is None or value == "":
        raise _invalid(f"Missing required field: {name}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _invalid(f"Invalid value for {name}: {value!r} is not an integer") from None


def _bool_param(params: dict[str, Any], name: str) -> bool:
    value = params.get(name, False)
    return value if isinstance(value, bool) else str(value).lower() == "true"


def _str_dict(values: dict[str, Any] | None) -> dict[str, str]:
    """Databricks passes every notebook parameter to widgets as a string."""
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in (values or {}).items()}


# --------------------------------------------------------------------------- notebook paths


def resolve_notebook_path(
    notebook_task: dict[str, Any], *, project_dir: Path, workspace_root: str, has_git_source: bool
) -> Path:
    """Map the workspace (or repo-relative GIT) notebook path onto a ``.py`` file in ``project_dir``.

    Raises ``_InfraError`` naming the requested path when nothing matches, as Databricks fails the
    task before running anything when a notebook is missing.
    """
    requested = str(notebook_task.get("notebook_path") or "")
    source = str(notebook_task.get("source") or ("GIT" if has_git_source else "WORKSPACE")).upper()
    relative = _relative_notebook_path(requested, source, workspace_root)
    root = project_dir.resolve()
    if relative is not None:
        candidate = (root / relative).resolve()
        if candidate.is_relative_to(root):
            for path in (candidate, candidate.with_name(candidate.name + ".py")):
                if path.is_file():
                    return path
    raise _InfraError(
        f'Unable to access the notebook "{requested}" (source {source}): it does not exist. '
        f"The emulator maps {workspace_root}/<path> (or a GIT repo-relative <path>) to "
        f"{root}/<path>[.py]."
    )


def _relative_notebook_path(requested: str, source: str, workspace_root: str) -> str | None:
    if source == "GIT":
        return requested.lstrip("/") or None
    path = PurePosixPath(requested)
    root = PurePosixPath(workspace_root)
    # The workspace shows /Workspace/Users/x and /Users/x as the same object.
    roots = [root]
    if root.parts[:2] == ("/", "Workspace"):
        roots.append(PurePosixPath("/", *root.parts[2:]))
    for prefix in roots:
        if path.is_relative_to(prefix) and path != prefix:
            return str(path.relative_to(prefix))
    return None


# --------------------------------------------------------------------------- run model


@dataclass
class _State:
    life_cycle_state: str = "PENDING"
    result_state: str | None = None
    state_message: str = ""
    termination: tuple[str, str] | None = None  # (code, type) when not derived from result_state

    @property
    def terminal(self) -> bool:
        return self.life_cycle_state in TERMINAL_LIFE_CYCLES

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "life_cycle_state": self.life_cycle_state,
            "state_message": self.state_message,
            "user_cancelled_or_timedout": self.result_state in ("CANCELED", "TIMEDOUT"),
        }
        if self.result_state:
            body["result_state"] = self.result_state
        return body

    def status(self) -> dict[str, Any]:
        """The newer ``status`` object (RunLifecycleStateV2) that the SDK also reads."""
        life = self.life_cycle_state
        state = "TERMINATED" if life in TERMINAL_LIFE_CYCLES else life
        body: dict[str, Any] = {"state": state}
        if state == "TERMINATED":
            code, kind = _termination(self)
            body["termination_details"] = {"code": code, "type": kind, "message": self.state_message}
        return body


def _termination(state: _State) -> tuple[str, str]:
    """``(code, type)`` of ``status.termination_details`` for a terminal state."""
    if state.termination is not None:
        return state.termination
    code = {
        "SUCCESS": "SUCCESS",
        "CANCELED": "USER_CANCELED",
        "UPSTREAM_CANCELED": "CANCELED",
        "EXCLUDED": "SKIPPED",
    }.get(state.result_state or "", "RUN_EXECUTION_ERROR")
    return code, "SUCCESS" if code in ("SUCCESS", "USER_CANCELED", "CANCELED", "SKIPPED") else "CLIENT_ERROR"


@dataclass
class _TaskRun:
    """One attempt of one task; a retry is a new ``_TaskRun`` with the same ``task_key``."""

    run_id: int
    spec: dict[str, Any]
    attempt_number: int = 0
    state: _State = field(default_factory=_State)
    start_time: int = field(default_factory=_now_ms)
    exec_start: int = 0
    end_time: int = 0
    cluster_id: str | None = None
    exit_value: str | None = None
    logs: str | None = None
    error: str | None = None
    error_trace: str | None = None
    cancel_requested: bool = False

    @property
    def task_key(self) -> str:
        return str(self.spec["task_key"])


@dataclass
class _Run:
    run_id: int
    job_id: int
    run_name: str
    run_type: str
    tasks: list[_TaskRun]
    job_clusters: list[dict[str, Any]]
    git_source: dict[str, Any] | None
    timeout_seconds: int = 0
    number_in_job: int = 1
    overriding_parameters: dict[str, Any] = field(default_factory=dict)
    state: _State = field(default_factory=_State)
    start_time: int = field(default_factory=_now_ms)
    exec_start: int = 0
    end_time: int = 0
    cancel_requested: bool = False

    def latest(self) -> dict[str, _TaskRun]:
        """The most recent attempt of every task, in declaration order."""
        latest: dict[str, _TaskRun] = {}
        for task in self.tasks:
            latest[task.task_key] = task
        return latest


@dataclass
class _Job:
    job_id: int
    settings: dict[str, Any]
    created_time: int = field(default_factory=_now_ms)
    runs_started: int = 0

    def as_dict(self, expand_tasks: bool = True) -> dict[str, Any]:
        settings = copy.deepcopy(self.settings)
        if not expand_tasks:
            settings.pop("tasks", None)
            settings.pop("job_clusters", None)
        return {
            "job_id": self.job_id,
            "creator_user_name": "local-emulator",
            "run_as_user_name": "local-emulator",
            "created_time": self.created_time,
            "settings": settings,
        }


# --------------------------------------------------------------------------- task graph


def _task_order(tasks: list[dict[str, Any]]) -> list[str]:
    """Validate task keys and dependencies and return a topological order (declaration-stable)."""
    keys = [t.get("task_key") for t in tasks]
    if not tasks:
        raise _invalid("A run must contain at least one task.")
    if any(not k for k in keys):
        raise _invalid("Every task needs a non-empty task_key.")
    if len(set(keys)) != len(keys):
        raise _invalid(f"Duplicate task_key in {keys}.")
    deps = {t["task_key"]: [d.get("task_key") for d in t.get("depends_on") or []] for t in tasks}
    for key, upstream in deps.items():
        unknown = [d for d in upstream if d not in deps]
        if unknown:
            raise _invalid(f"Task {key} depends on unknown task(s) {unknown}.")
    order: list[str] = []
    while len(order) < len(keys):
        ready = [k for k in keys if k not in order and all(d in order for d in deps[k])]
        if not ready:
            cycle = [k for k in keys if k not in order]
            raise _invalid(f"The task dependencies contain a cycle among {cycle}.")
        order.append(ready[0])
    return order


def _validate_clusters(tasks: list[dict[str, Any]], job_clusters: list[dict[str, Any]]) -> None:
    known = {c.get("job_cluster_key") for c in job_clusters}
    for task in tasks:
        chosen = [k for k in ("new_cluster", "existing_cluster_id", "job_cluster_key") if task.get(k)]
        if len(chosen) > 1:
            raise _invalid(f"Task {task['task_key']} sets more than one of {chosen}.")
        key = task.get("job_cluster_key")
        if key and key not in known:
            raise _invalid(f"Task {task['task_key']} uses job_cluster_key {key!r} not in job_clusters.")


def _dependency_verdict(task: _TaskRun, upstream: list[_TaskRun]) -> str | None:
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


def _run_outcome(run: _Run) -> _State:
    """Parent state from the latest task attempts (Databricks: any failed task fails the run)."""
    latest = list(run.latest().values())
    if run.cancel_requested:
        return _State("TERMINATED", "CANCELED", "Run cancelled.")
    internal = [t for t in latest if t.state.life_cycle_state == "INTERNAL_ERROR"]
    if internal:
        first = internal[0].state
        return _State("INTERNAL_ERROR", "FAILED", first.state_message, first.termination)
    for result in ("FAILED", "TIMEDOUT", "CANCELED", "UPSTREAM_FAILED"):
        hit = [t for t in latest if t.state.result_state == result]
        if hit:
            keys = ", ".join(t.task_key for t in hit)
            return _State(
                "TERMINATED",
                "FAILED" if result == "UPSTREAM_FAILED" else result,
                f"{len(hit)} of {len(latest)} tasks ended {result}: {keys}. "
                "Retrieve the output of each task run for details.",
            )
    return _State("TERMINATED", "SUCCESS", "")


# --------------------------------------------------------------------------- clusters


def _cluster_id() -> str:
    suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=8))
    return f"{datetime.now():%m%d-%H%M%S}-{suffix}"


class _ClusterPool:
    """Clusters of one run, as Databricks bills them.

    A job cluster is launched once per run and shared by its tasks, a ``new_cluster`` is launched
    for every task, and an existing (or serverless) cluster is only attached, once per run.
    """

    def __init__(self, launch: Callable[[str], str], attach: Callable[[], object]) -> None:
        self._launch = launch
        self._attach = attach
        self._ready: dict[str, str | _InfraError] = {}

    def acquire(self, spec: dict[str, Any]) -> str:
        if spec.get("new_cluster"):
            return self._launch(f"new_cluster of task {spec['task_key']}")
        if key := spec.get("job_cluster_key"):
            return self._once(f"job cluster {key}", lambda: self._launch(f"job cluster {key}"))
        cluster_id = str(spec.get("existing_cluster_id") or "serverless")

        def attach() -> str:
            self._attach()
            return cluster_id

        return self._once(cluster_id, attach)

    def _once(self, name: str, start: Callable[[], str]) -> str:
        """Start ``name`` on first use; a cluster that failed to start fails every later task."""
        if name not in self._ready:
            try:
                self._ready[name] = start()
            except _InfraError as exc:
                self._ready[name] = exc
        ready = self._ready[name]
        if isinstance(ready, _InfraError):
            raise ready
        return ready


# --------------------------------------------------------------------------- notebook execution


class NotebookAbandoned(BaseException):
    """Raised inside a notebook thread whose task was cancelled or timed out."""


class _NotebookCall:
    """A notebook running in its own thread, so the worker can time it out or cancel it.

    Abandoning discards the result and stops the notebook as Databricks would: the running DuckDB
    query is interrupted and ``NotebookAbandoned`` is raised in the notebook thread at its next
    Python instruction, which frees the lakehouse for the next task.
    """

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.abandoned = False
        self._guard = threading.Lock()
        self._thread_id: int | None = None
        self._connection: duckdb.DuckDBPyConnection | None = None

    def begin(self) -> bool:
        """Called in the notebook thread once it may run; False when already abandoned."""
        with self._guard:
            if self.abandoned:
                return False
            self._thread_id = threading.get_ident()
            return True

    def end(self) -> None:
        with self._guard:
            self._thread_id = None

    def attach(self, connection: duckdb.DuckDBPyConnection) -> None:
        self._connection = connection

    def abandon(self) -> None:
        with self._guard:
            self.abandoned = True
            if self._thread_id is None:
                return
            if self._connection is not None:
                try:
                    self._connection.interrupt()
                except duckdb.Error:
                    log.debug("Could not interrupt an abandoned notebook", exc_info=True)
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self._thread_id), ctypes.py_object(NotebookAbandoned)
            )


# --------------------------------------------------------------------------- engine


class _Engine:
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
        self._base_url = base_url
        self._lock = threading.RLock()
        self._ids = itertools.count(int(time.time()) % 100_000 * 1000 + 1)
        self._jobs: dict[int, _Job] = {}
        self._runs: dict[int, _Run] = {}
        self._task_runs: dict[int, tuple[_Run, _TaskRun]] = {}
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
            job = _Job(next(self._ids), settings)
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
            job.settings = self._validated_settings(_merge_settings(job.settings, new_settings, remove))
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

    def _job(self, job_id: int) -> _Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise _invalid(f"Job {job_id} does not exist.")
        return job

    @staticmethod
    def _validated_settings(settings: dict[str, Any]) -> dict[str, Any]:
        settings = copy.deepcopy(settings or {})
        tasks = settings.get("tasks") or []
        if tasks:
            _task_order(tasks)
            _validate_clusters(tasks, settings.get("job_clusters") or [])
        settings.setdefault("name", "Untitled")
        return settings

    # ----------------------------------------------------------------- runs

    def run_now(self, body: dict[str, Any]) -> dict[str, Any]:
        job_id = _int_param(body, "job_id")
        with self._lock:
            token = body.get("idempotency_token")
            if token and token in self._idempotency:
                return self._run_ids(self._idempotency[token])
            job = self._job(job_id)
            settings = copy.deepcopy(job.settings)
            if not settings.get("tasks"):
                raise _invalid(f"Job {job_id} has no tasks to run.")
            overrides = _run_now_overrides(body)
            params = _job_parameters(settings, body)
            notebook_params = overrides.get("notebook_params", {})
            tasks = [_apply_params(t, notebook_params, params) for t in settings["tasks"]]
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
        tasks = body.get("tasks") or [_legacy_task(body, run_name)]
        _task_order(tasks)
        _validate_clusters(tasks, body.get("job_clusters") or [])
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
    ) -> _Run:
        order = _task_order(tasks)
        by_key = {t["task_key"]: t for t in tasks}
        run = _Run(
            run_id=next(self._ids),
            job_id=job_id,
            run_name=run_name,
            run_type=run_type,
            tasks=[_TaskRun(next(self._ids), by_key[key]) for key in order],
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
                return self._run_json(self._runs[run_id])
            run, task = self._task_run(run_id)
            return self._task_run_as_run(run, task)

    def get_run_output(self, run_id: int) -> dict[str, Any]:
        with self._lock:
            if run_id in self._runs:
                raise _invalid(
                    "Retrieving the output of runs with multiple tasks is not supported. "
                    "Please retrieve the output of each individual task run instead."
                )
            run, task = self._task_run(run_id)
            body: dict[str, Any] = {"metadata": self._task_run_as_run(run, task)}
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
        active_only = _bool_param(params, "active_only")
        completed_only = _bool_param(params, "completed_only")
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
            expand = _bool_param(params, "expand_tasks")
            page = [self._run_json(r, with_tasks=expand) for r in runs[offset : offset + limit]]
        body: dict[str, Any] = {"runs": page, "has_more": offset + limit < len(runs)}
        if body["has_more"]:
            body["next_page_token"] = str(offset + limit)
        return body

    def _task_run(self, run_id: int) -> tuple[_Run, _TaskRun]:
        found = self._task_runs.get(run_id)
        if found is None:
            raise ApiError(HTTPStatus.NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", f"Run {run_id} does not exist.")
        return found

    def _cancel_task(self, task: _TaskRun) -> None:
        if task.state.terminal:
            return
        task.cancel_requested = True
        if task.state.life_cycle_state == "PENDING":
            self._finish(task, _State("TERMINATED", "CANCELED", "Run cancelled."))
        else:
            task.state.life_cycle_state = "TERMINATING"

    def _settle_if_not_started(self, run: _Run) -> None:
        """A queued run is cancelled at once; a running one is finalised by the worker."""
        if run.state.life_cycle_state == "PENDING":
            self._finish(run, _run_outcome(run))
        else:
            run.state.life_cycle_state = "TERMINATING"
            run.state.state_message = "Run cancellation requested."

    # ----------------------------------------------------------------- JSON views

    def _page_url(self, job_id: int, run_id: int) -> str:
        return f"{self._base_url()}/#job/{job_id}/run/{run_id}"

    def _run_json(self, run: _Run, with_tasks: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "job_id": run.job_id,
            "run_id": run.run_id,
            "original_attempt_run_id": run.run_id,
            "number_in_job": run.number_in_job,
            "creator_user_name": "local-emulator",
            "run_name": run.run_name,
            "run_page_url": self._page_url(run.job_id, run.run_id),
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
            body["tasks"] = [self._task_json(run, t) for t in run.tasks]
        if run.git_source:
            body["git_source"] = copy.deepcopy(run.git_source)
        if run.overriding_parameters:
            body["overriding_parameters"] = copy.deepcopy(run.overriding_parameters)
        return body

    def _task_json(self, run: _Run, task: _TaskRun) -> dict[str, Any]:
        spec = copy.deepcopy(task.spec)
        body: dict[str, Any] = {
            **{k: v for k, v in spec.items() if k not in ("max_retries", "min_retry_interval_millis")},
            "run_id": task.run_id,
            "task_key": task.task_key,
            "attempt_number": task.attempt_number,
            "run_page_url": self._page_url(run.job_id, task.run_id),
            "state": task.state.as_dict(),
            "status": task.state.status(),
            "depends_on": spec.get("depends_on") or [],
            "run_if": str(spec.get("run_if") or "ALL_SUCCESS"),
            **_timing(task.start_time, task.exec_start, task.end_time),
        }
        if task.cluster_id:
            body["cluster_instance"] = {"cluster_id": task.cluster_id, "spark_context_id": str(task.run_id)}
        return body

    def _task_run_as_run(self, run: _Run, task: _TaskRun) -> dict[str, Any]:
        """``runs/get`` on a task run id: that task as a run, listing itself in ``tasks``."""
        task_body = self._task_json(run, task)
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

    # ----------------------------------------------------------------- worker

    def _work(self) -> None:
        while not self._stopping.is_set():
            run_id = self._queue.get()
            if run_id is None:
                return
            try:
                self._execute_run(self._runs[run_id])
            except Exception:  # pragma: no cover - a bug here must not kill the worker
                log.exception("Emulator failed while executing run %s", run_id)
                with self._lock:
                    run = self._runs[run_id]
                    if not run.state.terminal:
                        self._finish(run, _State("INTERNAL_ERROR", "FAILED", "Emulator internal error."))

    def _execute_run(self, run: _Run) -> None:
        with self._lock:
            if run.state.terminal:
                return
            run.state = _State("RUNNING", None, "In run")
            run.exec_start = _now_ms()
            fail_clusters = self._fail_next_cluster_start
            self._fail_next_cluster_start = False
        pool = _ClusterPool(
            launch=lambda label: self._launch_cluster(label, fail_clusters),
            attach=lambda: self._stopping.wait(self.cluster_start_seconds),
        )
        deadline = time.monotonic() + run.timeout_seconds if run.timeout_seconds > 0 else None
        for key in [t.task_key for t in run.tasks]:
            self._execute_task_with_retries(run, key, pool, deadline)
        with self._lock:
            self._finish(run, _run_outcome(run))
        log.info("Run %s finished: %s", run.run_id, run.state.as_dict())

    def _execute_task_with_retries(self, run: _Run, key: str, pool: _ClusterPool, run_deadline: float | None) -> None:
        while True:
            with self._lock:
                task = run.latest()[key]
                latest = run.latest()
                upstream = [latest[d["task_key"]] for d in task.spec.get("depends_on") or []]
                if self._skip_if_needed(run, task, upstream):
                    return
            self._execute_task(run, task, pool, run_deadline)
            with self._lock:
                if not self._retry_needed(run, task):
                    return
                retry = _TaskRun(next(self._ids), task.spec, attempt_number=task.attempt_number + 1)
                retry.state.state_message = "Waiting for retry"
                run.tasks.append(retry)
                self._task_runs[retry.run_id] = (run, retry)
            self._stopping.wait(int(task.spec.get("min_retry_interval_millis") or 0) / 1000)

    def _skip_if_needed(self, run: _Run, task: _TaskRun, upstream: list[_TaskRun]) -> bool:
        """Settle a task that must not run (cancelled, or ``run_if`` not met); True when settled."""
        if task.state.terminal:
            return True
        if run.cancel_requested or task.cancel_requested or self._stopping.is_set():
            self._finish(task, _State("TERMINATED", "CANCELED", "Run cancelled."))
            return True
        verdict = _dependency_verdict(task, upstream)
        if verdict is None:
            return False
        failed = [u.task_key for u in upstream if u.state.result_state not in SUCCESS_RESULTS]
        run_if = task.spec.get("run_if", "ALL_SUCCESS")
        message = f"Upstream task(s) {failed} did not succeed (run_if {run_if})."
        self._finish(task, _State("SKIPPED", verdict, message))
        return True

    @staticmethod
    def _retry_needed(run: _Run, task: _TaskRun) -> bool:
        max_retries = int(task.spec.get("max_retries") or 0)
        result = task.state.result_state
        retryable = result == "FAILED" or (result == "TIMEDOUT" and task.spec.get("retry_on_timeout"))
        if run.cancel_requested or not retryable:
            return False
        return max_retries == -1 or task.attempt_number < max_retries

    def _launch_cluster(self, label: str, fail: bool) -> str:
        cluster_id = _cluster_id()
        self._stopping.wait(self.cluster_start_seconds)
        with self._lock:
            if fail:
                self._counters["cluster_launch_failures"] += 1
            else:
                self._counters["cluster_launches"] += 1
        if fail:
            raise _InfraError(
                f"Cluster {cluster_id} ({label}) terminated. Reason: Cloud provider launch failure "
                "(injected by the local Databricks emulator).",
                code="CLOUD_FAILURE",
                kind="CLOUD_FAILURE",
            )
        log.info("Launched cluster %s for %s", cluster_id, label)
        return cluster_id

    def _execute_task(self, run: _Run, task: _TaskRun, pool: _ClusterPool, deadline: float | None) -> None:
        try:
            cluster_id = pool.acquire(task.spec)
            path = self._notebook_file(run, task)
        except _InfraError as exc:
            with self._lock:
                task.error = str(exc)
                self._finish(task, _State("INTERNAL_ERROR", "FAILED", str(exc), exc.termination))
            return
        with self._lock:
            if task.state.terminal or run.cancel_requested:  # cancelled while its cluster started
                if not task.state.terminal:
                    self._finish(task, _State("TERMINATED", "CANCELED", "Run cancelled."))
                return
            task.cluster_id = cluster_id
            task.state = _State("RUNNING", None, "In run")
            task.exec_start = task.start_time = _now_ms()
        timeout = int(task.spec.get("timeout_seconds") or 0)
        if timeout > 0:
            task_deadline = time.monotonic() + timeout
            deadline = task_deadline if deadline is None else min(deadline, task_deadline)
        params = _str_dict((task.spec.get("notebook_task") or {}).get("base_parameters"))
        call = self._start_notebook(path, params)
        self._await_notebook(run, task, call, deadline)

    def _notebook_file(self, run: _Run, task: _TaskRun) -> Path:
        notebook_task = task.spec.get("notebook_task")
        if not notebook_task:
            kinds = [k for k in LEGACY_TASK_FIELDS if k.endswith("_task") and k in task.spec]
            raise _InfraError(
                f"Task {task.task_key} is a {kinds or 'task without a type'}; the local Databricks "
                "emulator only runs notebook_task."
            )
        return resolve_notebook_path(
            notebook_task,
            project_dir=self.project_dir,
            workspace_root=self.workspace_root,
            has_git_source=bool(run.git_source),
        )

    def _start_notebook(self, path: Path, params: dict[str, str]) -> _NotebookCall:
        call = _NotebookCall()

        def target() -> None:
            try:
                with NOTEBOOK_LOCK:
                    if not call.begin():
                        return
                    try:
                        with self._lock:
                            self._counters["notebooks_executed"] += 1
                        call.result = run_notebook(
                            path,
                            params,
                            lakehouse_path=self.lakehouse_path,
                            s3=self.s3,
                            on_connection=call.attach,
                        )
                    finally:
                        call.end()
            except BaseException as exc:
                call.error = exc
            finally:
                call.done.set()

        threading.Thread(target=target, name=f"notebook-{path.stem}", daemon=True).start()
        return call

    def _await_notebook(self, run: _Run, task: _TaskRun, call: _NotebookCall, deadline: float | None) -> None:
        while not call.done.wait(POLL_SECONDS):
            stopped = run.cancel_requested or task.cancel_requested or self._stopping.is_set()
            timed_out = deadline is not None and time.monotonic() >= deadline
            if stopped or timed_out:
                call.abandon()
                with self._lock:
                    if timed_out and not stopped:
                        message = f"Task {task.task_key} timed out (timeout_seconds exceeded)."
                        self._finish(task, _State("TERMINATED", "TIMEDOUT", message))
                    else:
                        self._finish(task, _State("TERMINATED", "CANCELED", "Run cancelled."))
                return
        with self._lock:
            self._record_notebook_outcome(task, call)

    def _record_notebook_outcome(self, task: _TaskRun, call: _NotebookCall) -> None:
        if call.error is not None:
            task.error, task.error_trace = format_notebook_error(call.error)
            log.info("Task %s (run %s) failed: %s", task.task_key, task.run_id, task.error)
            self._finish(task, _State("TERMINATED", "FAILED", task.error))
            return
        task.exit_value, task.logs = call.result.exit_value, call.result.stdout or None
        if task.logs:
            log.debug("Output of task %s:\n%s", task.task_key, task.logs)
        self._finish(task, _State("TERMINATED", "SUCCESS", ""))

    @staticmethod
    def _finish(item: _Run | _TaskRun, state: _State) -> None:
        item.state = state
        item.end_time = _now_ms()


def _merge_settings(old: dict[str, Any], new: dict[str, Any], remove: Iterable[str]) -> dict[str, Any]:
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


def _legacy_task(body: dict[str, Any], run_name: str) -> dict[str, Any]:
    """A ``runs/submit`` body without ``tasks`` is one task keyed by ``run_name``.

    The provider's DatabricksNotebookOperator relies on that: it looks its task up by
    ``task_key == run_name`` in ``runs/get``.
    """
    task = {k: body[k] for k in LEGACY_TASK_FIELDS if k in body}
    return {"task_key": run_name, **task}


def _run_now_overrides(body: dict[str, Any]) -> dict[str, Any]:
    names = ("notebook_params", "jar_params", "python_params", "spark_submit_params", "job_parameters")
    return {name: copy.deepcopy(body[name]) for name in names if body.get(name)}


def _job_parameters(settings: dict[str, Any], body: dict[str, Any]) -> dict[str, str]:
    """Job-level parameters (defaults overridden by run-now ``job_parameters``) reach every task."""
    defaults = {p["name"]: p.get("default", "") for p in settings.get("parameters") or [] if "name" in p}
    return _str_dict({**defaults, **(body.get("job_parameters") or {})})


def _apply_params(task: dict[str, Any], notebook_params: dict[str, Any], job_params: dict[str, str]) -> dict:
    """Databricks semantics: run-now ``notebook_params`` override each notebook's ``base_parameters``."""
    task = copy.deepcopy(task)
    notebook = task.get("notebook_task")
    if notebook is not None:
        notebook["base_parameters"] = {
            **(notebook.get("base_parameters") or {}),
            **job_params,
            **_str_dict(notebook_params),
        }
    return task


# --------------------------------------------------------------------------- HTTP layer


Route = Callable[[_Engine, dict[str, Any]], dict[str, Any]]


def _list_jobs(engine: _Engine, p: dict[str, Any]) -> dict[str, Any]:
    limit = max(1, min(int(p.get("limit") or 20), 100))
    offset = int(p.get("page_token") or p.get("offset") or 0)
    return engine.list_jobs(p.get("name") or None, _bool_param(p, "expand_tasks"), offset, limit)


ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "jobs/runs/submit"): lambda e, p: e.submit_run(p),
    ("GET", "jobs/runs/get"): lambda e, p: e.get_run(_int_param(p, "run_id")),
    ("GET", "jobs/runs/get-output"): lambda e, p: e.get_run_output(_int_param(p, "run_id")),
    ("POST", "jobs/runs/cancel"): lambda e, p: e.cancel_run(_int_param(p, "run_id")),
    ("POST", "jobs/runs/cancel-all"): lambda e, p: e.cancel_all_runs(_int_param(p, "job_id")),
    ("GET", "jobs/runs/list"): lambda e, p: e.list_runs(p),
    ("POST", "jobs/create"): lambda e, p: e.create_job(p),
    ("POST", "jobs/reset"): lambda e, p: e.reset_job(_int_param(p, "job_id"), p.get("new_settings") or {}),
    ("POST", "jobs/update"): lambda e, p: e.update_job(
        _int_param(p, "job_id"), p.get("new_settings") or {}, p.get("fields_to_remove") or []
    ),
    ("POST", "jobs/delete"): lambda e, p: e.delete_job(_int_param(p, "job_id")),
    ("GET", "jobs/get"): lambda e, p: e.get_job(_int_param(p, "job_id")),
    ("GET", "jobs/list"): _list_jobs,
    ("POST", "jobs/run-now"): lambda e, p: e.run_now(p),
}


class _Handler(BaseHTTPRequestHandler):
    """Parses a request (query string and/or JSON body, even on GET) and dispatches it."""

    protocol_version = "HTTP/1.1"
    timeout = 60  # close idle keep-alive connections
    server: _Server

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    def _handle(self, method: str) -> None:
        try:
            status, body = HTTPStatus.OK, self._dispatch(method)
        except ApiError as exc:
            status, body = HTTPStatus(exc.status), exc.body()
        except Exception as exc:  # pragma: no cover - surfaced to the client as a 500
            log.exception("Emulator error on %s %s", method, self.path)
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            body = {"error_code": "INTERNAL_ERROR", "message": str(exc)}
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _dispatch(self, method: str) -> dict[str, Any]:
        url = urlsplit(self.path)
        params = {**dict(parse_qsl(url.query)), **self._json_body()}
        emulator = self.server.emulator
        path = url.path.rstrip("/")
        if (method, path) == ("GET", "/.well-known/databricks-config"):
            return {"workspace_id": "1234567890"}
        if (method, path) == ("POST", "/emulator/faults"):
            return emulator._engine.set_faults(params)
        if (method, path) == ("GET", "/emulator/stats"):
            return emulator.stats()
        if path.startswith("/api/"):
            self._check_auth()
        return self._route(method, path)(emulator._engine, params)

    def _route(self, method: str, path: str) -> Route:
        parts = path.split("/", 3)  # "", "api", "2.2", "jobs/..."
        route = None
        if len(parts) == 4 and parts[1] == "api" and parts[2] in API_VERSIONS:
            route = ROUTES.get((method, parts[3]))
        if route is None:
            raise ApiError(HTTPStatus.NOT_FOUND, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {path}'")
        return route

    def _json_body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise _malformed("Request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise _malformed("Request body must be a JSON object.")
        return body

    def _check_auth(self) -> None:
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                HTTPStatus.UNAUTHORIZED,
                "UNAUTHENTICATED",
                "Credential was not sent or was of an unsupported type for this API. "
                "Send 'Authorization: Bearer <token>'.",
            )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    emulator: DatabricksEmulator


# --------------------------------------------------------------------------- public API


class DatabricksEmulator(LocalService):
    """HTTP emulator of the Databricks Jobs API (2.1 and 2.2) that runs notebooks on DuckDB.

    Point an Airflow ``databricks`` connection at it with ``host=127.0.0.1``, ``port=<port>``,
    ``schema=http`` and any non-empty token as password (see ``connection_json``).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        project_dir: Path,
        workspace_root: str = "/Workspace/medallion",
        lakehouse_path: Path,
        s3: S3Settings | None = None,
        cluster_start_seconds: float = 0.5,
    ) -> None:
        """``cluster_start_seconds`` is the simulated start-up (or attach, for an existing cluster) of
        each cluster a run uses; meanwhile the run is RUNNING and its task PENDING. Keep it above
        zero: the workflow ``launch`` operator fails unless it sees the fresh run PENDING or RUNNING,
        so a run must not end instantly.
        """
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"The Databricks emulator binds to loopback only, not {host!r}.")
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._engine = _Engine(
            project_dir=project_dir,
            workspace_root=workspace_root,
            lakehouse_path=lakehouse_path,
            s3=s3,
            base_url=lambda: self.url,
            cluster_start_seconds=cluster_start_seconds,
        )

    def start(self) -> DatabricksEmulator:
        """Bind the port and start the HTTP and worker threads (once: a stopped emulator is done)."""
        if self._server is not None:
            return self
        if self._engine.stopped:
            raise RuntimeError("A stopped Databricks emulator cannot be restarted; create a new one.")
        server = _Server(self._address, _Handler)
        server.emulator = self
        self._server = server
        self._engine.start()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="databricks-emulator",
            daemon=True,
        )
        self._thread.start()
        log.info("Databricks emulator listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and cancel what is still running (notebook threads are abandoned)."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._engine.stop()
        self._server = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("The Databricks emulator is not started.")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._address[0]}:{self.port}"

    def stats(self) -> dict[str, Any]:
        """Counters: ``cluster_launches`` (billed launches), ``runs``, ``notebooks_executed``..."""
        return self._engine.stats()

    def inject_faults(self, *, cluster_start_failure: bool = False) -> None:
        """Python twin of ``POST /emulator/faults``: the next run's clusters fail to start."""
        self._engine.set_faults({"cluster_start_failure": cluster_start_failure})

    def connection_json(self, token: str = "local-emulator-token") -> str:
        """Airflow connection (``AIRFLOW_CONN_<ID>`` JSON) that points the provider here."""
        host, port = self._address[0], self.port
        return json.dumps({"conn_type": "databricks", "host": host, "port": port, "schema": "http", "password": token})
