"""Parse-time benchmark: the loader building N DAGs from YAML vs the same DAGs in Python,
and vs the same pipelines written for astronomer dag-factory (the peer YAML tool).

All sides use the same operators and dependencies and run in the same process, after a
warm-up, alternating, best of R rounds. dag-factory is installed for the benchmark only, into
``.local/bench/dag-factory`` (never into the project's venv). What dag-factory cannot express
is written the closest way it can: its task groups are plain ``TaskGroup`` s, so silver is one
``DatabricksNotebookOperator`` per notebook with its own cluster, and gold is cosmos's
``DbtRunLocalOperator``/``DbtTestLocalOperator`` per model (what ``DbtTaskGroup`` renders);
objects such as the gate's spec are built with dag-factory's ``__type__`` casting.
Prints figures and ends with one RESULT line.
Usage: python benchmarks/bench_parse.py [N] [ROUNDS]
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import peak_rss_mb, quiet_airflow, timed

quiet_airflow()
os.environ.setdefault("AIRFLOW__DAG_FACTORY__ENABLE_TELEMETRY", "False")
import airflow  # noqa: F401, E402  (before cosmos)

ROOT = Path(__file__).resolve().parents[1]
N = int(sys.argv[1]) if len(sys.argv) > 1 else 500
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 4
DF_ROUNDS = 2
DAG_FACTORY = "dag-factory==1.1.0"


GOLD_MODELS = ("daily_revenue", "customer_lifetime_value")
TABLES = ("silver.orders", "silver.customers", "gold.daily_revenue")


def generate_specs(target: Path, n: int) -> Path:
    """N specs of the example's shape (two sources, two notebooks, dbt gold, three gates).

    Every table has one producing pipeline (validate rejects a second), so copy ``i`` writes its own
    tables (``silver.orders_p0007``…) and builds its own two gold models from its own dbt project
    (``bench_dbt_project``): each DAG still decodes a manifest of the example's size, as before.
    """
    shutil.copytree(ROOT / "dag_configs", target, ignore=shutil.ignore_patterns("marketing"))
    template = (target / "sales/orders.yaml").read_text()
    (target / "sales/orders.yaml").unlink()
    select = 'select: ["path:models/sales"]'
    assert select in template and all(t in template for t in TABLES), "the example spec changed"
    for i in range(n):
        suffix = f"p{i:04d}"
        text = template.replace(select, f"{select}\n  project_dir: {bench_dbt_project(suffix)}")
        for table in TABLES:
            text = text.replace(table, f"{table}_{suffix}")
        (target / "sales" / f"orders_{i:04d}.yaml").write_text(text)
    return target


def bench_dbt_project(suffix: str) -> str:
    """The example's dbt project as its manifest only, gold models renamed ``<model>_<suffix>`` (a
    repository path under .local/bench/dbt/). Task rendering reads nothing but the manifest."""
    project = ROOT / ".local/bench/dbt" / suffix
    manifest = project / "target/manifest.json"
    source = ROOT / "dbt_project/target/manifest.json"
    if not manifest.is_file() or manifest.stat().st_mtime < source.stat().st_mtime:
        text = source.read_text(encoding="utf-8")
        for model in GOLD_MODELS:
            text = text.replace(model, f"{model}_{suffix}")
        manifest.parent.mkdir(parents=True, exist_ok=True)
        (project / "models").mkdir(exist_ok=True)  # cosmos checks the folder exists
        shutil.copy(ROOT / "dbt_project/dbt_project.yml", project / "dbt_project.yml")
        manifest.write_text(text, encoding="utf-8")
    return str(project.relative_to(ROOT))


def handwritten(specs: list) -> dict:
    """What a Python author writes with the same operators: one explicit DAG per pipeline."""
    from airflow.providers.databricks.operators.databricks import DatabricksNotebookOperator
    from airflow.providers.databricks.operators.databricks_workflow import DatabricksWorkflowTaskGroup
    from airflow.sdk import DAG, Asset, TaskGroup
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import InvocationMode, LoadMode
    from cosmos.operators.local import DbtTestLocalOperator

    from medallion.bronze.operator import LandSqlSourceOperator
    from medallion.bronze.verify import BronzeVerifyOperator
    from medallion.factory.alerting import failure_notifier
    from medallion.gold.profile import LakehouseProfileMapping
    from medallion.quality.operator import QualityGateOperator
    from medallion.quality.publish_step import PublishOperator
    from medallion.silver.preflight import NotebookLintOperator

    dags = {}
    for spec in specs:
        dbt_dir = ROOT / spec.gold.project_dir
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
                "on_failure_callback": failure_notifier(spec),
            },
        ) as dag:
            with TaskGroup("bronze") as bronze:
                extracts = [
                    LandSqlSourceOperator(
                        task_id=f"extract_{src}",
                        source_name=src,
                        conn_id="shop_db",
                        query=f"SELECT * FROM {src}",
                        bucket="medallion-lake",
                        partition_key=f"bronze/sales/{src}/ds={{{{ ds }}}}/",
                    )
                    for src in ("orders", "customers")
                ]
                extracts >> BronzeVerifyOperator(task_id="verify", spec=spec)
            bronze_gate = QualityGateOperator(
                task_id="bronze_gate",
                spec=spec,
                layer="bronze",
                checks=list(spec.quality.bronze),
                inputs_from="bronze.verify",
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
            notebooks = ["include/notebooks/sales/customers_silver.py", "include/notebooks/sales/orders_silver.py"]
            NotebookLintOperator(task_id="silver_preflight", notebooks=notebooks, retries=0) >> silver
            silver_gate = QualityGateOperator(
                task_id="silver_gate", spec=spec, layer="silver", checks=list(spec.quality.silver)
            )
            silver_publish = PublishOperator(
                task_id="silver_publish",
                spec=spec,
                layer="silver",
                tables=[t for nb in spec.silver.notebooks for t in nb.outputs],
                outlets=[Asset(name=f"{spec.id}.silver", uri=f"medallion://{spec.id}/silver")],
            )
            profile = ProfileConfig(
                profile_name="medallion", target_name="lakehouse", profile_mapping=LakehouseProfileMapping("lakehouse")
            )
            gold_preflight = DbtTestLocalOperator(
                task_id="gold_preflight",
                project_dir=str(dbt_dir),
                profile_config=profile,
                invocation_mode=InvocationMode.DBT_RUNNER,
                install_deps=False,
                select=["test_type:unit,path:models/sales"],
                vars={"ds": "{{ ds }}", "pipeline": spec.id},
            )
            gold = DbtTaskGroup(
                group_id="gold",
                project_config=ProjectConfig(dbt_project_path=dbt_dir, manifest_path=dbt_dir / "target/manifest.json"),
                profile_config=profile,
                render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST, select=["path:models/sales"]),
                execution_config=ExecutionConfig(invocation_mode=InvocationMode.DBT_RUNNER),
                operator_args={"install_deps": False},
            )
            gold_checks = list(spec.quality.gold)
            gold_gate = QualityGateOperator(task_id="gold_gate", spec=spec, layer="gold", checks=gold_checks)
            gold_publish = PublishOperator(
                task_id="gold_publish",
                spec=spec,
                layer="gold",
                # this copy's models (renamed per pipeline: one owner per table)
                tables=[f"gold.{m}_{dbt_dir.name}" for m in ("customer_lifetime_value", "daily_revenue")],
                outlets=[Asset(name=f"{spec.id}.gold", uri=f"medallion://{spec.id}/gold")],
            )
            bronze >> bronze_gate >> silver >> silver_gate >> silver_publish >> gold_preflight
            gold_preflight >> gold >> gold_gate >> gold_publish
        dags[spec.id] = dag
    return dags


def install_dag_factory() -> None:
    """dag-factory for this benchmark only; its dependencies (pyyaml, typer, pathspec) are in the venv."""
    target = ROOT / ".local/bench/dag-factory"
    if not (target / "dagfactory").is_dir():
        uv = Path(sys.executable).with_name("uv")
        subprocess.run(
            [
                str(uv),
                "pip",
                "install",
                "-q",
                "--python",
                sys.executable,
                "--no-deps",
                "--target",
                str(target),
                DAG_FACTORY,
            ],
            check=True,
        )
    sys.path.insert(0, str(target))


def typed(cls: type, **fields: object) -> dict:
    return {"__type__": f"{cls.__module__}.{cls.__qualname__}", **fields}


def dag_factory_config(spec, gold_models: list[str]) -> dict:
    """One pipeline as a dag-factory YAML document, as close to the factory's DAG as it can express."""
    from airflow.providers.databricks.operators.databricks import DatabricksNotebookOperator
    from airflow.sdk import Asset
    from cosmos import ProfileConfig
    from cosmos.constants import InvocationMode
    from cosmos.operators.local import DbtRunLocalOperator, DbtTestLocalOperator

    from medallion.bronze.operator import LandSqlSourceOperator
    from medallion.bronze.verify import BronzeVerifyOperator
    from medallion.gold.profile import LakehouseProfileMapping
    from medallion.quality.operator import QualityGateOperator
    from medallion.quality.publish_step import PublishOperator
    from medallion.silver.preflight import NotebookLintOperator
    from medallion.spec.models import PipelineSpec, TableCheck

    def path(cls: type) -> str:
        return f"{cls.__module__}.{cls.__qualname__}"

    spec_doc = typed(PipelineSpec, **spec.model_dump(mode="json"))  # one object: YAML anchors, as a user would

    def layer_asset(layer: str) -> list:
        return [typed(Asset, name=f"{spec.id}.{layer}", uri=f"medallion://{spec.id}/{layer}")]

    def gate(layer: str, after: str, **more: object) -> dict:
        return {
            "operator": path(QualityGateOperator),
            "spec": spec_doc,
            "layer": layer,
            "checks": [typed(TableCheck, **c.model_dump(mode="json")) for c in getattr(spec.quality, layer)],
            "dependencies": [after],
            **more,
        }

    def publish(layer: str, tables: list[str]) -> dict:
        return {
            "operator": path(PublishOperator),
            "spec": spec_doc,
            "layer": layer,
            "tables": tables,
            "outlets": layer_asset(layer),
            "dependencies": [f"{layer}_gate"],
        }

    cluster = {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 2}
    profile = typed(
        ProfileConfig,
        profile_name="medallion",
        target_name="lakehouse",
        profile_mapping={"__type__": path(LakehouseProfileMapping), "__args__": ["lakehouse"]},
    )
    dbt_common = {
        "project_dir": str(ROOT / spec.gold.project_dir),
        "profile_config": profile,
        "install_deps": False,
        "invocation_mode": {"__type__": path(InvocationMode), "__args__": ["dbt_runner"]},
        "vars": {"ds": "{{ ds }}", "pipeline": spec.id},
    }
    tasks: dict[str, dict] = {}
    for src in ("orders", "customers"):
        tasks[f"extract_{src}"] = {
            "operator": path(LandSqlSourceOperator),
            "task_group_name": "bronze",
            "source_name": src,
            "conn_id": "shop_db",
            "query": f"SELECT * FROM {src}",
            "bucket": "medallion-lake",
            "partition_key": f"bronze/sales/{src}/ds={{{{ ds }}}}/",
        }
    tasks["verify"] = {
        "operator": path(BronzeVerifyOperator),
        "task_group_name": "bronze",
        "spec": spec_doc,
        "dependencies": ["extract_orders", "extract_customers"],
    }
    tasks["bronze_gate"] = gate("bronze", "bronze", inputs_from="bronze.verify", outlets=layer_asset("bronze"))
    for name, after in (("customers", "bronze_gate"), ("orders", "customers")):
        tasks[name] = {
            "operator": path(DatabricksNotebookOperator),
            "task_group_name": "silver",
            "notebook_path": f"/Workspace/medallion/include/notebooks/sales/{name}_silver",
            "source": "WORKSPACE",
            "new_cluster": cluster,
            "databricks_conn_id": "databricks_default",
            "notebook_params": {"ds": "{{ ds }}"},
            "dependencies": [after],
        }
    tasks["silver_preflight"] = {
        "operator": path(NotebookLintOperator),
        "notebooks": [f"include/notebooks/sales/{name}_silver.py" for name in ("customers", "orders")],
        "retries": 0,
    }
    tasks["customers"]["dependencies"].append("silver_preflight")
    tasks["silver_gate"] = gate("silver", "silver")
    tasks["silver_publish"] = publish("silver", [t for nb in spec.silver.notebooks for t in nb.outputs])
    tasks["gold_preflight"] = {
        "operator": path(DbtTestLocalOperator),
        "select": ["test_type:unit,path:models/sales"],
        "dependencies": ["silver_publish"],
        **dbt_common,
    }
    gold_models = [f"{m}_{Path(spec.gold.project_dir).name}" for m in gold_models]  # this copy's models
    for model in gold_models:
        tasks[f"{model}_run"] = {
            "operator": path(DbtRunLocalOperator),
            "task_group_name": model,
            "select": [f"fqn:medallion.sales.{model}"],
            "dependencies": ["gold_preflight"],
            **dbt_common,
        }
        tasks[f"{model}_test"] = {
            "operator": path(DbtTestLocalOperator),
            "task_group_name": model,
            "select": [model],
            "dependencies": [f"{model}_run"],
            **dbt_common,
        }
    tasks["gold_gate"] = gate("gold", "gold")
    tasks["gold_publish"] = publish("gold", [f"gold.{m}" for m in gold_models])
    groups = {"bronze": {}, "silver": {}, "gold": {}, **{m: {"parent_group_name": "gold"} for m in gold_models}}
    return {
        spec.id: {
            "schedule": "@daily",
            "start_date": "2026-11-01",
            "catchup": False,
            "max_active_runs": 1,
            "tags": ["domain:sales", "medallion"],
            "default_args": {
                "owner": "Sales Data Team",
                "retries": 2,
                "retry_delay_sec": 300,
                "on_failure_callback": {
                    "callback": "medallion.alerts.notifier.PipelineFailureNotifier",
                    "spec": spec_doc,
                    "findings": None,  # a YAML file cannot name the layers' readers: parse cost only
                    "published_versions": None,
                },
            },
            "task_groups": groups,
            "tasks": tasks,
        }
    }


