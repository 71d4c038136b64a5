"""Assemble one pipeline's DAG: bronze → verify → gate → silver → quarantine → gate → publish → gold → gate →
publish.

The gates only judge; the steps around them (``bronze.verify``, ``silver_quarantine``, ``<layer>_publish``)
hand each other plain values through XCom, and only this module knows which task feeds which.

Only cheap imports happen here (operators, cosmos); GE, dbt execution, boto3 calls and
connections are touched inside tasks, never while the DAG file is parsed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import DAG, Asset, TaskGroup

from medallion import layout, wap
from medallion.alerts.deadline import deadline_alert
from medallion.alerts.notifier import KeptAlertsSender, notify_gate_warning, notify_publish_kept_back
from medallion.bronze.sources import source_kind
from medallion.bronze.verify import TASK_ID as VERIFY_TASK_ID
from medallion.bronze.verify import BronzeVerifyOperator
from medallion.errors import Problem
from medallion.factory.alerting import dbt_warning_notifier, failure_notifier
from medallion.factory.docs import render_dag_doc
from medallion.quality.contract import layer_checks, layer_contracts
from medallion.quality.operator import QualityGateOperator
from medallion.quality.publish_step import PublishOperator
from medallion.quality.quarantine import quarantined_checks
from medallion.quality.quarantine_step import TASK_ID as QUARANTINE_TASK_ID
from medallion.quality.quarantine_step import QuarantineOperator
from medallion.spec.models import PipelineSpec


def layer_asset(pipeline_id: str, layer: str) -> Asset:
    return Asset(name=f"{pipeline_id}.{layer}", uri=layout.asset_uri(pipeline_id, layer), group="medallion")


def table_asset(spec: PipelineSpec, table: str) -> Asset:
    """One asset per published table, produced only by its owner (validate allows one producer per table)."""
    layer, name = table.split(".", 1)
    owners = ", ".join(o.name for o in spec.owners)
    return Asset(
        name=table,
        uri=f"medallion://tables/{layer}/{name}",
        group=f"{layer} tables",
        extra={"owner_pipeline": spec.id, "owners": owners, "domain": spec.domain},
    )


def schedule_of(spec: PipelineSpec) -> Any:
    """A time schedule, or the upstream layer assets this pipeline waits for (all of them)."""
    if spec.triggers:
        return [layer_asset(*ref.split(".")) for ref in spec.triggers]
    return spec.schedule


def default_args(spec: PipelineSpec) -> dict[str, Any]:
    d = spec.defaults
    return {
        "owner": spec.owners[0].name,
        "retries": d.retries,
        "retry_delay": dt.timedelta(minutes=d.retry_delay_minutes),
        "execution_timeout": dt.timedelta(minutes=d.execution_timeout_minutes) if d.execution_timeout_minutes else None,
        "on_failure_callback": failure_notifier(spec),
        "on_success_callback": KeptAlertsSender(spec),  # alerts kept while no channel was reachable
    }


def dag_tags(spec: PipelineSpec) -> list[str]:
    """Filters operators use in the UI: domain, the layers the pipeline has, tier, the spec's own tags."""
    layers = [f"layer:{name}" for name in ("bronze", "silver", "gold") if getattr(spec, name)]
    tier = [f"tier:{spec.tier}"] if spec.tier else []
    return sorted({f"domain:{spec.domain}", "medallion", *layers, *tier, *spec.tags})


