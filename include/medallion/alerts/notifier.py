"""The Airflow callbacks that turn a task failure (or a warning) into an alert and deliver it.

What an alert says lives in ``alerts.content``, where it goes in ``alerts.channels``, and when
(dedup, threads, kept and late alerts) in ``alerts.delivery``. Nothing here raises into the task:
no alert is lost silently and none hides the task's own failure.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseNotifier

from medallion.alerts.channels import channels
from medallion.alerts.content import (
    build_dbt_warning_alert,
    build_failure_alert,
    build_gate_warning_alert,
    warning_alert,
)
from medallion.alerts.delivery import Delivery, deliver, send_kept_alerts
from medallion.alerts.state import S3AlertState
from medallion.gold.results import DbtOutcome, outcomes_from
from medallion.spec.models import PipelineSpec

log = logging.getLogger(__name__)

__all__ = [
    "DbtWarningNotifier",
    "Delivery",
    "KeptAlertsSender",
    "PipelineFailureNotifier",
    "build_failure_alert",
    "build_gate_warning_alert",
    "deliver",
    "lake_state",
    "notify_gate_warning",
    "notify_publish_kept_back",
]


def lake_state(spec: PipelineSpec) -> S3AlertState:
    return S3AlertState(spec.lake.bucket, spec.id)


class DbtWarningNotifier:
    """Cosmos ``on_warning_callback`` for the gold group: warn-severity dbt tests alert, never fail."""

    def __init__(self, spec: PipelineSpec):
        self.spec = spec

    def __call__(self, context: Any) -> None:
        try:
            outcomes = outcomes_from(context)
            if not any(o.warned for o in outcomes):  # cosmos only gave names: keep them
                outcomes = [
                    DbtOutcome(unique_id=n, name=n, resource_type="test", status="warn", message=str(m))
                    for n, m in zip(context.get("test_names") or [], context.get("test_results") or [], strict=False)
                ]
            alert = build_dbt_warning_alert(self.spec, context, outcomes)
        except Exception:  # a bug here must not fail a task whose dbt command succeeded
            log.exception("could not build the dbt warning alert")
            return
        delivery = deliver(alert, self.spec, state=lake_state(self.spec))
        log.info("dbt warning alert: %s", delivery.summary())


class PipelineFailureNotifier(BaseNotifier):
    """``on_failure_callback`` for every task of a pipeline (Airflow calls it after the last retry)."""

    template_fields = ()

    def __init__(self, spec: PipelineSpec):
        super().__init__()
        self.spec = spec

    def notify(self, context: Any) -> None:
        try:
            alert = build_failure_alert(self.spec, context)
        except Exception:  # a bug here must not hide the task's own failure
            log.exception("could not build the failure alert")
            return
        delivery = deliver(alert, self.spec, state=lake_state(self.spec))
        log.info(
            "failure alert %s: %s%s",
            alert.failure_class,
            delivery.summary(),
            " (kept in the lake, sent later)" if delivery.kept else "",
        )


class KeptAlertsSender:
    """``on_success_callback`` of every task: a task that succeeds sends the alerts kept while no
    channel was reachable (one S3 listing when there are none) and lets each channel close what an
    earlier failure opened (PagerDuty resolves its incident); never fails the task."""

    def __init__(self, spec: PipelineSpec):
        self.spec = spec

    def __call__(self, context: Any) -> None:
        state = lake_state(self.spec)
        for channel in channels():
            try:
                channel.settle(self.spec, context, state)
            except Exception:
                log.exception("%s: not settled after the task's success; the next task tries again", channel.name)
        try:
            sent = send_kept_alerts(state)
        except Exception:
            log.exception("kept alerts not sent; the next task tries again")
            return
        if sent:
            log.info("%d alert(s) kept while Slack and e-mail were unreachable were delivered (marked late)", sent)


def notify_gate_warning(spec: PipelineSpec, context: Any, report: dict[str, Any]) -> Delivery:
    return deliver(build_gate_warning_alert(spec, context, report), spec, state=lake_state(spec))


def notify_publish_kept_back(
    spec: PipelineSpec, context: Any, layer: str, summary: str, details: list[str]
) -> Delivery:
    """Warning: a snapshot run older than the published version kept its outputs in staging."""
    alert = warning_alert(spec, context, "publish_kept_back", summary=summary, details=details, layer=layer)
    return deliver(alert, spec, state=lake_state(spec))
