"""Task-log noise: third-party messages we cannot fix are dropped one by one, nothing else is; the
causes that are ours are fixed in the DAG the factory builds."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest

from medallion import task_logs

ROOT = Path(__file__).resolve().parents[2]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def collected() -> list[str]:
    """Messages that reach handlers of the two noisy loggers (after their filters)."""
    handler = _Collect()
    names = ("cosmos.operators.local", "airflow.sdk._shared.configuration.parser", "airflow.sdk.definitions.dag")
    for name in names:
        logging.getLogger(name).addHandler(handler)
    try:
        yield handler.messages
    finally:
        for name in names:
            logging.getLogger(name).removeHandler(handler)


def test_the_listed_messages_are_dropped_and_the_rest_of_those_loggers_kept(collected: list[str]) -> None:
    task_logs.install()
    task_logs.install()  # idempotent: one filter per logger
    cosmos = logging.getLogger("cosmos.operators.local")
    parser = logging.getLogger("airflow.sdk._shared.configuration.parser")
    assert sum(type(f).__name__ == "_DropNoise" for f in cosmos.filters) == 1
    cosmos.warning("To enable emitting Openlineage events, install apache-airflow-providers-openlineage.")
    cosmos.warning("dbt command failed: %s", "boom")
    parser.warning("section/key [%s/%s] not found in config", "openlineage", "namespace")
    parser.warning("section/key [%s/%s] not found in config", "core", "dags_folder")
    dag_test = logging.getLogger("airflow.sdk.definitions.dag")
    dag_test.warning("No tasks to run. unrunnable tasks: %s", {"<TaskInstance: sales_orders.gold_gate>"})
    dag_test.warning("Dag %s not found", "sales_orders")
    assert collected == [
        "dbt command failed: boom",
        "section/key [core/dags_folder] not found in config",
        "Dag sales_orders not found",
    ]


def test_the_deprecation_is_ignored_only_where_the_provider_raises_it() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        task_logs.install()
        message = "ProvidersManager.hooks is deprecated. Use ProvidersManagerTaskRuntime.hooks from task-sdk instead."
        for module in ("airflow.providers.databricks.hooks.databricks_base", "medallion.bronze.operator"):
            warnings.warn_explicit(message, DeprecationWarning, "x.py", 1, module=module)
    assert [w.filename for w in caught] == ["x.py"] and len(caught) == 1


def test_namespace_levels_raise_only_our_loggers_to_info() -> None:
    levels = dict(entry.split("=") for entry in task_logs.namespace_levels().split())
    assert levels == {"airflow.task.operators.medallion": "INFO", "medallion": "INFO"}


def test_the_built_dag_causes_none_of_the_noise_that_is_ours(configs: Path) -> None:
    """cosmos emits no per-model assets (Airflow 3 rejects their URIs with a warning per task), and every
    notebook task has its own Databricks task key (else the provider logs that it hashes one)."""
    from medallion.factory.loader import load_dags

    dag = load_dags(configs)["sales_orders"]
    dbt_tasks = [t for t in dag.tasks if t.task_id.startswith("gold.") or t.task_id == "gold_preflight"]
    assert dbt_tasks and all(t.emit_datasets is False for t in dbt_tasks)
    assert not [t.task_id for t in dbt_tasks if t.outlets]
    notebooks = {t.task_id: t for t in dag.tasks if t.task_id.startswith("silver.") and t.task_id != "silver.launch"}
    assert {tid: t.databricks_task_key for tid, t in notebooks.items()} == {
        "silver.customers": "customers",
        "silver.orders": "orders",
    }
