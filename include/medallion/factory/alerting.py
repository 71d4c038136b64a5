"""A pipeline's alert callbacks, wired to what only the layers know.

Alerting imports no layer (README "Import direction"): the failure and dbt-warning alerts get gold's
reader of dbt's failed or warned nodes, and the failure alert a reader of the versions the lakehouse
publishes now, from here.
"""

from __future__ import annotations

from typing import Any

from medallion import connections
from medallion.alerts.notifier import DbtWarningNotifier, PipelineFailureNotifier
from medallion.gold.results import failed_findings, warned_findings
from medallion.spec.models import PipelineSpec


def failure_notifier(spec: PipelineSpec) -> PipelineFailureNotifier:
    """Every task's ``on_failure_callback``."""
    return PipelineFailureNotifier(spec, findings=failed_findings, published_versions=published_versions_now)


def dbt_warning_notifier(spec: PipelineSpec) -> DbtWarningNotifier:
    """The gold group's cosmos ``on_warning_callback``."""
    return DbtWarningNotifier(spec, findings=warned_findings)


def published_versions_now(tables: list[str]) -> list[Any]:
    """The ``PublishedVersion`` of each table on the lakehouse connection: what readers still see after a
    failed run (called only while an alert is built, never at parse time)."""
    from airflow.sdk import BaseHook

    from medallion.quality.publish import published_versions

    return published_versions(BaseHook.get_connection(connections.LAKEHOUSE_SQL), tables)
