"""The local Databricks Jobs API emulator, driven by the real Airflow provider and databricks-sdk.

Every test runs real notebooks (PySpark on DuckDB through sqlframe) from a temporary project;
nothing talks to a real workspace.
"""

from __future__ import annotations

import asyncio
import textwrap
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest
import requests
from airflow.providers.common.compat.sdk import AirflowException
from airflow.providers.databricks.exceptions import DatabricksApiError
from airflow.providers.databricks.hooks.databricks import DatabricksHook, RunState
from airflow.providers.databricks.operators.databricks import (
    DatabricksNotebookOperator,
    DatabricksSubmitRunOperator,
)
from airflow.providers.databricks.operators.databricks_workflow import DatabricksWorkflowTaskGroup
from airflow.providers.databricks.triggers.databricks import DatabricksExecutionTrigger
from airflow.providers.databricks.utils.databricks import extract_failed_task_errors

from medallion.duck import S3Settings, connect
from medallion.local.databricks import DatabricksEmulator, run_notebook
from medallion.local.databricks.model import InfraError
from medallion.local.databricks.notebook_runner import CELL_SEPARATOR, NOTEBOOK_LOCK, split_cells
from medallion.local.databricks.notebooks import resolve_notebook_path

pytestmark = pytest.mark.integration  # every test here starts the servers it checks

CONN_ID = "databricks_test"
TOKEN = "local-emulator-token"
WORKSPACE = "/Workspace/medallion"
NEW_CLUSTER = {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}
SLOW_CELL = "import time\nfor _ in range(400):\n    time.sleep(0.05)"


# --------------------------------------------------------------------------- fixtures & helpers


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "project").mkdir()
    return tmp_path / "project"


@pytest.fixture
def lakehouse(tmp_path: Path) -> Path:
    return tmp_path / "lakehouse.duckdb"


@pytest.fixture
def emulator(project: Path, lakehouse: Path) -> Iterator[DatabricksEmulator]:
    emu = DatabricksEmulator(project_dir=project, lakehouse_path=lakehouse)
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def hook(emulator: DatabricksEmulator, monkeypatch: pytest.MonkeyPatch) -> DatabricksHook:
    conn = emulator.connection_json(TOKEN)
    assert f'"port": {emulator.port}' in conn and '"schema": "http"' in conn
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", conn)
    return DatabricksHook(CONN_ID, retry_limit=1, retry_delay=0.1)


def write_notebook(project: Path, name: str, *cells: str) -> str:
    """Write ``include/notebooks/<name>.py`` in Databricks source format; return its workspace path."""
    path = project / "include" / "notebooks" / f"{name}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    body = f"\n\n{CELL_SEPARATOR}\n\n".join(textwrap.dedent(cell).strip() for cell in cells)
    path.write_text(f"# Databricks notebook source\n{body}\n")
    return f"{WORKSPACE}/include/notebooks/{name}"


def notebook_task(key: str, path: str, params: dict | None = None, **extra: object) -> dict:
    return {
        "task_key": key,
        "notebook_task": {"notebook_path": path, "source": "WORKSPACE", "base_parameters": params or {}},
        **extra,
    }


def wait_terminal(hook: DatabricksHook, run_id: int, timeout: float = 30) -> RunState:
    deadline = time.monotonic() + timeout
    while not (state := hook.get_run_state(run_id)).is_terminal:
        assert time.monotonic() < deadline, f"run {run_id} still {state}"
        time.sleep(0.1)
    return state


def wait_task_running(hook: DatabricksHook, run_id: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while hook.get_run(run_id)["tasks"][0]["state"]["life_cycle_state"] != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)


def tasks_by_key(hook: DatabricksHook, run_id: int) -> dict[str, dict]:
    return {t["task_key"]: t for t in hook.get_run(run_id)["tasks"]}


def lakehouse_released(timeout: float = 3) -> bool:
    """True once no notebook thread holds the lakehouse (the runner's process-wide lock)."""
    if not NOTEBOOK_LOCK.acquire(timeout=timeout):
        return False
    NOTEBOOK_LOCK.release()
    return True


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