def write_dag_factory_configs(target: Path, specs: list, gold_models: list[str]) -> Path:
    import yaml

    target.mkdir(parents=True)
    for spec in specs:
        doc = yaml.safe_dump(dag_factory_config(spec, gold_models), sort_keys=False)
        (target / f"{spec.id}.yml").write_text(doc, encoding="utf-8")
    return target


def dag_factory_build(folder: Path) -> dict:
    from dagfactory import load_yaml_dags

    namespace: dict = {}
    load_yaml_dags(globals_dict=namespace, dags_folder=str(folder), defaults_config_path=str(folder))
    return {k: v for k, v in namespace.items() if hasattr(v, "task_dict")}


def main() -> None:
    import logging

    from medallion.factory.loader import load_dags
    from medallion.gold.selection import select_gold
    from medallion.spec import project as project_module

    logging.disable(logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="medallion-bench-"))
    try:
        configs = generate_specs(tmp / "dag_configs", N)
        # the handwritten side gets its spec objects for free (what Python code would construct)
        project = project_module.load_project(configs, connections=None, select_gold=None)
        specs = [i.spec for i in project.valid.values()]
        install_dag_factory()
        first = load_dags(configs)[specs[0].id]
        suffix = f"_{Path(specs[0].gold.project_dir).name}"
        gold_tasks = [t.task_id for t in first.tasks if t.task_id.startswith("gold.")]
        gold_models = sorted({task.split(".")[1].removesuffix(suffix) for task in gold_tasks})  # base names
        df_configs = write_dag_factory_configs(tmp / "dag_factory", specs, gold_models)
        load_dags(configs)  # warm-up every path (imports, manifest read)
        hand_first = handwritten(specs[:2])[specs[0].id]
        warm = dag_factory_build(write_dag_factory_configs(tmp / "dag_factory_warm", specs[:2], gold_models))
        # the same tasks but the workflow group's `launch` (dag-factory has no DatabricksWorkflowTaskGroup)
        assert len(warm[specs[0].id].task_dict) == len(hand_first.task_dict) - 1, "dag-factory DAG differs in shape"
        factory_times, hand_times, df_times = [], [], []

        def run_factory() -> None:
            project_module._LOADERS.clear()  # cold spec cache: every YAML parsed and validated again
            t, dags = timed(lambda: load_dags(configs))
            assert len(dags) == N and not [d for d in dags if d.startswith("invalid__")], "bad specs in benchmark"
            assert len(dags[specs[0].id].task_dict) == len(hand_first.task_dict), "factory DAG differs in shape"
            factory_times.append(t)

        def run_handwritten() -> None:
            t, hdags = timed(lambda: handwritten(specs))
            assert len(hdags) == N
            hand_times.append(t)

        for i in range(ROUNDS):  # alternate who goes first: neither side always inherits the other's garbage
            for run in (run_factory, run_handwritten)[:: 1 if i % 2 == 0 else -1]:
                run()
        for _ in range(DF_ROUNDS):  # ~10x slower: fewer rounds
            t, fdags = timed(lambda: dag_factory_build(df_configs))
            assert len(fdags) == N, f"dag-factory built {len(fdags)} of {N} DAGs"
            df_times.append(t)
            del fdags
        project_module._LOADERS.clear()
        t_validate, _ = timed(lambda: project_module.load_project(configs, connections=None, select_gold=select_gold))
        cli = [str(Path(sys.executable).with_name("medallion")), "validate", str(configs)]
        t_cli = min(timed(lambda: subprocess.run(cli, check=True, capture_output=True))[0] for _ in range(3))
        factory, hand, peer = min(factory_times), min(hand_times), min(df_times)
        rss_mb = peak_rss_mb()
        print(f"specs={N} rounds={ROUNDS} (dag-factory: {DF_ROUNDS}), best of each")
        print(f"factory (YAML → validate → DAG): {factory:.2f}s  ({factory / N * 1000:.1f} ms/DAG)")
        print(f"handwritten Python, same operators: {hand:.2f}s  ({hand / N * 1000:.1f} ms/DAG)")
        print(f"astronomer dag-factory 1.1.0, same pipelines: {peer:.2f}s  ({peer / N * 1000:.1f} ms/DAG)")
        print(f"validate only (all {N} specs, cold): {t_validate:.2f}s in process, {t_cli:.2f}s `medallion validate`")
        print(f"peak RSS of this process: {rss_mb:.0f} MB")
        print(
            f"RESULT parse specs={N} seconds={factory:.2f} handwritten_seconds={hand:.2f} "
            f"ratio_vs_handwritten={factory / hand:.2f} dag_factory_seconds={peer:.2f} "
            f"ratio_vs_dag_factory={factory / peer:.2f} validate_seconds={t_validate:.2f} "
            f"validate_cli_seconds={t_cli:.2f} peak_rss_mb={rss_mb:.0f}"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
