"""Build the silver task group: one Databricks job per run, one Airflow task per notebook.

``DatabricksWorkflowTaskGroup`` creates (or resets) one job whose notebook tasks share a
job cluster, so N notebooks pay one cluster start, and each notebook still shows as its own
Airflow task with its own log, state and Databricks run link.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from medallion import connections, layout
from medallion.spec.models import Compute, PipelineSpec

JOB_CLUSTER_KEY = "medallion_shared"


def job_cluster(compute: Compute) -> dict[str, Any]:
    """The ``new_cluster`` block of the shared job cluster."""
    cluster: dict[str, Any] = {"spark_version": compute.spark_version, "node_type_id": compute.node_type_id}
    if compute.autoscale:
        cluster["autoscale"] = compute.autoscale.model_dump()
    elif compute.num_workers is not None:
        cluster["num_workers"] = compute.num_workers
    if compute.policy_id:
        cluster["policy_id"] = compute.policy_id
    if compute.spark_conf:
        cluster["spark_conf"] = dict(compute.spark_conf)
    return cluster


def notebook_workspace_path(spec: PipelineSpec, repo_path: str) -> str:
    """Repository path → deployed workspace path (GIT source: repository-relative)."""
    assert spec.silver is not None
    stem = repo_path[:-3] if repo_path.endswith(".py") else repo_path
    if spec.silver.source == "GIT":
        return stem
    return f"{spec.silver.workspace_root.rstrip('/')}/{stem.lstrip('/')}"


def run_parameters(spec: PipelineSpec) -> dict[str, str]:
    """Widgets every notebook receives; rendered by Airflow at launch time."""
    return {
        "ds": "{{ ds }}",
        "run_id": "{{ run_id }}",
        "pipeline": spec.id,
        "bronze_root": layout.bronze_root_uri(spec),
    }


def build_silver_group(spec: PipelineSpec, pool: str | None = None) -> Any:
    """Create the ``silver`` group in the current DAG context and return it."""
    from airflow.providers.databricks.operators.databricks_workflow import DatabricksWorkflowTaskGroup

    from medallion.silver.notebook import NotebookTaskOperator

    silver = spec.silver
    assert silver is not None
    compute = silver.compute
    shared = not compute.existing_cluster_id
    group = DatabricksWorkflowTaskGroup(
        group_id="silver",
        databricks_conn_id=connections.DATABRICKS,
        job_clusters=[{"job_cluster_key": JOB_CLUSTER_KEY, "new_cluster": job_cluster(compute)}] if shared else [],
        notebook_params=run_parameters(spec),
        extra_job_params={
            "tags": {"medallion_pipeline": spec.id, "domain": spec.domain},
            **({"git_source": silver.git_source.job_field()} if silver.git_source else {}),
        },
        tooltip="Databricks notebooks (one job, shared job cluster)",
    )
    with group:
        tasks = {}
        for nb in silver.notebooks:
            tasks[nb.name] = NotebookTaskOperator(
                task_id=nb.name,
                # unique within the pipeline's job and readable in Databricks (else the provider
                # logs that it hashes dag_id + task_id into one, on every task)
                databricks_task_key=nb.name,
                databricks_conn_id=connections.DATABRICKS,
                notebook_path=notebook_workspace_path(spec, nb.path),
                source=silver.source,
                job_cluster_key=JOB_CLUSTER_KEY if shared else "",
                existing_cluster_id=compute.existing_cluster_id or "",
                # notebooks write staging tables; the silver gate publishes them once they pass
                notebook_params={
                    **nb.parameters,
                    "target_tables": ",".join(layout.staging_table(spec, t) for t in nb.outputs),
                },
                polling_period_seconds=silver.polling_seconds,
                execution_timeout=dt.timedelta(minutes=silver.timeout_minutes),
                pool=pool,
            )
        for nb in silver.notebooks:
            for dep in nb.depends_on:
                tasks[dep] >> tasks[nb.name]
    return group