# --------------------------------------------------------------------------- provider hook


def test_submit_run_executes_notebook_and_writes_table(
    project: Path, lakehouse: Path, emulator: DatabricksEmulator, hook: DatabricksHook
) -> None:
    path = write_notebook(
        project,
        "orders_silver",
        "# MAGIC %md\n# MAGIC # Orders silver",
        """
        from pyspark.sql import functions as F
        dbutils.widgets.text("run_date", "1970-01-01")
        run_date = dbutils.widgets.get("run_date")
        """,
        """
        orders = spark.createDataFrame([(1, 10.0), (2, 5.5)], ["order_id", "amount"])
        orders.withColumn("run_date", F.lit(run_date)).write.mode("overwrite").saveAsTable("silver.orders")
        display(spark.table("silver.orders"))
        """,
        "dbutils.notebook.exit(f\"{spark.table('silver.orders').count()} rows for {run_date}\")",
        "raise AssertionError('cells after dbutils.notebook.exit must not run')",
    )
    # The legacy single-task body DatabricksNotebookOperator sends outside a workflow.
    run_id = hook.submit_run(
        {
            "run_name": "orders_silver",
            "timeout_seconds": 0,
            "email_notifications": {},
            "notebook_task": {
                "notebook_path": path,
                "source": "WORKSPACE",
                "base_parameters": {"run_date": "2024-05-01"},
            },
            "libraries": [],
            "new_cluster": NEW_CLUSTER,
        }
    )
    assert hook.get_run_page_url(run_id) == f"{emulator.url}/#job/{hook.get_job_id(run_id)}/run/{run_id}"

    assert wait_terminal(hook, run_id) == RunState("TERMINATED", "SUCCESS", "")
    task = hook.get_run(run_id)["tasks"][0]
    assert task["task_key"] == "orders_silver"  # the operator finds its task by run_name
    assert task["run_id"] != run_id and task["attempt_number"] == 0
    output = hook.get_run_output(task["run_id"])
    assert output["notebook_output"]["result"] == "2 rows for 2024-05-01"
    assert "| order_id |" in output["logs"]
    with pytest.raises(DatabricksApiError, match="multiple tasks") as error:
        hook.get_run_output(run_id)  # like Databricks: outputs belong to task runs
    assert error.value.http_status_code == 400

    con = connect(lakehouse, read_only=True)
    try:
        rows = con.execute("SELECT order_id, run_date FROM silver.orders ORDER BY 1").fetchall()
    finally:
        con.close()
    assert rows == [(1, "2024-05-01"), (2, "2024-05-01")]
    assert emulator.stats()["cluster_launches"] == 1


