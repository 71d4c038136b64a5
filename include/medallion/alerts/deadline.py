"""Missed-deadline alerts: Airflow 3 deadline alerts generated from the spec's freshness SLA.

Airflow calls ``notify_missed_deadline`` (by dotted path, outside any task) when a run has not
finished ``freshness_sla_hours`` after its logical date.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from medallion import paths
from medallion.spec.models import PipelineSpec

log = logging.getLogger(__name__)


def deadline_alert(spec: PipelineSpec, config_dir: Path) -> Any:
    """The ``DeadlineAlert`` for a spec with a freshness SLA (None without one)."""
    if not spec.freshness_sla_hours:
        return None
    from airflow.sdk.definitions.callback import SyncCallback
    from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=dt.timedelta(hours=spec.freshness_sla_hours),
        callback=SyncCallback(notify_missed_deadline, kwargs={"pipeline": spec.id, "config_dir": str(config_dir)}),
    )


def notify_missed_deadline(context: dict[str, Any], pipeline: str, config_dir: str | None = None) -> None:
    """Send a warning alert to the pipeline's owners: the data is late for its consumers."""
    from medallion.alerts.classify import load_catalog
    from medallion.alerts.content import base_alert
    from medallion.alerts.notifier import deliver, lake_state
    from medallion.spec.project import load_project

    root = Path(config_dir) if config_dir else paths.config_dir()
    spec = next((i.spec for i in load_project(root, select_gold=None).valid.values() if i.spec.id == pipeline), None)
    if spec is None:
        log.error("missed deadline for %s, but its spec is not valid any more; no alert sent", pipeline)
        return
    run = context.get("dag_run") or {}
    ds = str(run.get("logical_date") or "")[:10]
    due = (context.get("deadline") or {}).get("deadline_time")
    cls = load_catalog().classes["deadline_missed"]
    alert = base_alert(
        spec,
        cls,
        severity="warning",
        summary=f"{pipeline} run {run.get('run_id', '?')} was not finished by {due} "
        f"(freshness SLA {spec.freshness_sla_hours:g} h after the logical date); its state is {run.get('state', '?')}.",
        layer=None,
        task="(whole run)",
        ds=ds,
        attempt="-",
        rerun_tasks=".*",
    )
    deliver(alert, spec, state=lake_state(spec))
