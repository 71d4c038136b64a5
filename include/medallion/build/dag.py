"""Assemble one pipeline's DAG: bronze → gate → silver → gate → gold → gate.

Only cheap imports happen here (operators, cosmos); GE, dbt execution, boto3 calls and
connections are touched inside tasks, never while the DAG file is parsed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import DAG, Asset, TaskGroup

from medallion import layout
from medallion.alerts.notifier import PipelineFailureNotifier
from medallion.bronze.operator import LandSqlSourceOperator
from medallion.build.docs import render_dag_doc
from medallion.quality.operator import QualityGateOperator
from medallion.spec.models import PipelineSpec

LAYERS = ("bronze", "silver", "gold")


def layer_asset(spec: PipelineSpec, layer: str) -> Asset:
    return Asset(name=f"{spec.id}.{layer}", uri=layout.asset_uri(spec, layer), group="medallion")


def default_args(spec: PipelineSpec) -> dict[str, Any]:
    d = spec.defaults
    return {
        "owner": spec.owners[0].name,
        "retries": d.retries,
        "retry_delay": dt.timedelta(minutes=d.retry_delay_minutes),
        "execution_timeout": dt.timedelta(minutes=d.execution_timeout_minutes) if d.execution_timeout_minutes else None,
        "on_failure_callback": PipelineFailureNotifier(spec),
    }


def build_dag(spec: PipelineSpec) -> DAG:
    """The DAG for one validated spec (not registered globally; the loader exposes it)."""
    args = default_args(spec)
    pool = spec.defaults.lakehouse_pool
    dag = DAG(
        dag_id=spec.dag_id,
        description=spec.description.strip().splitlines()[0][:200],
        schedule=spec.schedule,
        start_date=dt.datetime.combine(spec.start_date, dt.time(), tzinfo=dt.UTC),
        catchup=spec.catchup,
        max_active_runs=1,
        default_args=args,
        tags=sorted({f"domain:{spec.domain}", "medallion", *spec.tags}),
        doc_md=render_dag_doc(spec),
        auto_register=False,
    )
    with dag:
        with TaskGroup("bronze", tooltip="land source extracts in S3") as bronze:
            for src in spec.bronze.sources:
                LandSqlSourceOperator(
                    task_id=f"extract_{src.name}",
                    source_name=src.name,
                    conn_id=src.conn_id,
                    query=src.query,
                    bucket=spec.lake.bucket,
                    partition_key=layout.bronze_partition_key(spec, src.name, "{{ ds }}"),
                    on_empty=src.on_empty,
                    batch_rows=src.batch_rows,
                    compression=spec.bronze.compression,
                )
        upstream: Any = bronze >> _gate(spec, "bronze", None)
        if spec.silver:
            from medallion.silver.workflow import build_silver_group

            silver = build_silver_group(spec, pool=pool)
            upstream = upstream >> silver >> _gate(spec, "silver", pool)
        if spec.gold:
            from medallion.gold.dbt import build_gold_group

            gold = build_gold_group(spec, default_args=args, pool=pool)
            upstream >> gold >> _gate(spec, "gold", pool)
    return dag


def _gate(spec: PipelineSpec, layer: str, pool: str | None) -> QualityGateOperator:
    return QualityGateOperator(
        task_id=f"{layer}_gate",
        spec=spec,
        layer=layer,
        checks=list(getattr(spec.quality, layer)),
        outlets=[layer_asset(spec, layer)],
        pool=pool or "default_pool",
        doc_md=f"Great Expectations gate for the {layer} layer; publishes the `{spec.id}.{layer}` asset.",
    )