def test_jobs_api_shared_job_cluster_and_notebook_params(
    project: Path, emulator: DatabricksEmulator, hook: DatabricksHook
) -> None:
    bronze = write_notebook(
        project,
        "bronze_orders",
        """
        row = [(dbutils.widgets.get("run_date"), dbutils.widgets.get("source"))]
        df = spark.createDataFrame(row, ["run_date", "source"])
        df.write.mode("overwrite").saveAsTable("bronze.orders")
        """,
    )
    silver = write_notebook(
        project,
        "silver_orders",
        """
        row = spark.table("bronze.orders").collect()[0]
        dbutils.notebook.exit(f"{row['run_date']}|{row['source']}|{dbutils.widgets.get('run_date')}")
        """,
    )
    shared = {"job_cluster_key": "shared"}
    tasks = [
        notebook_task("bronze", bronze, {"run_date": "base", "source": "crm"}, **shared),
        notebook_task("silver", silver, {"run_date": "base"}, depends_on=[{"task_key": "bronze"}], **shared),
    ]
    # The job JSON shape _CreateDatabricksWorkflowOperator builds.
    spec = {
        "name": "sales.orders",
        "email_notifications": {"no_alert_for_skipped_runs": False},
        "timeout_seconds": 0,
        "tasks": tasks[:1],
        "format": "MULTI_TASK",
        "job_clusters": [{"job_cluster_key": "shared", "new_cluster": NEW_CLUSTER}],
        "max_concurrent_runs": 1,
    }
    job_id = hook.create_job(spec)
    assert [j["job_id"] for j in hook.list_jobs(job_name="sales.orders")] == [job_id]
    assert hook.list_jobs(job_name="sales.other") == []
    hook.reset_job(str(job_id), {**spec, "tasks": tasks})
    job = hook._do_api_call(("GET", "2.2/jobs/get"), {"job_id": job_id})
    assert [t["task_key"] for t in job["settings"]["tasks"]] == ["bronze", "silver"]

    run_id = hook.run_now(
        {
            "job_id": job_id,
            "jar_params": [],
            "notebook_params": {"run_date": "2024-05-02"},
            "python_params": [],
            "spark_submit_params": [],
        }
    )
    assert wait_terminal(hook, run_id).is_successful
    runs = tasks_by_key(hook, run_id)
    assert runs["silver"]["start_time"] >= runs["bronze"]["end_time"]
    cluster_ids = {t["cluster_instance"]["cluster_id"] for t in runs.values()}
    assert len(cluster_ids) == 1
    result = hook.get_run_output(runs["silver"]["run_id"])["notebook_output"]["result"]
    assert result == "2024-05-02|crm|2024-05-02"  # notebook_params override base_parameters
    assert emulator.stats()["cluster_launches"] == 1

    hook.update_job(str(job_id), {"tasks": [{**tasks[1], "timeout_seconds": 60}], "max_concurrent_runs": 2})
    settings = hook._do_api_call(("GET", "2.2/jobs/get"), {"job_id": job_id})["settings"]
    assert [t.get("timeout_seconds") for t in settings["tasks"]] == [None, 60]  # merged by task_key
    assert settings["max_concurrent_runs"] == 2


def workflow(bronze_path: str, silver_path: str) -> tuple[Any, DatabricksNotebookOperator, DatabricksNotebookOperator]:
    """A DAG with a DatabricksWorkflowTaskGroup of two notebook tasks sharing a job cluster."""
    from airflow.sdk import DAG

    with (
        DAG("sales", schedule=None, start_date=datetime(2024, 1, 1)) as dag,
        DatabricksWorkflowTaskGroup(
            group_id="orders",
            databricks_conn_id=CONN_ID,
            job_clusters=[{"job_cluster_key": "shared", "new_cluster": NEW_CLUSTER}],
            notebook_params={"run_date": "2024-05-03"},
        ),
    ):
        options = {"databricks_conn_id": CONN_ID, "job_cluster_key": "shared", "polling_period_seconds": 1}
        bronze = DatabricksNotebookOperator(
            task_id="bronze",
            notebook_path=bronze_path,
            source="WORKSPACE",
            notebook_params={"source": "crm"},
            **options,
        )
        silver = DatabricksNotebookOperator(task_id="silver", notebook_path=silver_path, source="WORKSPACE", **options)
        bronze >> silver
    return dag, bronze, silver


def launch_workflow(dag: Any, *operators: DatabricksNotebookOperator) -> dict:
    """Run the ``launch`` task, then hand its XCom to the notebook operators as templating would."""
    metadata = dag.get_task("orders.launch").execute({"ti": MagicMock()})
    for operator in operators:
        operator.workflow_run_metadata = metadata
    return metadata


def test_real_workflow_operators_run_a_databricks_workflow(project: Path, hook: DatabricksHook) -> None:
    bronze_path = write_notebook(
        project,
        "wf_bronze",
        """
        row = [(dbutils.widgets.get("run_date"), dbutils.widgets.get("source"))]
        spark.createDataFrame(row, ["run_date", "source"]).write.mode("overwrite").saveAsTable("bronze.wf")
        """,
    )
    silver_path = write_notebook(project, "wf_silver", "dbutils.notebook.exit(str(spark.table('bronze.wf').count()))")
    dag, bronze, silver = workflow(bronze_path, silver_path)
    metadata = launch_workflow(dag, bronze, silver)
    bronze.execute({"ti": MagicMock()})
    silver.execute({"ti": MagicMock()})

    runs = tasks_by_key(hook, metadata["run_id"])
    assert {t["state"]["result_state"] for t in runs.values()} == {"SUCCESS"}
    assert wait_terminal(hook, metadata["run_id"]).is_successful
    silver_run = runs[silver.databricks_task_key]
    assert silver_run["depends_on"] == [{"task_key": bronze.databricks_task_key}]
    assert hook.get_run_output(silver_run["run_id"])["notebook_output"]["result"] == "1"
    assert hook._do_api_call(("GET", "2.2/jobs/runs/list"), {"job_id": metadata["job_id"]})["runs"]


