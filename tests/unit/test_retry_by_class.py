"""Retry by failure class: ``hints.yaml`` decides, every factory operator obeys.

The Databricks tests run the silver notebook task (the provider's operator through
``RetryByClass``) in real Airflow (``dag.test``) against the local Jobs API emulator: a notebook
that cannot cast a value fails in one try, a cluster that did not start is retried.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from airflow.sdk.exceptions import AirflowFailException

from medallion.failures import CATALOG, RetryByClass, classify, not_retried

CONN_ID = "databricks_retry_test"
NEW_CLUSTER = {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}
BAD_CAST = """
from pyspark.sql import functions as F
rows = spark.createDataFrame([("1",), ("soon",)], ["quantity"])
rows.select(F.col("quantity").cast("int").alias("quantity")).write.mode("overwrite").saveAsTable("silver.casted")
"""


def test_every_class_declares_its_retry_policy() -> None:
    raw = yaml.safe_load(CATALOG.read_text(encoding="utf-8"))["classes"]
    missing = [name for name, cls in raw.items() if not isinstance(cls.get("retry"), bool)]
    assert not missing, f"add `retry: true|false` to these classes in {CATALOG}: {missing}"


@pytest.mark.parametrize(
    ("message", "layer", "retried"),
    [
        ("Task failed. Final state FAILED. Reason: ConversionException: Could not convert 'soon'", "silver", False),
        ("Databricks job failed with state INTERNAL_ERROR. Message: Cluster c-1 terminated.", "silver", True),
        ("API requests to Databricks failed 3 times. Giving up.", "silver", True),
        (
            'Databricks job failed with state INTERNAL_ERROR. Message: Unable to access the notebook "/x"',
            "silver",
            False,
        ),
        ("Catalog Error: Table with name orders does not exist!", "gold", False),
        ("something nobody has seen before", None, True),
    ],
)
def test_the_class_decides(message: str, layer: str | None, retried: bool) -> None:
    assert classify(RuntimeError(message), layer).retry is retried


class _Operator(RetryByClass):
    failure_layer = "silver"
    log = SimpleNamespace(error=lambda *a: None)

    def __init__(self, exc: Exception):
        self.exc = exc

    def execute(self, context: object) -> None:
        raise self.exc

    def execute_complete(self, context: object, event: dict) -> None:
        raise self.exc


def test_not_retried_classes_fail_without_retry_keeping_message_and_chain() -> None:
    root = ValueError("could not convert 'soon'")
    error = RuntimeError("Task failed. Final state FAILED. Reason: ValueError: could not convert 'soon'")
    error.__cause__ = root
    for call in (lambda op: op.execute({}), lambda op: op.execute_complete({}, {})):
        with pytest.raises(AirflowFailException) as raised:
            call(_Operator(error))
        assert str(raised.value) == str(error) and raised.value.__cause__ is error
        assert raised.value.kind == "databricks_notebook_exception"

    infra = RuntimeError("Databricks job failed with state INTERNAL_ERROR. Message: Cluster c terminated.")
    with pytest.raises(RuntimeError) as kept:
        _Operator(infra).execute({})
    assert kept.value is infra  # retried classes pass through untouched
    assert not_retried(AirflowFailException("already final"), "silver") is None


# --------------------------------------------------------------------------- real Airflow + emulator


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "project").mkdir()
    return tmp_path / "project"


@pytest.fixture
def emulator(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    from medallion.local.databricks import DatabricksEmulator

    emu = DatabricksEmulator(project_dir=project, lakehouse_path=tmp_path / "lakehouse.duckdb")
    emu.start()
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", emu.connection_json("local-emulator-token"))
    try:
        yield emu
    finally:
        emu.stop()


def notebook(project: Path, name: str, source: str) -> str:
    path = project / "include" / "notebooks" / f"{name}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Databricks notebook source\n" + textwrap.dedent(source).strip() + "\n", encoding="utf-8")
    return f"/Workspace/medallion/include/notebooks/{name}"


def register(dag: object) -> None:
    """Write a DAG defined in a test to the metadata DB, as the DAG processor would (dag.test needs it)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=str(Path(__file__).parent / "__no_dags__"))
    bag.bag_dag(dag)  # type: ignore[arg-type]
    sync_bag_to_db(bag, "dags-folder", None)