def build_dag(
    spec: PipelineSpec,
    warnings: Sequence[Problem] = (),
    owners: Mapping[str, Any] | None = None,
    selection: Any = None,
) -> DAG:
    """The DAG for one validated spec (not registered globally; the loader exposes it).

    ``owners`` (table → producing pipeline, from the project checks) lets the docs name who owns what it reads;
    ``selection`` is the spec's gold selection as the project checks resolved it (resolved once here if not
    given), shared by the docs, the dbt vars and the gold gate.
    """
    from medallion.gold.selection import spec_selection

    selection = selection or spec_selection(spec)
    args = default_args(spec)
    pool = spec.defaults.lakehouse_pool
    dag = DAG(
        dag_id=spec.dag_id,
        description=spec.description.strip().splitlines()[0][:200],
        schedule=schedule_of(spec),
        start_date=dt.datetime.combine(spec.start_date, dt.time(), tzinfo=dt.UTC),
        catchup=spec.catchup,
        # one run at a time, whatever the load semantics: snapshot publishes must follow date order, and
        # silver staging is one table per pipeline, so two runs would audit each other's notebook output
        # (README: Concurrent runs; backfills, counted apart by Airflow 3, are told --max-active-runs 1)
        max_active_runs=1,
        default_args=args,
        tags=dag_tags(spec),
        owner_links={o.name: f"mailto:{o.email}" for o in spec.owners[:1] if o.email},
        doc_md=render_dag_doc(spec, warnings, owners, selection),
        params=_params(spec),
        deadline=deadline_alert(spec),
        auto_register=False,
    )
    with dag:
        upstream: Any = None
        if spec.bronze:
            with TaskGroup("bronze", tooltip="land source extracts in S3, then verify them") as bronze:
                extracts = [land_operator(spec, src) for src in spec.bronze.sources]
                verify = BronzeVerifyOperator(
                    task_id=VERIFY_TASK_ID,
                    spec=spec,
                    doc_md="Checks every committed bronze file against its manifest; lists what the gate reads.",
                )
                extracts >> verify
            asset = layer_asset(spec.id, "bronze")  # no publish step in bronze: the gate's pass publishes the asset
            upstream = bronze >> _gate(spec, "bronze", None, inputs_from=verify.task_id, outlets=[asset])
        if spec.silver:
            from medallion.silver.preflight import build_silver_preflight
            from medallion.silver.workflow import build_silver_group

            silver = build_silver_group(spec, pool=pool)
            build_silver_preflight(spec) >> silver  # notebook lint, in parallel with bronze
            outputs = [t for nb in spec.silver.notebooks for t in nb.outputs]
            upstream = _chain(upstream, silver)
            rules = quarantined_checks(layer_checks(spec, "silver"))
            quarantine = None
            if rules:  # rows breaking quarantine rules are set aside before the gate judges the rest
                quarantine = QuarantineOperator(
                    task_id=QUARANTINE_TASK_ID,
                    spec=spec,
                    checks=rules,
                    pool=pool or "default_pool",
                    doc_md="Sets aside the staged rows that break quarantine rules; the gate judges the rest.",
                )
                upstream = upstream >> quarantine
            kept = quarantine.task_id if quarantine else None
            gate = _gate(spec, "silver", pool, inputs_from=kept)
            upstream = upstream >> gate >> _publish(spec, "silver", pool, outputs, keep_from=kept)
        if spec.gold:
            from medallion.gold.dbt import build_gold_group, build_gold_preflight

            preflight = _chain(upstream, build_gold_preflight(spec, pool=pool, selection=selection))  # unit tests
            gold = build_gold_group(spec, pool=pool, on_warning=dbt_warning_notifier(spec), selection=selection)
            # models build in the run's staging schema; the gate audits them there, the publish step publishes gold
            gate = _gate(spec, "gold", pool, staged=selection.tables)
            _chain(preflight, gold) >> gate >> _publish(spec, "gold", pool, selection.tables)
    return dag


def land_operator(spec: PipelineSpec, src: Any) -> Any:
    """The bronze task for one source: the operator its kind registers (bronze/sources)."""
    common = {
        "task_id": f"extract_{src.name}",
        "source_name": src.name,
        "conn_id": src.conn_id,
        "bucket": spec.lake.bucket,
        "partition_key": layout.bronze_partition_key(spec, src.name, "{{ ds }}"),
        "on_empty": src.on_empty,
        "compression": spec.bronze.compression,
    }
    source = source_kind(src.kind)
    return source.operator(**common, **source.options(src))


def _params(spec: PipelineSpec) -> dict[str, Any]:
    """Run-time switches an operator can set when triggering from the UI."""
    from airflow.sdk import Param

    params: dict[str, Any] = {}
    if spec.bronze and any(getattr(src, "incremental", None) for src in spec.bronze.sources):
        params["reset_watermark"] = Param(
            False, type="boolean", description="re-extract incremental sources from their initial watermark"
        )
    if spec.load.semantics == "snapshot" and (spec.silver or spec.gold):
        params["backfill"] = Param(
            False,
            type="boolean",
            description="publish even if a newer logical date is published (a backfill rebuilding in date order)",
        )
    return params


def _chain(upstream: Any, group: Any) -> Any:
    if upstream is not None:
        upstream >> group
    return group


def _gate(
    spec: PipelineSpec,
    layer: str,
    pool: str | None,
    *,
    staged: list[str] | None = None,
    inputs_from: str | None = None,
    outlets: list[Asset] | None = None,
) -> QualityGateOperator:
    return QualityGateOperator(
        task_id=f"{layer}_gate",
        spec=spec,
        layer=layer,
        checks=layer_checks(spec, layer),
        contracts=layer_contracts(spec, layer),
        staged=staged,
        inputs_from=inputs_from,
        on_warning=notify_gate_warning,
        outlets=outlets or [],
        pool=pool or "default_pool",
        doc_md=f"Great Expectations gate for the {layer} layer: validates, reports, passes or fails; changes nothing.",
    )


def _publish(
    spec: PipelineSpec, layer: str, pool: str | None, tables: list[str], keep_from: str | None = None
) -> PublishOperator:
    """The step after a passing gate; it publishes the layer's asset and one asset per table it publishes."""
    return PublishOperator(
        task_id=wap.publish_task_id(layer),
        spec=spec,
        layer=layer,
        tables=tables,
        keep_from=keep_from,
        on_kept_back=notify_publish_kept_back,
        outlets=[layer_asset(spec.id, layer), *(table_asset(spec, t) for t in tables)],
        pool=pool or "default_pool",
        doc_md=f"Publishes the audited {layer} tables (write → audit → publish) and the `{spec.id}.{layer}` asset.",
    )
