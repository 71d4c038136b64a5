"""The Airflow task that gates a layer: validate, write a report, decide by severity. It only judges:
bronze integrity is ``bronze.verify``'s, quarantine and publishing are the silver/gold steps around it
(``quality.quarantine_step``, ``quality.publish_step``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import (
    AirflowFailException,  # AirflowFailException: fail without retries (bad data does not get better by retrying)
)

from medallion import connections
from medallion.errors import FailureKind, GateFailed, StepError, step_errors
from medallion.failures import RetryByClass
from medallion.links import REPORT_URL_KEY, QualityReportLink, browser_url, endpoint_of
from medallion.spec.models import Contract, PipelineSpec, TableCheck

VOLUME_LOOKBACK_MAX = 60


class QualityGateFailed(GateFailed, AirflowFailException):
    """Critical expectations failed; carries the gate report for the alert."""


class ContractViolation(QualityGateFailed):
    """A contract column is missing or has another type than declared (class ``contract_violation``):
    consumers rely on the declared types, and retrying cannot change them."""

    kind = FailureKind.CONTRACT_VIOLATION


class QualityGateOperator(RetryByClass, BaseOperator):
    """Judge the layer's data: run its suites, write the report, decide by severity.

    critical → fail (no retry), warning → alert, error → retry. The gate reads what the steps before it
    hand over as plain values (``inputs_from``: a task whose return value maps a table to ``files`` to
    validate (bronze.verify), ``keep``, the predicate of the rows not quarantined (silver_quarantine),
    ``quarantine`` counts and ``schema_drift``) and changes nothing: publishing is the next task's.
    """

    template_fields: Sequence[str] = ()
    ui_color = "#9fd3c7"
    operator_extra_links = (QualityReportLink(),)

    def __init__(
        self,
        *,
        spec: PipelineSpec,
        layer: str,
        checks: list[TableCheck],
        staged: list[str] | None = None,
        inputs_from: str | None = None,
        contracts: list[Contract] | None = None,
        on_warning: Callable[[PipelineSpec, Any, dict[str, Any]], Any] | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.spec, self.layer, self.checks = spec, layer, checks
        # gold: the tables this run built in its staging schema (another pipeline's gold table is read where
        # it is published); every silver table is audited in staging
        self.staged = list(staged or [])
        self.inputs_from = inputs_from
        self.on_warning = on_warning  # passed in by the DAG builder (quality imports no alerts)
        self.contracts = {c.table: c for c in contracts or []}  # enforced before the suites (README: Contracts)

    @property
    def failure_layer(self) -> str:  # type: ignore[override]
        return self.layer

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from airflow.sdk import BaseHook

        from medallion.quality.contract import pii_columns
        from medallion.quality.gate import run_table_check
        from medallion.quality.quarantine import QuarantineResult

        s3 = S3Hook(aws_conn_id=connections.LAKE_S3)
        inputs = self._inputs(context)
        tables = []
        for declared in self.checks:
            check = self._runtime_check(declared, context, s3)
            given = inputs.get(check.table) or {}
            target, query = self._target_and_query(check, str(context["ds"]), given, BaseHook)
            broken = self._contract(check, query, BaseHook)
            if broken is not None:  # missing or retyped columns: the suite would only add engine errors
                tables.append(broken)
                continue
            self.log.info("validating %s %s (%d expectations)", self.layer, check.table, len(check.expectations))
            with step_errors(
                "validate",
                f"{self.layer} {check.table}",
                "the validation engine could not run; check the table exists and the lakehouse is up",
                kind=FailureKind.GATE_INFRA,
            ):
                result = run_table_check(
                    target,
                    check,
                    query,
                    layer=self.layer,
                    suite_name=f"{self.spec.id}.{self.layer}.{check.table}",
                    pii=pii_columns(self.spec, check.table),
                )
            table = result.to_dict()
            counts = given.get("quarantine")
            tables.append(QuarantineResult.from_dict(counts).annotate(table, check) if counts else table)
        tables += self._schema_drift(inputs)
        report = self._report(context, tables)
        report["report_uri"] = self._write_report(s3, report)
        html_uri = report["report_uri"][: -len("json")] + "html"
        report["report_url"] = browser_url(html_uri, endpoint_of(connections.LAKE_S3))
        context["ti"].xcom_push(key=REPORT_URL_KEY, value=report["report_url"])
        self._log_summary(report)
        self._decide(context, report)
        return report

    def _inputs(self, context: Any) -> dict[str, dict[str, Any]]:
        """What the step before the gate handed over (its return value), per table; {} without one."""
        if not self.inputs_from:
            return {}
        return context["ti"].xcom_pull(task_ids=self.inputs_from) or {}

    def _contract(self, check: TableCheck, query: str, base_hook: Any) -> dict[str, Any] | None:
        """The table's result when its columns break the contract's declared names and types, else None."""
        from medallion.quality.contract import column_types, contract_outcomes
        from medallion.quality.gate import TableGateResult

        contract = self.contracts.get(check.table)
        if contract is None:
            return None
        conn = base_hook.get_connection(connections.LAKEHOUSE_SQL)
        with step_errors(
            "contract",
            f"{self.layer} {check.table}",
            "the table's column types could not be read; check the table exists and the lakehouse is up",
            kind=FailureKind.GATE_INFRA,
        ):
            actual = column_types(conn, query)
        outcomes = contract_outcomes(contract, conn.conn_type, actual)
        self.log.info("contract %s: %d column(s), %d violation(s)", check.table, len(contract.columns), len(outcomes))
        if not outcomes:
            return None
        result = TableGateResult(self.layer, check.table, query, outcomes)
        return result.to_dict() | {"contract_violations": len(outcomes)}

    def _runtime_check(self, declared: TableCheck, context: Any, s3: Any) -> TableCheck:
        """The suite as this run evaluates it: run parameters rendered, freshness and volume bounds added."""
        from medallion.quality.freshness import with_freshness_expectation
        from medallion.quality.params import render_for_run
        from medallion.quality.volume import with_volume_expectation

        check = render_for_run(declared, self.layer, lambda text: self.render_template(text, context))
        check = with_freshness_expectation(check, self.spec.freshness_sla_hours, context)
        return with_volume_expectation(check, self._history(s3, context["ds"], check.table))

    def _target_and_query(self, check: TableCheck, ds: str, given: dict[str, Any], base_hook: Any) -> tuple[Any, str]:
        from medallion import wap
        from medallion.duck import S3Settings
        from medallion.quality.engine import duckdb_target, lakehouse_target

        if self.layer == "bronze":
            if given.get("files") is None:
                raise StepError(
                    f"{self.inputs_from or 'no step before the gate'} listed no files for {check.table} ({ds})",
                    step="validate",
                    target=f"bronze {check.table}",
                    hint="bronze.verify lists every source's committed files; clear the source's extract for this date",
                    kind=FailureKind.GATE_INFRA,
                )
            files = ", ".join("'" + f.replace("'", "''") + "'" for f in given["files"])
            s3_settings = S3Settings.from_connection(base_hook.get_connection(connections.LAKE_S3))
            return duckdb_target(":memory:", s3_settings), f"SELECT * FROM read_parquet([{files}])"
        target = lakehouse_target(base_hook.get_connection(connections.LAKEHOUSE_SQL))
        # audit what this run staged; a gold table of another pipeline is read where it is published
        staged = self.layer == "silver" or check.table in self.staged
        table = wap.staged_relation(self.spec, self.layer, check.table, ds.replace("-", "")) if staged else check.table
        keep = given.get("keep")  # silver: only the rows the quarantine step kept
        return target, f"SELECT * FROM {table}" + (f" WHERE {keep}" if keep else "")

    def _history(self, s3: Any, ds: str, table: str) -> list[int]:
        """Row counts of ``table`` in this layer's reports of earlier dates, oldest first."""
        from medallion import layout
        from medallion.quality.volume import row_counts_from_reports

        prefix = layout.quality_report_key(self.spec, self.layer, ds, "report", "json").rsplit("ds=", 1)[0]
        keys = sorted(
            k
            for k in s3.list_keys(bucket_name=self.spec.lake.bucket, prefix=prefix) or []
            if k.endswith("/report.json") and k < f"{prefix}ds={ds}/"
        )
        return row_counts_from_reports(
            (json.loads(s3.read_key(k, bucket_name=self.spec.lake.bucket)) for k in keys[-VOLUME_LOOKBACK_MAX:]), table
        )

    def _schema_drift(self, inputs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """A warning outcome per source whose columns changed since the previous extract."""
        from medallion.failures import load_catalog
        from medallion.quality.gate import Outcome, TableGateResult

        out = []
        for source, given in inputs.items():
            drift = given.get("schema_drift") or {}
            if drift:
                hint = load_catalog().classes["schema_drift"].hint
                outcome = Outcome("schema_drift", {}, "warning", False, observed=drift, hint=hint)
                out.append(TableGateResult(self.layer, source, "manifest schema", [outcome]).to_dict())
        return out

    def _report(self, context: Any, tables: list[dict[str, Any]]) -> dict[str, Any]:
        critical = sum(t["critical_failures"] for t in tables)
        infra = sum(t["infra_errors"] for t in tables)
        warnings = sum(t["warnings"] for t in tables)
        quarantined = sum((t.get("quarantine") or {}).get("quarantined", 0) for t in tables)
        status = "error" if infra else "failed" if critical else "warning" if warnings or quarantined else "passed"
        return {
            "pipeline": self.spec.id,
            "domain": self.spec.domain,
            "layer": self.layer,
            "logical_date": context["ds"],
            "run_id": context["run_id"],
            "status": status,
            "critical_failures": critical,
            "warnings": warnings,
            "infra_errors": infra,
            "quarantined": quarantined,
            "tables": tables,
        }

    def _write_report(self, s3: Any, report: dict[str, Any]) -> str:
        from medallion import layout
        from medallion.quality.report import render_html

        bucket = self.spec.lake.bucket
        key = layout.quality_report_key(self.spec, self.layer, report["logical_date"], "report", "json")
        s3.load_string(json.dumps(report, default=str, indent=1), key=key, bucket_name=bucket, replace=True)
        s3.load_string(render_html(report), key=key[:-4] + "html", bucket_name=bucket, replace=True)
        return f"s3://{bucket}/{key}"

    def _log_summary(self, report: dict[str, Any]) -> None:
        for table in report["tables"]:
            for o in table["outcomes"]:
                status = "ERROR" if o["error"] else "ok" if o["success"] else o["severity"].upper()
                self.log.info("  %-8s %s.%s %s", status, self.layer, table["table"], o["expectation"])
        self.log.info("%s gate: %s (report %s)", self.layer, report["status"], report["report_uri"])

    def _decide(self, context: Any, report: dict[str, Any]) -> None:
        broken = [(t["table"], o) for t in report["tables"] if t.get("contract_violations") for o in t["outcomes"]]
        if broken:
            raise ContractViolation(
                f"{self.layer} gate failed: data contract violated: "
                + "; ".join(
                    f"{table}.{o['kwargs']['column']} declared {o['kwargs']['declared']}, table has {o['observed']}"
                    for table, o in broken
                ),
                report,
            )
        if report["infra_errors"]:
            errors = [o["error"] for t in report["tables"] for o in t["outcomes"] if o["error"]]
            raise StepError(
                "; ".join(errors[:3]),
                step="validate",
                target=f"{self.layer} gate",
                kind=FailureKind.GATE_INFRA,
                hint="an expectation could not be evaluated (engine or table problem, not bad data); the task retries",
            )
        if report["critical_failures"]:
            failing = [
                f"{t['table']}: {o['expectation']}"
                for t in report["tables"]
                for o in t["outcomes"]
                if not o["success"] and o["severity"] == "critical"
            ]
            raise QualityGateFailed(
                f"{self.layer} gate failed: {report['critical_failures']} critical expectation(s) failed: "
                + "; ".join(failing),
                report,
            )
        if (report["warnings"] or report["quarantined"]) and self.on_warning is not None:
            self.on_warning(self.spec, context, report)
