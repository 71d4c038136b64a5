"""Run pipelines through real Airflow on the local embedded runtime, in this process.

``airflow dags test`` pays ~12 s of start-up per call; ``dag.test()`` in one process runs
many DAG runs for the price of one start-up. The environment must be prepared before
Airflow is imported, because Airflow reads its configuration at import time.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medallion import paths


def prepare_environment(config_dir: Path | None = None, airflow_home: Path | None = None) -> dict[str, str]:
    """Point Airflow at a local home, file-backed connections and (optionally) other specs."""
    if "airflow" in sys.modules and "airflow.configuration" in sys.modules:
        # Airflow already configured this process; settings below would be ignored silently.
        current = os.environ.get("AIRFLOW_HOME")
        wanted = str(airflow_home or paths.local_dir() / "airflow")
        if current != wanted:
            raise RuntimeError("prepare_environment() must run before Airflow is imported")
    from medallion import task_logs
    from medallion.settings import airflow_environment

    home = airflow_home or paths.local_dir() / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    env = airflow_environment(home)
    env["AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT"] = "120"
    env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    # …but rows, gates and links from our own tasks at INFO (medallion.task_logs)
    env["AIRFLOW__LOGGING__NAMESPACE_LEVELS"] = os.environ.get(
        "AIRFLOW__LOGGING__NAMESPACE_LEVELS", task_logs.namespace_levels()
    )
    if config_dir is not None:
        env["MEDALLION_CONFIG_DIR"] = str(config_dir.resolve())
    os.environ.update(env)
    _migrate(home)
    return env


def _migrate(home: Path) -> None:
    """Create the SQLite metadata database once (a subprocess keeps this process unconfigured)."""
    stamp = home / ".migrated"
    if stamp.exists() and (home / "airflow.db").exists():
        return
    airflow = Path(sys.executable).with_name("airflow")
    result = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True, env=os.environ.copy())
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stderr[-2000:]}")
    stamp.write_text("ok", encoding="utf-8")


LOCAL_RETRY_DELAY_SECONDS = 2


@dataclass
class RunResult:
    dag_id: str
    logical_date: str
    state: str
    tasks: dict[str, str] = field(default_factory=dict)
    xcoms: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""

    @property
    def succeeded(self) -> bool:
        return self.state == "success"


def run_pipeline(dag_id: str, ds: str, config_dir: Path | None = None) -> RunResult:
    """Run one DAG for one logical date with ``dag.test()`` and report each task's state."""
    from medallion.factory.loader import load_dags

    config_dir = config_dir or paths.config_dir()
    dags = load_dags(config_dir)
    if dag_id not in dags:
        raise KeyError(f"no pipeline {dag_id!r} under {config_dir}; known: {', '.join(sorted(dags))}")
    dag = dags[dag_id]
    if dag.start_date and dt.date.fromisoformat(ds) < dag.start_date.date():
        raise ValueError(f"{ds} is before {dag_id}'s start_date {dag.start_date.date()}: Airflow would run no task")
    # dag.test() re-serializes the DAG in memory, where deadline alerts stay dicts instead of the
    # database ids the scheduler path uses (Airflow 3.3 fails on them); deadlines cannot fire in a
    # dag.test() run anyway, so local runs go without them.
    dag.deadline = None
    for task in dag.tasks:  # same retries, but a local retry waits seconds, not minutes
        task.retry_delay = dt.timedelta(seconds=LOCAL_RETRY_DELAY_SECONDS)
        task.retry_exponential_backoff = False
    logical = dt.datetime.combine(dt.date.fromisoformat(ds), dt.time(), tzinfo=dt.UTC)
    dag_run = dag.test(logical_date=logical)
    return _result(dag_id, ds, dag_run)


def _result(dag_id: str, ds: str, dag_run: Any) -> RunResult:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = dag_run.get_task_instances(session=session)
        tasks = {ti.task_id: str(ti.state.value if hasattr(ti.state, "value") else ti.state) for ti in tis}
        rows = (
            session.query(XComModel)
            .filter(
                XComModel.dag_id == dag_id,
                XComModel.run_id == dag_run.run_id,
                XComModel.key == "return_value",
            )
            .all()
        )
        xcoms = {row.task_id: XComModel.deserialize_value(row) for row in rows}
    state = dag_run.state.value if hasattr(dag_run.state, "value") else str(dag_run.state)
    return RunResult(dag_id, ds, state, tasks, xcoms, run_id=str(dag_run.run_id))
