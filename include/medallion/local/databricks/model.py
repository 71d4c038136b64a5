"""Run, task-run and job records of the emulator, their Databricks states, and API errors."""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

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


def now_ms() -> int:
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


def invalid(message: str) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, "INVALID_PARAMETER_VALUE", message)


def malformed(message: str) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, "MALFORMED_REQUEST", message)


class InfraError(Exception):
    """A fault outside the notebook (cluster, missing file): the task ends in INTERNAL_ERROR."""

    def __init__(self, message: str, code: str = "RESOURCE_NOT_FOUND", kind: str = "CLIENT_ERROR") -> None:
        super().__init__(message)
        self.termination = (code, kind)


# --------------------------------------------------------------------------- request parameters


def int_param(params: dict[str, Any], name: str) -> int:
    value = params.get(name)
    if value is None or value == "":
        raise invalid(f"Missing required field: {name}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid(f"Invalid value for {name}: {value!r} is not an integer") from None


def bool_param(params: dict[str, Any], name: str) -> bool:
    value = params.get(name, False)
    return value if isinstance(value, bool) else str(value).lower() == "true"


def str_dict(values: dict[str, Any] | None) -> dict[str, str]:
    """Databricks passes every notebook parameter to widgets as a string."""
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in (values or {}).items()}


@dataclass
class State:
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


def _termination(state: State) -> tuple[str, str]:
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
class TaskRun:
    """One attempt of one task; a retry is a new ``TaskRun`` with the same ``task_key``."""

    run_id: int
    spec: dict[str, Any]
    attempt_number: int = 0
    state: State = field(default_factory=State)
    start_time: int = field(default_factory=now_ms)
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
class Run:
    run_id: int
    job_id: int
    run_name: str
    run_type: str
    tasks: list[TaskRun]
    job_clusters: list[dict[str, Any]]
    git_source: dict[str, Any] | None
    timeout_seconds: int = 0
    number_in_job: int = 1
    overriding_parameters: dict[str, Any] = field(default_factory=dict)
    state: State = field(default_factory=State)
    start_time: int = field(default_factory=now_ms)
    exec_start: int = 0
    end_time: int = 0
    cancel_requested: bool = False

    def latest(self) -> dict[str, TaskRun]:
        """The most recent attempt of every task, in declaration order."""
        latest: dict[str, TaskRun] = {}
        for task in self.tasks:
            latest[task.task_key] = task
        return latest


@dataclass
class Job:
    job_id: int
    settings: dict[str, Any]
    created_time: int = field(default_factory=now_ms)
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
