"""The Airflow callbacks that turn a task failure (or a warning) into an alert and deliver it.

What an alert says lives in ``alerts.content``, where it goes in ``alerts.channels``, and when
(dedup, threads, kept and late alerts) in ``alerts.delivery``. What only a layer knows (dbt's failed
nodes, the versions the lakehouse publishes) comes in as readers the DAG builder hands over
(``factory.alerting``). Nothing here raises into the task: no alert is lost silently and none hides
the task's own failure.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseNotifier

from medallion.alerts.channels import channels
from medallion.alerts.content import (
    PublishedVersions,
    build_dbt_warning_alert,
    build_failure_alert,
    build_gate_warning_alert,
    warning_alert,
)
from medallion.alerts.delivery import Delivery, deliver, send_kept_alerts
from medallion.alerts.message import Alert
from medallion.alerts.state import S3AlertState
from medallion.findings import FindingsReader
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
    """Cosmos ``on_warning_callback`` for the gold group: warn-severity dbt tests alert, never fail.

    ``findings`` reads the warned tests from the callback's context (``gold.results.warned_findings``).
    """

    def __init__(self, spec: PipelineSpec, *, findings: FindingsReader):
        self.spec, self.findings = spec, findings

    def __call__(self, context: Any) -> None:
        try:
            warned = self.findings(self.spec, context)
            if warned is None:
                log.warning("cosmos reported dbt warnings, but no warned test is in the task's results: no alert")
                return
            alert = build_dbt_warning_alert(self.spec, context, warned)
        except Exception:  # a bug here must not fail a task whose dbt command succeeded
            log.exception("could not build the dbt warning alert")
            return
        delivery = deliver(alert, self.spec, state=lake_state(self.spec))
        log.info("dbt warning alert: %s", delivery.summary())


class PipelineFailureNotifier(BaseNotifier):
    """``on_failure_callback`` for every task of a pipeline (Airflow calls it after the last retry).

    ``findings`` reads what the failed task's tool said about its nodes (``gold.results.failed_findings``);
    ``published_versions`` reads what a failed silver/gold run left published. None: the alert goes without.
    """

    template_fields = ()

    def __init__(
        self,
        spec: PipelineSpec,
        *,
        findings: FindingsReader | None,
        published_versions: PublishedVersions | None,
    ):
        super().__init__()
        self.spec, self.findings, self.published_versions = spec, findings, published_versions

    def alert(self, context: Any) -> Alert:
        """The alert for the failed task in ``context``."""
        findings = self.findings(self.spec, context) if self.findings else None
        return build_failure_alert(self.spec, context, findings, self.published_versions)

    def notify(self, context: Any) -> None:
        try:
            alert = self.alert(context)
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