def test_real_workflow_operators_report_a_missing_notebook(project: Path, hook: DatabricksHook) -> None:
    silver_path = write_notebook(project, "wf_silver", "dbutils.notebook.exit('never')")
    missing = f"{WORKSPACE}/include/notebooks/not_deployed"
    dag, bronze, silver = workflow(missing, silver_path)
    launch_workflow(dag, bronze, silver)  # the run is still starting its cluster: launch succeeds

    with pytest.raises(AirflowException, match=f"state INTERNAL_ERROR.*{missing}"):
        bronze.execute({"ti": MagicMock()})
    with pytest.raises(AirflowException, match="state SKIPPED"):
        silver.execute({"ti": MagicMock()})


# --------------------------------------------------------------------------- failures


def test_failed_notebook_reports_error_and_skips_downstream(project: Path, hook: DatabricksHook) -> None:
    failing = write_notebook(project, "failing", "x = 1", "def check():\n    raise ValueError('bad orders')\ncheck()")
    downstream = write_notebook(project, "never", "raise AssertionError('must not run')")
    operator = DatabricksSubmitRunOperator(
        task_id="submit",
        databricks_conn_id=CONN_ID,
        do_xcom_push=False,
        polling_period_seconds=1,
        json={
            "run_name": "failing",
            "tasks": [
                notebook_task("first", failing, existing_cluster_id="local"),
                notebook_task("second", downstream, depends_on=[{"task_key": "first"}], existing_cluster_id="local"),
            ],
        },
    )
    run_id = operator.submit_job(None)
    with pytest.raises(AirflowException, match="ValueError: bad orders"):
        operator.poll_until_complete(run_id, None)

    state = hook.get_run_state(run_id)
    assert (state.life_cycle_state, state.result_state) == ("TERMINATED", "FAILED")
    runs = tasks_by_key(hook, run_id)
    assert runs["first"]["state"]["result_state"] == "FAILED"
    assert runs["second"]["state"]["life_cycle_state"] == "SKIPPED"
    assert runs["second"]["state"]["result_state"] == "UPSTREAM_FAILED"
    output = hook.get_run_output(runs["first"]["run_id"])
    assert output["error"] == "ValueError: bad orders"
    assert 'failing.py", line 7, in check' in output["error_trace"]
    # What DatabricksNotebookOperator does for a task run: runs/get on it, then the provider helper.
    task_run = hook.get_run(runs["first"]["run_id"])
    errors = extract_failed_task_errors(hook, task_run, RunState(**task_run["state"]))
    assert errors == [{"task_key": "first", "run_id": runs["first"]["run_id"], "error": "ValueError: bad orders"}]


def test_missing_notebook_is_an_internal_error(emulator: DatabricksEmulator, hook: DatabricksHook) -> None:
    missing = f"{WORKSPACE}/include/notebooks/does_not_exist"
    run_id = hook.submit_run({"run_name": "missing", "tasks": [notebook_task("t", missing)]})
    state = wait_terminal(hook, run_id)
    assert (state.life_cycle_state, state.result_state) == ("INTERNAL_ERROR", "FAILED")
    assert missing in state.state_message
    task_run = hook.get_run(tasks_by_key(hook, run_id)["t"]["run_id"])
    assert extract_failed_task_errors(hook, task_run, state)[0]["error"] == state.state_message
    assert emulator.stats()["notebooks_executed"] == 0


