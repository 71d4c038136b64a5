"""Missed-deadline alerts: Airflow 3 deadline alerts generated from the spec's freshness SLA.

Airflow calls ``notify_missed_deadline`` (by dotted path, outside any task: the executor's callback
process imports it and passes the kwargs stored with the DAG) when a run has not finished
``freshness_sla_hours`` after its logical date. The kwargs carry the spec itself, as JSON (they are
serialised with the DAG), so the callback reads no spec file: a late run of one pipeline is reported
even when another spec, or the config folder, is broken or unreadable on the executor by then.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from medallion.spec.models import PipelineSpec

log = logging.getLogger(__name__)


def deadline_alert(spec: PipelineSpec) -> Any:
    """The ``DeadlineAlert`` for a spec with a freshness SLA (None without one)."""
    if not spec.freshness_sla_hours:
        return None
    from airflow.sdk.definitions.callback import SyncCallback
    from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=dt.timedelta(hours=spec.freshness_sla_hours),
        callback=SyncCallback(notify_missed_deadline, kwargs={"spec": spec.model_dump(mode="json")}),
    )


def notify_missed_deadline(context: dict[str, Any], spec: dict[str, Any]) -> None:
    """Send a warning alert to the pipeline's owners: the data is late for its consumers.

    ``spec``: the pipeline's spec as the DAG was built from it (``PipelineSpec.model_dump(mode="json")``).
    """
    from medallion.alerts.classify import load_catalog
    from medallion.alerts.content import base_alert
    from medallion.alerts.notifier import deliver, lake_state

    pipeline = PipelineSpec.model_validate(spec)
    run = context.get("dag_run") or {}
    ds = str(run.get("logical_date") or "")[:10]
    due = (context.get("deadline") or {}).get("deadline_time")
    cls = load_catalog().classes["deadline_missed"]
    alert = base_alert(
        pipeline,
        cls,
        severity="warning",
        summary=f"{pipeline.id} run {run.get('run_id', '?')} was not finished by {due} (freshness SLA "
        f"{pipeline.freshness_sla_hours:g} h after the logical date); its state is {run.get('state', '?')}.",
        layer=None,
        task="(whole run)",
        ds=ds,
        attempt="-",
        rerun_tasks=".*",
    )
    deliver(alert, pipeline, state=lake_state(pipeline))
