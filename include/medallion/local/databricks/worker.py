"""Execution of queued runs: task order, ``run_if``, retries, clusters, notebook timeouts and cancel."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from medallion.duck import S3Settings
from medallion.local.databricks.clusters import ClusterPool, new_cluster_id
from medallion.local.databricks.model import (
    LEGACY_TASK_FIELDS,
    SUCCESS_RESULTS,
    InfraError,
    Run,
    State,
    TaskRun,
    now_ms,
    str_dict,
)
from medallion.local.databricks.notebook_runner import NOTEBOOK_LOCK, format_notebook_error, run_notebook
from medallion.local.databricks.notebooks import NotebookCall, resolve_notebook_path
from medallion.local.databricks.tasks import dependency_verdict, run_outcome

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05


class RunWorker:
    """The worker thread's part of the engine: runs in submission order, tasks in dependency order,
    retries, clusters and notebooks. The engine sets the attributes below and queues run ids."""

    project_dir: Path
    workspace_root: str
    lakehouse_path: Path
    s3: S3Settings | None
    cluster_start_seconds: float
    _lock: threading.RLock
    _ids: Iterator[int]
    _runs: dict[int, Run]
    _task_runs: dict[int, tuple[Run, TaskRun]]
    _queue: queue.Queue[int | None]
    _stopping: threading.Event
    _fail_next_cluster_start: bool
    _counters: dict[str, int]

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
                        self._finish(run, State("INTERNAL_ERROR", "FAILED", "Emulator internal error."))

    def _execute_run(self, run: Run) -> None:
        with self._lock:
            if run.state.terminal:
                return
            run.state = State("RUNNING", None, "In run")
            run.exec_start = now_ms()
            fail_clusters = self._fail_next_cluster_start
            self._fail_next_cluster_start = False
        pool = ClusterPool(
            launch=lambda label: self._launch_cluster(label, fail_clusters),
            attach=lambda: self._stopping.wait(self.cluster_start_seconds),
        )
        deadline = time.monotonic() + run.timeout_seconds if run.timeout_seconds > 0 else None
        for key in [t.task_key for t in run.tasks]:
            self._execute_task_with_retries(run, key, pool, deadline)
        with self._lock:
            self._finish(run, run_outcome(run))
        log.info("Run %s finished: %s", run.run_id, run.state.as_dict())

    def _execute_task_with_retries(self, run: Run, key: str, pool: ClusterPool, run_deadline: float | None) -> None:
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
                retry = TaskRun(next(self._ids), task.spec, attempt_number=task.attempt_number + 1)
                retry.state.state_message = "Waiting for retry"
                run.tasks.append(retry)
                self._task_runs[retry.run_id] = (run, retry)
            self._stopping.wait(int(task.spec.get("min_retry_interval_millis") or 0) / 1000)

    def _skip_if_needed(self, run: Run, task: TaskRun, upstream: list[TaskRun]) -> bool:
        """Settle a task that must not run (cancelled, or ``run_if`` not met); True when settled."""
        if task.state.terminal:
            return True
        if run.cancel_requested or task.cancel_requested or self._stopping.is_set():
            self._finish(task, State("TERMINATED", "CANCELED", "Run cancelled."))
            return True
        verdict = dependency_verdict(task, upstream)
        if verdict is None:
            return False
        failed = [u.task_key for u in upstream if u.state.result_state not in SUCCESS_RESULTS]
        run_if = task.spec.get("run_if", "ALL_SUCCESS")
        message = f"Upstream task(s) {failed} did not succeed (run_if {run_if})."
        self._finish(task, State("SKIPPED", verdict, message))
        return True

    @staticmethod
    def _retry_needed(run: Run, task: TaskRun) -> bool:
        max_retries = int(task.spec.get("max_retries") or 0)
        result = task.state.result_state
        retryable = result == "FAILED" or (result == "TIMEDOUT" and task.spec.get("retry_on_timeout"))
        if run.cancel_requested or not retryable:
            return False
        return max_retries == -1 or task.attempt_number < max_retries

    def _launch_cluster(self, label: str, fail: bool) -> str:
        cluster_id = new_cluster_id()
        self._stopping.wait(self.cluster_start_seconds)
        with self._lock:
            if fail:
                self._counters["cluster_launch_failures"] += 1
            else:
                self._counters["cluster_launches"] += 1
        if fail:
            raise InfraError(
                f"Cluster {cluster_id} ({label}) terminated. Reason: Cloud provider launch failure "
                "(injected by the local Databricks emulator).",
                code="CLOUD_FAILURE",
                kind="CLOUD_FAILURE",
            )
        log.info("Launched cluster %s for %s", cluster_id, label)
        return cluster_id

    def _execute_task(self, run: Run, task: TaskRun, pool: ClusterPool, deadline: float | None) -> None:
        try:
            cluster_id = pool.acquire(task.spec)
            path = self._notebook_file(run, task)
        except InfraError as exc:
            with self._lock:
                task.error = str(exc)
                self._finish(task, State("INTERNAL_ERROR", "FAILED", str(exc), exc.termination))
            return
        with self._lock:
            if task.state.terminal or run.cancel_requested:  # cancelled while its cluster started
                if not task.state.terminal:
                    self._finish(task, State("TERMINATED", "CANCELED", "Run cancelled."))
                return
            task.cluster_id = cluster_id
            task.state = State("RUNNING", None, "In run")
            task.exec_start = task.start_time = now_ms()
        timeout = int(task.spec.get("timeout_seconds") or 0)
        if timeout > 0:
            task_deadline = time.monotonic() + timeout
            deadline = task_deadline if deadline is None else min(deadline, task_deadline)
        params = str_dict((task.spec.get("notebook_task") or {}).get("base_parameters"))
        call = self._start_notebook(path, params)
        self._await_notebook(run, task, call, deadline)

    def _notebook_file(self, run: Run, task: TaskRun) -> Path:
        notebook_task = task.spec.get("notebook_task")
        if not notebook_task:
            kinds = [k for k in LEGACY_TASK_FIELDS if k.endswith("_task") and k in task.spec]
            raise InfraError(
                f"Task {task.task_key} is a {kinds or 'task without a type'}; the local Databricks "
                "emulator only runs notebook_task."
            )
        return resolve_notebook_path(
            notebook_task,
            project_dir=self.project_dir,
            workspace_root=self.workspace_root,
            has_git_source=bool(run.git_source),
        )

    def _start_notebook(self, path: Path, params: dict[str, str]) -> NotebookCall:
        call = NotebookCall()

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

    def _await_notebook(self, run: Run, task: TaskRun, call: NotebookCall, deadline: float | None) -> None:
        while not call.done.wait(POLL_SECONDS):
            stopped = run.cancel_requested or task.cancel_requested or self._stopping.is_set()
            timed_out = deadline is not None and time.monotonic() >= deadline
            if stopped or timed_out:
                call.abandon()
                with self._lock:
                    if timed_out and not stopped:
                        message = f"Task {task.task_key} timed out (timeout_seconds exceeded)."
                        self._finish(task, State("TERMINATED", "TIMEDOUT", message))
                    else:
                        self._finish(task, State("TERMINATED", "CANCELED", "Run cancelled."))
                return
        with self._lock:
            self._record_notebook_outcome(task, call)

    def _record_notebook_outcome(self, task: TaskRun, call: NotebookCall) -> None:
        if call.error is not None:
            task.error, task.error_trace = format_notebook_error(call.error)
            log.info("Task %s (run %s) failed: %s", task.task_key, task.run_id, task.error)
            self._finish(task, State("TERMINATED", "FAILED", task.error))
            return
        task.exit_value, task.logs = call.result.exit_value, call.result.stdout or None
        if task.logs:
            log.debug("Output of task %s:\n%s", task.task_key, task.logs)
        self._finish(task, State("TERMINATED", "SUCCESS", ""))

    @staticmethod
    def _finish(item: Run | TaskRun, state: State) -> None:
        item.state = state
        item.end_time = now_ms()
