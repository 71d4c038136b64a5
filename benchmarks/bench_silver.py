"""Cluster-launch benchmark: one silver run of 3 notebooks as a Databricks workflow vs 3 submit runs.

The factory's silver group is a ``DatabricksWorkflowTaskGroup`` whose ``DatabricksNotebookOperator``
tasks share one job cluster (``job_cluster_key``), so a run pays one cluster start however many
notebooks it has. The usual alternative, one ``DatabricksSubmitRunOperator`` with its own
``new_cluster`` per notebook, pays one start per notebook. Both sides use the real provider
operators against the local Databricks Jobs API emulator (in-process, 127.0.0.1, free port),
which counts cluster launches as Databricks bills them and really runs the notebooks (PySpark on
DuckDB). Operators are executed in dependency order without a scheduler, as a worker would.
Prints figures and ends with one RESULT line.
Usage: python benchmarks/bench_silver.py [CLUSTER_START_SECONDS]
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import shutil
import sys
import time
from pathlib import Path
from unittest.mock import MagicMock

from _common import isolated_environment, peak_rss_mb

_TMP = isolated_environment("silver")  # AIRFLOW_HOME in a temporary folder, quiet logs, no telemetry
import airflow  # noqa: F401, E402

NOTEBOOKS = 3
CONN_ID = "databricks_bench"
WORKSPACE = "/Workspace/medallion"
CLUSTER_KEY = "medallion_shared"  # what the factory calls its shared job cluster
NEW_CLUSTER = {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 2}
POLL_SECONDS = 1
CLUSTER_START_SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5  # the emulator's default


def write_notebooks(project: Path, n: int) -> list[str]:
    """N trivial notebooks in Databricks source format; returns their workspace paths."""
    folder = project / "include" / "notebooks" / "bench"
    folder.mkdir(parents=True)
    paths = []
    for i in range(n):
        (folder / f"nb_{i}.py").write_text(
            "# Databricks notebook source\n"
            f'spark.range(10).write.mode("overwrite").saveAsTable("staging.bench_{i}")\n'
            "\n# COMMAND ----------\n\n"
            f'dbutils.notebook.exit(str(spark.table("staging.bench_{i}").count()))\n'
        )
        paths.append(f"{WORKSPACE}/include/notebooks/bench/nb_{i}")
    return paths


def context() -> dict:
    """The slice of a task context these operators touch (XCom pushes and links go to a mock)."""
    return {"ti": MagicMock()}


def run_workflow(paths: list[str]) -> None:
    """Silver as the factory builds it: one job, notebook tasks on a shared job cluster."""
    from airflow.providers.databricks.operators.databricks import DatabricksNotebookOperator
    from airflow.providers.databricks.operators.databricks_workflow import DatabricksWorkflowTaskGroup
    from airflow.sdk import DAG

    with (
        DAG("bench_silver_workflow", schedule=None, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)) as dag,
        DatabricksWorkflowTaskGroup(
            group_id="silver",
            databricks_conn_id=CONN_ID,
            job_clusters=[{"job_cluster_key": CLUSTER_KEY, "new_cluster": NEW_CLUSTER}],
            notebook_params={"ds": "2026-01-01"},
        ),
    ):
        notebooks = [
            DatabricksNotebookOperator(
                task_id=f"nb_{i}",
                databricks_conn_id=CONN_ID,
                notebook_path=path,
                source="WORKSPACE",
                job_cluster_key=CLUSTER_KEY,
                polling_period_seconds=POLL_SECONDS,
            )
            for i, path in enumerate(paths)
        ]
        for upstream, downstream in itertools.pairwise(notebooks):
            upstream >> downstream
    # the launch task creates/resets the job and starts one run; its XCom is the run metadata
    metadata = dag.get_task("silver.launch").execute(context())
    for notebook in notebooks:
        notebook.workflow_run_metadata = metadata  # what templating hands over from XCom
        notebook.execute(context())  # waits for its task in the shared run


def run_submit_runs(paths: list[str]) -> None:
    """The per-notebook alternative: one one-off run with its own new_cluster per notebook."""
    from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator
    from airflow.sdk import DAG

    with DAG("bench_silver_submitrun", schedule=None, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)):
        operators = [
            DatabricksSubmitRunOperator(
                task_id=f"nb_{i}",
                databricks_conn_id=CONN_ID,
                run_name=f"nb_{i}",
                new_cluster=NEW_CLUSTER,
                notebook_task={"notebook_path": path, "source": "WORKSPACE", "base_parameters": {"ds": "2026-01-01"}},
                polling_period_seconds=POLL_SECONDS,
            )
            for i, path in enumerate(paths)
        ]
        for upstream, downstream in itertools.pairwise(operators):
            upstream >> downstream
    for operator in operators:
        operator.execute(context())  # submits and polls until the run terminates


def measured(emulator, fn, paths: list[str]) -> tuple[float, dict]:
    """Wall time of ``fn`` and the emulator counters it moved."""
    before = emulator.stats()
    start = time.perf_counter()
    fn(paths)
    seconds = time.perf_counter() - start
    after = emulator.stats()
    return seconds, {k: after[k] - before[k] for k in ("cluster_launches", "runs", "notebooks_executed")}


def main() -> None:
    import logging

    from medallion.local.databricks import DatabricksEmulator, run_notebook

    logging.disable(logging.WARNING)
    project, lakehouse = _TMP / "project", _TMP / "lakehouse.duckdb"
    emulator = None
    try:
        paths = write_notebooks(project, NOTEBOOKS)
        # warm-up outside the emulator (no launches counted): sqlframe/pyspark shim imports
        run_notebook(project / "include/notebooks/bench/nb_0.py", {}, lakehouse_path=lakehouse)
        emulator = DatabricksEmulator(
            "127.0.0.1",
            0,
            project_dir=project,
            workspace_root=WORKSPACE,
            lakehouse_path=lakehouse,
            cluster_start_seconds=CLUSTER_START_SECONDS,
        ).start()
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(
            {"conn_type": "databricks", "host": "127.0.0.1", "port": emulator.port, "schema": "http", "password": "x"}
        )
        wf_seconds, wf = measured(emulator, run_workflow, paths)
        sr_seconds, sr = measured(emulator, run_submit_runs, paths)
        stats = emulator.stats()
        assert wf["notebooks_executed"] == sr["notebooks_executed"] == NOTEBOOKS, (wf, sr)
    finally:
        if emulator is not None:
            emulator.stop()
        shutil.rmtree(_TMP, ignore_errors=True)
    rss_mb = peak_rss_mb()
    print(
        f"notebooks per pipeline run={NOTEBOOKS}, chained; emulated cluster start {CLUSTER_START_SECONDS}s "
        f"(real job clusters take minutes); operator polling {POLL_SECONDS}s"
    )
    print(
        f"workflow (DatabricksWorkflowTaskGroup, shared job cluster): {wf['cluster_launches']} cluster launch(es), "
        f"{wf['runs']} Databricks run(s), {wf_seconds:.1f}s wall"
    )
    print(
        f"DatabricksSubmitRunOperator per notebook (new_cluster each): {sr['cluster_launches']} cluster launch(es), "
        f"{sr['runs']} Databricks run(s), {sr_seconds:.1f}s wall"
    )
    print(f"emulator stats: {stats}")
    print(f"peak RSS of this process: {rss_mb:.0f} MB")
    print(
        f"RESULT silver cluster_launches_per_run={wf['cluster_launches']} notebooks={NOTEBOOKS} "
        f"submitrun_cluster_launches={sr['cluster_launches']} workflow_seconds={wf_seconds:.1f} "
        f"submitrun_seconds={sr_seconds:.1f} peak_rss_mb={rss_mb:.0f}"
    )


if __name__ == "__main__":
    main()