def test_injected_cluster_start_failure_hits_the_next_run_only(
    project: Path, emulator: DatabricksEmulator, hook: DatabricksHook
) -> None:
    path = write_notebook(project, "ok", "dbutils.notebook.exit('ok')")
    spec = {
        "run_name": "clusters",
        "job_clusters": [{"job_cluster_key": "shared", "new_cluster": NEW_CLUSTER}],
        "tasks": [notebook_task(k, path, job_cluster_key="shared") for k in ("a", "b")],
    }
    response = requests.post(f"{emulator.url}/emulator/faults", json={"cluster_start_failure": True}, timeout=5)
    assert response.json() == {"cluster_start_failure": True}

    failed = wait_terminal(hook, hook.submit_run(spec))
    assert failed.life_cycle_state == "INTERNAL_ERROR"
    assert "terminated. Reason: Cloud provider launch failure" in failed.state_message
    assert emulator.stats()["cluster_launch_failures"] == 1  # one shared cluster, not one per task

    assert wait_terminal(hook, hook.submit_run(spec)).is_successful
    stats = requests.get(f"{emulator.url}/emulator/stats", timeout=5).json()
    assert (stats["cluster_launches"], stats["notebooks_executed"]) == (1, 2)
    emulator.inject_faults(cluster_start_failure=True)
    assert requests.post(f"{emulator.url}/emulator/faults", json={"clear": True}, timeout=5).json() == {
        "cluster_start_failure": False
    }


def test_native_retry_adds_an_attempt(project: Path, hook: DatabricksHook) -> None:
    marker = project / "attempted"
    path = write_notebook(
        project,
        "flaky",
        f"""
        from pathlib import Path
        marker = Path({str(marker)!r})
        if not marker.exists():
            marker.touch()
            raise RuntimeError("first attempt fails")
        dbutils.notebook.exit("second attempt")
        """,
    )
    task = notebook_task("flaky", path, max_retries=1, min_retry_interval_millis=0)
    run_id = hook.submit_run({"run_name": "flaky", "tasks": [task]})
    assert wait_terminal(hook, run_id).is_successful
    attempts = hook.get_run(run_id)["tasks"]
    assert [(t["task_key"], t["attempt_number"]) for t in attempts] == [("flaky", 0), ("flaky", 1)]
    assert [t["state"]["result_state"] for t in attempts] == ["FAILED", "SUCCESS"]
    assert attempts[1]["start_time"] > attempts[0]["start_time"]  # the provider keeps the latest


# --------------------------------------------------------------------------- cancel & timeout


def test_cancel_running_and_queued_runs(project: Path, emulator: DatabricksEmulator, hook: DatabricksHook) -> None:
    path = write_notebook(project, "slow", SLOW_CELL)
    running = hook.submit_run({"run_name": "slow", "tasks": [notebook_task("slow", path)]})
    queued = hook.submit_run({"run_name": "queued", "tasks": [notebook_task("slow", path)]})
    wait_task_running(hook, running)
    assert hook.get_run_state(queued).life_cycle_state == "PENDING"

    hook.cancel_run(queued)
    assert hook.get_run_state(queued) == RunState("TERMINATED", "CANCELED", "Run cancelled.")
    started = time.monotonic()
    hook.cancel_run(running)
    assert wait_terminal(hook, running).result_state == "CANCELED"
    assert time.monotonic() - started < 5
    assert lakehouse_released()  # the notebook thread was stopped, not left running
    assert tasks_by_key(hook, running)["slow"]["state"]["result_state"] == "CANCELED"
    assert emulator.stats()["notebooks_executed"] == 1


def test_task_timeout(project: Path, hook: DatabricksHook) -> None:
    path = write_notebook(project, "slow", SLOW_CELL)
    run_id = hook.submit_run({"run_name": "slow", "tasks": [notebook_task("slow", path, timeout_seconds=1)]})
    state = wait_terminal(hook, run_id, timeout=15)
    assert (state.life_cycle_state, state.result_state) == ("TERMINATED", "TIMEDOUT")
    task = tasks_by_key(hook, run_id)["slow"]
    assert task["state"]["result_state"] == "TIMEDOUT"
    assert task["end_time"] - task["start_time"] < 5000
    assert lakehouse_released()


