"""Parse-time benchmark: the loader building N DAGs from YAML vs the same DAGs in Python.

Both sides use the same operators and dependencies and run in the same process, after a
warm-up, alternating, best of R rounds. Prints figures and ends with one RESULT line.
Usage: python benchmarks/bench_parse.py [N] [ROUNDS]
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "False")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")
import airflow  # noqa: F401  (before cosmos)

ROOT = Path(__file__).resolve().parents[1]
N = int(sys.argv[1]) if len(sys.argv) > 1 else 500
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3


def generate_specs(target: Path, n: int) -> Path:
    """N specs of the example's shape (two sources, two notebooks, dbt gold, three gates)."""
    shutil.copytree(ROOT / "dag_configs", target, ignore=shutil.ignore_patterns("marketing"))
    template = (target / "sales/orders.yaml").read_text()
    (target / "sales/orders.yaml").unlink()
    for i in range(n):
        (target / "sales" / f"orders_{i:04d}.yaml").write_text(template)
    return target


def handwritten(specs: list) -> dict:
    """What a Python author writes with the same operators: one explicit DAG per pipeline."""
    from airflow.providers.databricks.operators.databricks import DatabricksNotebookOperator
    from airflow.providers.databricks.operators.databricks_workflow import DatabricksWorkflowTaskGroup
    from airflow.sdk import DAG, Asset, TaskGroup
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import InvocationMode, LoadMode

    from medallion.alerts.notifier import PipelineFailureNotifier
    from medallion.bronze.operator import LandSqlSourceOperator
    from medallion.gold.profile import LakehouseProfileMapping
    from medallion.quality.operator import QualityGateOperator

    dags = {}
    dbt_dir = ROOT / "dbt_project"
    for spec in specs:
        with DAG(
            dag_id=spec.id,
            schedule="@daily",
            start_date=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
            catchup=False,
            max_active_runs=1,
            tags=["domain:sales", "medallion"],
            auto_register=False,
            default_args={
                "owner": "Sales Data Team",
                "retries": 2,
                "retry_delay": dt.timedelta(minutes=5),
                "on_failure_callback": PipelineFailureNotifier(spec),
            },
        ) as dag:
            with TaskGroup("bronze") as bronze:
                for src in ("orders", "customers"):
                    LandSqlSourceOperator(
                        task_id=f"extract_{src}",
                        source_name=src,
                        conn_id="shop_db",
                        query=f"SELECT * FROM {src}",
                        bucket="medallion-lake",
                        partition_key=f"bronze/sales/{src}/ds={{{{ ds }}}}/",
                    )
            bronze_gate = QualityGateOperator(
                task_id="bronze_gate",
                spec=spec,
                layer="bronze",
                checks=list(spec.quality.bronze),
                outlets=[Asset(name=f"{spec.id}.bronze", uri=f"medallion://{spec.id}/bronze")],
            )
            with DatabricksWorkflowTaskGroup(
                group_id="silver",
                databricks_conn_id="databricks_default",
                job_clusters=[
                    {
                        "job_cluster_key": "shared",
                        "new_cluster": {
                            "spark_version": "15.4.x-scala2.12",
                            "node_type_id": "i3.xlarge",
                            "num_workers": 2,
                        },
                    }
                ],
                notebook_params={"ds": "{{ ds }}"},
            ) as silver:
                customers = DatabricksNotebookOperator(
                    task_id="customers",
                    notebook_path="/Workspace/medallion/include/notebooks/sales/customers_silver",
                    source="WORKSPACE",
                    job_cluster_key="shared",
                    databricks_conn_id="databricks_default",
                )
                orders = DatabricksNotebookOperator(
                    task_id="orders",
                    notebook_path="/Workspace/medallion/include/notebooks/sales/orders_silver",
                    source="WORKSPACE",
                    job_cluster_key="shared",
                    databricks_conn_id="databricks_default",
                )
                customers >> orders
            silver_gate = QualityGateOperator(
                task_id="silver_gate",
                spec=spec,
                layer="silver",
                checks=list(spec.quality.silver),
                outlets=[Asset(name=f"{spec.id}.silver", uri=f"medallion://{spec.id}/silver")],
            )
            gold = DbtTaskGroup(
                group_id="gold",
                project_config=ProjectConfig(dbt_project_path=dbt_dir, manifest_path=dbt_dir / "target/manifest.json"),
                profile_config=ProfileConfig(
                    profile_name="medallion",
                    target_name="lakehouse",
                    profile_mapping=LakehouseProfileMapping("lakehouse"),
                ),
                render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST, select=["path:models/sales"]),
                execution_config=ExecutionConfig(invocation_mode=InvocationMode.DBT_RUNNER),
                operator_args={"install_deps": False},
            )
            gold_gate = QualityGateOperator(
                task_id="gold_gate",
                spec=spec,
                layer="gold",
                checks=list(spec.quality.gold),
                outlets=[Asset(name=f"{spec.id}.gold", uri=f"medallion://{spec.id}/gold")],
            )
            bronze >> bronze_gate >> silver >> silver_gate >> gold >> gold_gate
        dags[spec.id] = dag
    return dags


def timed(fn) -> tuple[float, object]:
    gc.collect()
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    import logging

    from medallion.build.loader import load_dags
    from medallion.spec import project as project_module

    logging.disable(logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="medallion-bench-"))
    try:
        configs = generate_specs(tmp / "dag_configs", N)
        # the handwritten side gets its spec objects for free (what Python code would construct)
        specs = [i.spec for i in project_module.load_project(configs, connections=None).valid.values()]
        load_dags(configs)  # warm-up both paths (imports, manifest read)
        handwritten(specs[:2])
        factory_times, hand_times = [], []
        for _ in range(ROUNDS):
            project_module._LOADERS.clear()  # cold spec cache: every YAML parsed and validated again
            t, dags = timed(lambda: load_dags(configs))
            assert len(dags) == N and not [d for d in dags if d.startswith("invalid__")], "bad specs in benchmark"
            factory_times.append(t)
            t, hdags = timed(lambda: handwritten(specs))
            assert len(hdags) == N and len(hdags[specs[0].id].task_dict) == len(dags[specs[0].id].task_dict)
            hand_times.append(t)
        project_module._LOADERS.clear()
        t_validate, _ = timed(lambda: project_module.load_project(configs, connections=None))
        factory, hand = min(factory_times), min(hand_times)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"specs={N} rounds={ROUNDS}")
        print(f"factory (YAML → validate → DAG): {factory:.2f}s  ({factory / N * 1000:.1f} ms/DAG)")
        print(f"handwritten Python, same operators: {hand:.2f}s  ({hand / N * 1000:.1f} ms/DAG)")
        print(f"validate only (all {N} specs, cold): {t_validate:.2f}s")
        print(f"peak RSS of this process: {rss_mb:.0f} MB")
        print(
            f"RESULT parse specs={N} seconds={factory:.2f} handwritten_seconds={hand:.2f} "
            f"ratio_vs_handwritten={factory / hand:.2f} validate_seconds={t_validate:.2f} peak_rss_mb={rss_mb:.0f}"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
