"""The silver step before the silver gate: set aside the rows that break quarantine rules.

``silver_quarantine`` runs after the notebooks wrote staging and before the gate judges it. It
copies the failing rows to ``quarantine.<pipeline>__<table>`` (``quality.quarantine``) and returns,
per table, the ``keep`` predicate of the rows that continue and the counts: the gate validates only
those rows and reports the counts, the publish step copies only those rows. Staging is not changed,
so a retried gate or publish sees the same input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from medallion import connections, layout
from medallion.errors import FailureKind, step_errors
from medallion.failures import RetryByClass
from medallion.spec.models import PipelineSpec, TableCheck

TASK_ID = "silver_quarantine"


class QuarantineOperator(RetryByClass, BaseOperator):
    """Quarantine each suite's failing rows; return ``{table: {"keep": predicate, "quarantine": counts}}``."""

    template_fields: Sequence[str] = ()
    ui_color = "#f4d58d"
    failure_layer = "silver"

    def __init__(self, *, spec: PipelineSpec, checks: list[TableCheck], **kwargs: Any):
        super().__init__(**kwargs)
        self.spec, self.checks = spec, checks

    def execute(self, context: Any) -> dict[str, dict[str, Any]]:
        from airflow.sdk import BaseHook

        from medallion.quality import quarantine
        from medallion.quality.params import render_for_run

        conn = BaseHook.get_connection(connections.LAKEHOUSE_SQL)
        out = {}
        for declared in self.checks:  # rules may hold run parameters ({{ ds }}): rendered as the gate renders them
            check = render_for_run(declared, "silver", lambda text: self.render_template(text, context))
            staging = layout.staging_table(self.spec, check.table)
            target = layout.quarantine_table(self.spec, check.table)
            plan = quarantine.plan(check, staging, target, conn.conn_type)
            if plan is None:
                continue
            with step_errors(
                "quarantine",
                f"{check.table} → {target}",
                f"rows could not be set aside; check {staging} exists and {target} has the staging table's "
                "columns plus _quarantine_rules, _run_id, _logical_date, _quarantined_at (drop it after a schema "
                "change); the task retries",
                kind=FailureKind.GATE_INFRA,
            ):
                result = quarantine.apply(conn, plan, run_id=context["run_id"], ds=context["ds"])
            counts = (result.quarantined, result.total, staging, target, result.rules)
            self.log.info("quarantined %d of %d rows of %s into %s %s", *counts)
            out[check.table] = {"keep": plan.keep, "quarantine": result.to_dict()}
        return out