# --------------------------------------------------------------------------- HTTP contract


def test_http_contract_get_body_auth_and_errors(
    project: Path, emulator: DatabricksEmulator, hook: DatabricksHook
) -> None:
    path = write_notebook(project, "ok", "dbutils.notebook.exit('ok')")
    run_id = hook.submit_run({"run_name": "ok", "tasks": [notebook_task("t", path, existing_cluster_id="c")]})
    wait_terminal(hook, run_id)
    url = f"{emulator.url}/api/2.1/jobs/runs/get"

    by_body = requests.get(url, json={"run_id": run_id}, headers=auth(), timeout=5)
    by_query = requests.get(url, params={"run_id": run_id}, headers=auth(), timeout=5)
    assert by_body.status_code == by_query.status_code == 200
    assert by_body.json()["state"] == by_query.json()["state"]

    async def trigger_event() -> dict:  # deferrable operators: aiohttp sends GET with a JSON body
        trigger = DatabricksExecutionTrigger(run_id, CONN_ID, polling_period_seconds=1, retry_limit=1)
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger yielded nothing")

    event = asyncio.run(trigger_event())
    assert RunState.from_json(event["run_state"]).is_successful and event["errors"] == []
    assert emulator.stats()["cluster_launches"] == 0  # existing_cluster_id starts nothing

    unauthenticated = requests.get(url, params={"run_id": run_id}, timeout=5)
    assert unauthenticated.status_code == 401 and unauthenticated.json()["error_code"]
    unknown_run = requests.get(url, params={"run_id": 1}, headers=auth(), timeout=5)
    assert (unknown_run.status_code, unknown_run.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    with pytest.raises(DatabricksApiError, match="INVALID_PARAMETER_VALUE"):
        hook.run_now({"job_id": 42})
    with pytest.raises(DatabricksApiError, match="cycle"):
        hook.submit_run({"tasks": [notebook_task("a", path, depends_on=[{"task_key": "a"}])]})
    missing = requests.get(f"{emulator.url}/api/2.2/jobs/nope", headers=auth(), timeout=5)
    assert missing.json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_databricks_sdk_contract(project: Path, emulator: DatabricksEmulator) -> None:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service import compute, jobs

    path = write_notebook(project, "sdk", "dbutils.notebook.exit(dbutils.widgets.get('greeting'))")
    w = WorkspaceClient(host=emulator.url, token=TOKEN)
    task = jobs.SubmitTask(
        task_key="hello",
        notebook_task=jobs.NotebookTask(notebook_path=path, base_parameters={"greeting": "hi"}),
        new_cluster=compute.ClusterSpec(spark_version="15.4.x-scala2.12", num_workers=1),
    )
    run = w.jobs.submit(run_name="sdk", tasks=[task]).result(timeout=timedelta(seconds=30))
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    assert run.status.termination_details.code == jobs.TerminationCodeCode.SUCCESS
    assert w.jobs.get_run_output(run.tasks[0].run_id).notebook_output.result == "hi"

    created = w.jobs.create(
        name="sdk-job",
        job_clusters=[jobs.JobCluster(job_cluster_key="c", new_cluster=compute.ClusterSpec(spark_version="15.4.x"))],
        tasks=[
            jobs.Task(
                task_key="hello",
                job_cluster_key="c",
                notebook_task=jobs.NotebookTask(notebook_path=path, base_parameters={"greeting": "base"}),
            )
        ],
    )
    assert [j.job_id for j in w.jobs.list(name="sdk-job")] == [created.job_id]
    done = w.jobs.run_now(created.job_id, notebook_params={"greeting": "override"}).result(
        timeout=timedelta(seconds=30)
    )
    assert w.jobs.get_run_output(done.tasks[0].run_id).notebook_output.result == "override"
    assert w.jobs.get(created.job_id).settings.name == "sdk-job"
    assert [r.run_id for r in w.jobs.list_runs(job_id=created.job_id)] == [done.run_id]
    assert emulator.stats()["cluster_launches"] == 2


# --------------------------------------------------------------------------- notebook paths & runner


@pytest.mark.parametrize(
    ("notebook_path", "source"),
    [
        (f"{WORKSPACE}/include/notebooks/sales/orders", "WORKSPACE"),
        ("/medallion/include/notebooks/sales/orders", "WORKSPACE"),  # /Workspace prefix is optional
        (f"{WORKSPACE}/include/notebooks/sales/orders.py", "WORKSPACE"),
        ("include/notebooks/sales/orders", "GIT"),
    ],
)
def test_resolve_notebook_path(project: Path, notebook_path: str, source: str) -> None:
    target = project / "include" / "notebooks" / "sales" / "orders.py"
    target.parent.mkdir(parents=True)
    target.write_text("# Databricks notebook source\n")
    task = {"notebook_path": notebook_path, "source": source}
    resolved = resolve_notebook_path(task, project_dir=project, workspace_root=WORKSPACE, has_git_source=False)
    assert resolved == target.resolve()


@pytest.mark.parametrize(
    "notebook_path", [f"{WORKSPACE}/../../etc/passwd", "/Workspace/other/include/x", f"{WORKSPACE}"]
)
def test_resolve_notebook_path_rejects_outside_paths(project: Path, notebook_path: str) -> None:
    with pytest.raises(InfraError, match="Unable to access the notebook"):
        resolve_notebook_path(
            {"notebook_path": notebook_path},
            project_dir=project,
            workspace_root=WORKSPACE,
            has_git_source=False,
        )


def test_runner_reads_parquet_from_s3(tmp_path: Path, lakehouse: Path) -> None:
    boto3 = pytest.importorskip("boto3")
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        s3 = S3Settings(key_id="key", secret="secret", endpoint_url=f"http://{host}:{port}")
        client = boto3.client(
            "s3",
            endpoint_url=s3.endpoint_url,
            aws_access_key_id=s3.key_id,
            aws_secret_access_key=s3.secret,
            region_name=s3.region,
        )
        client.create_bucket(Bucket="landing")
        local = tmp_path / "orders.parquet"
        con = connect()
        con.execute(f"COPY (SELECT range AS id FROM range(3)) TO '{local}' (FORMAT parquet)")
        con.close()
        client.upload_file(str(local), "landing", "orders/2024-05-01.parquet")
        notebook = tmp_path / "ingest.py"
        notebook.write_text(
            "# Databricks notebook source\n"
            "df = spark.read.parquet('s3://landing/orders/*.parquet')\n"
            "df.write.mode('overwrite').saveAsTable('bronze.orders')\n"
            "dbutils.notebook.exit(str(spark.table('bronze.orders').count()))\n"
        )
        assert run_notebook(notebook, {}, lakehouse_path=lakehouse, s3=s3).exit_value == "3"
    finally:
        server.stop()


def test_runner_cells_magics_and_widgets(project: Path, lakehouse: Path) -> None:
    helpers = project / "helpers.py"
    helpers.write_text("# Databricks notebook source\nGREETING = 'hello'\n")
    notebook = project / "main.py"
    notebook.write_text(
        "# Databricks notebook source\n"
        "# MAGIC %md\n# MAGIC # Title\n"
        f"{CELL_SEPARATOR}\n"
        "# MAGIC %run ./helpers\n"
        f"{CELL_SEPARATOR}\n"
        "# MAGIC %sql\n# MAGIC CREATE OR REPLACE TABLE gold.t AS SELECT 41 AS n\n"
        f"{CELL_SEPARATOR}\n"
        "import pyspark.sql.functions as F\n"
        "from pyspark.sql import DataFrame, SparkSession\n"
        "from pyspark.sql.window import Window\n"
        "dbutils.widgets.dropdown('mode', 'full', ['full', 'incremental'])\n"
        "n = spark.table('gold.t').select((F.col('n') + 1).alias('n')).collect()[0]['n']\n"
        "print(GREETING, dbutils.widgets.getAll())\n"
        "dbutils.notebook.exit(f\"{n}-{dbutils.widgets.get('mode')}-{dbutils.widgets.get('env')}\")\n"
    )
    assert [c.kind for c in split_cells(notebook.read_text())] == ["skip", "run", "sql", "python"]
    result = run_notebook(notebook, {"env": "dev"}, lakehouse_path=lakehouse)
    assert result.exit_value == "42-full-dev"
    assert "hello {'mode': 'full', 'env': 'dev'}" in result.stdout

    notebook.write_text("# Databricks notebook source\ndbutils.widgets.get('nope')\n")
    with pytest.raises(Exception, match="InputWidgetNotDefined: No input widget named nope is defined"):
        run_notebook(notebook, {}, lakehouse_path=lakehouse)


def test_git_source_pipeline_runs_repo_relative_notebooks(project: Path, hook: DatabricksHook) -> None:
    """`silver.source: GIT`: the job carries git_source, notebooks are repository-relative paths."""
    from airflow.sdk import DAG

    from medallion.silver.workflow import build_silver_group
    from medallion.spec.load import SpecLoader
    from medallion.spec.models import PipelineSpec

    write_notebook(project, "git_a", "spark.createDataFrame([(1,)], ['n']).write.mode('overwrite').saveAsTable('a')")
    write_notebook(project, "git_b", "dbutils.notebook.exit(str(spark.table('a').count()))")
    root = Path(__file__).resolve().parents[3] / "dag_configs"
    doc = SpecLoader(root).load(root / "sales/orders.yaml").model_dump()
    doc["silver"] = {
        "source": "GIT",
        "git_source": {"url": "https://github.com/acme/pipelines", "tag": "v1.2.0"},
        "notebooks": [
            {"name": "a", "path": "include/notebooks/git_a.py", "outputs": ["silver.orders"]},
            {"name": "b", "path": "include/notebooks/git_b.py", "outputs": ["silver.customers"], "depends_on": ["a"]},
        ],
    }
    spec = PipelineSpec.model_validate(doc)
    with DAG("git_pipeline", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        build_silver_group(spec)
    launch, a, b = (dag.get_task(f"silver.{t}") for t in ("launch", "a", "b"))
    for op in (launch, a, b):
        op.databricks_conn_id = CONN_ID
    job = launch.create_workflow_json()
    assert job["git_source"] == {
        "git_url": "https://github.com/acme/pipelines",
        "git_provider": "gitHub",
        "git_tag": "v1.2.0",
    }
    assert [(t["notebook_task"]["notebook_path"], t["notebook_task"]["source"]) for t in job["tasks"]] == [
        ("include/notebooks/git_a", "GIT"),
        ("include/notebooks/git_b", "GIT"),
    ]
    metadata = launch.execute({"ti": MagicMock()})
    for op in (a, b):
        op.polling_period_seconds = 1
        op.workflow_run_metadata = metadata
        op.execute({"ti": MagicMock()})
    runs = tasks_by_key(hook, metadata["run_id"])
    assert {t["state"]["result_state"] for t in runs.values()} == {"SUCCESS"}
    assert hook.get_run_output(runs[b.databricks_task_key]["run_id"])["notebook_output"]["result"] == "1"


@pytest.mark.parametrize(
    ("silver", "message"),
    [
        ({"source": "GIT"}, "needs git_source"),
        ({"git_source": {"url": "u", "branch": "main"}}, "only used with source: GIT"),
        ({"source": "GIT", "git_source": {"url": "u", "branch": "main", "tag": "v1"}}, "exactly one of"),
    ],
)
def test_git_source_spec_errors(silver: dict, message: str) -> None:
    from pydantic import ValidationError

    from medallion.spec.models import Silver

    notebooks = [{"name": "a", "path": "include/notebooks/a.py", "outputs": ["silver.a"]}]
    with pytest.raises(ValidationError, match=message):
        Silver.model_validate({"notebooks": notebooks, **silver})