def run_notebook_task(path: str, dag_id: str) -> tuple[str, int]:
    """Run the silver notebook task with 2 retries in a real DAG run: (final state, tries)."""
    from airflow.sdk import DAG

    from medallion.silver.notebook import NotebookTaskOperator

    with DAG(dag_id, schedule=None, start_date=dt.datetime(2026, 11, 1, tzinfo=dt.UTC)) as dag:
        NotebookTaskOperator(
            task_id="customers",
            databricks_conn_id=CONN_ID,
            notebook_path=path,
            source="WORKSPACE",
            new_cluster=NEW_CLUSTER,
            polling_period_seconds=0.2,
            retries=2,
            retry_delay=dt.timedelta(seconds=0),
        )
    register(dag)
    dag_run = dag.test(logical_date=dt.datetime(2026, 11, 20, tzinfo=dt.UTC))
    [ti] = dag_run.get_task_instances()
    return str(getattr(ti.state, "value", ti.state)), ti.try_number


@pytest.mark.slow
def test_notebook_code_error_fails_in_one_try(project: Path, emulator) -> None:
    state, tries = run_notebook_task(notebook(project, "bad_cast", BAD_CAST), "retry_bad_cast")
    assert (state, tries) == ("failed", 1)
    assert emulator.stats()["runs"] == 1  # one Databricks job run, not three


@pytest.mark.slow
def test_cluster_start_failure_is_retried(project: Path, emulator) -> None:
    emulator.inject_faults(cluster_start_failure=True)  # the next run's cluster does not start
    state, tries = run_notebook_task(notebook(project, "fine", "dbutils.notebook.exit('ok')"), "retry_cluster")
    assert (state, tries) == ("success", 2)
    stats = emulator.stats()
    assert (stats["cluster_launch_failures"], stats["cluster_launches"], stats["runs"]) == (1, 1, 2)


@pytest.mark.slow
def test_in_a_workflow_a_failed_job_run_is_not_read_again(project: Path, emulator) -> None:
    """In the silver task group every try follows the same job run: a cluster that did not start
    fails at once, saying how to start a new run, instead of re-reading the failure after each retry_delay."""
    from airflow.providers.databricks.operators.databricks_workflow import DatabricksWorkflowTaskGroup
    from airflow.sdk import DAG

    from medallion.silver.notebook import NotebookTaskOperator

    path = notebook(project, "fine_in_workflow", "dbutils.notebook.exit('ok')")
    with (
        DAG("retry_workflow", schedule=None, start_date=dt.datetime(2026, 11, 1, tzinfo=dt.UTC)) as dag,
        DatabricksWorkflowTaskGroup(
            group_id="silver",
            databricks_conn_id=CONN_ID,
            job_clusters=[{"job_cluster_key": "shared", "new_cluster": NEW_CLUSTER}],
        ),
    ):
        NotebookTaskOperator(
            task_id="customers",
            databricks_conn_id=CONN_ID,
            notebook_path=path,
            source="WORKSPACE",
            job_cluster_key="shared",
            polling_period_seconds=0.2,
            retries=2,
            retry_delay=dt.timedelta(seconds=0),
        )
    emulator.inject_faults(cluster_start_failure=True)
    register(dag)
    dag_run = dag.test(logical_date=dt.datetime(2026, 11, 20, tzinfo=dt.UTC))
    ti = dag_run.get_task_instance("silver.customers")
    assert (str(getattr(ti.state, "value", ti.state)), ti.try_number) == ("failed", 1)
    assert emulator.stats()["cluster_launch_failures"] == 1


@pytest.mark.slow
def test_deferrable_path_decides_the_same_way(project: Path, emulator) -> None:
    """``execute_complete`` gets the trigger's event (the real trigger polling the emulator)."""
    from airflow.providers.databricks.hooks.databricks import DatabricksHook
    from airflow.providers.databricks.triggers.databricks import DatabricksExecutionTrigger

    from medallion.silver.notebook import NotebookTaskOperator

    path = notebook(project, "bad_cast_deferred", BAD_CAST)
    run_id = DatabricksHook(CONN_ID).submit_run(
        {
            "run_name": "deferred",
            "tasks": [
                {
                    "task_key": "t",
                    "notebook_task": {"notebook_path": path, "source": "WORKSPACE"},
                    "new_cluster": NEW_CLUSTER,
                }
            ],
        }
    )

    async def first_event() -> dict:
        trigger = DatabricksExecutionTrigger(run_id=run_id, databricks_conn_id=CONN_ID, polling_period_seconds=0.2)
        async for event in trigger.run():
            return event.payload
        raise AssertionError("no event")

    event = asyncio.run(first_event())
    operator = NotebookTaskOperator(task_id="t", databricks_conn_id=CONN_ID, notebook_path=path, source="WORKSPACE")
    with pytest.raises(AirflowFailException, match="Could not convert") as raised:
        operator.execute_complete({}, event)
    assert raised.value.kind == "databricks_notebook_exception"
