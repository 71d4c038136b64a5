"""The Airflow task that gates a layer: validate, publish a report, decide by severity."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import (
    AirflowFailException,  # AirflowFailException: fail without retries (bad data does not get better by retrying)
)

from medallion import connections
from medallion.errors import FailureKind, GateFailed, MedallionError, StepError, step_errors
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


class BronzeCorrupt(MedallionError, AirflowFailException):
    """Files of a committed bronze partition changed after the commit: retrying the gate cannot
    help, re-running the extract does (class ``bronze_corrupt``)."""

    kind = FailureKind.BRONZE_CORRUPT

    def __init__(self, message: str, *, target: str, hint: str):
        super().__init__(message)
        self.step, self.target, self.hint = "verify", target, hint


class QualityGateOperator(RetryByClass, BaseOperator):
    """Run the layer's suites; critical → fail (no retry), warning → alert, error → retry."""

    template_fields: Sequence[str] = ()
    ui_color = "#9fd3c7"
    operator_extra_links = (QualityReportLink(),)

    def __init__(
        self,
        *,
        spec: PipelineSpec,
        layer: str,
        checks: list[TableCheck],
        publishes: list[str] | None = None,
        contracts: list[Contract] | None = None,
        on_warning: Callable[[PipelineSpec, Any, dict[str, Any]], Any] | None = None,
        on_kept_back: Callable[[PipelineSpec, Any, str, str, list[str]], Any] | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.spec, self.layer, self.checks = spec, layer, checks
        # alerts for warnings / kept-back publishes: passed in by the DAG builder (quality imports no alerts)
        self.on_warning, self.on_kept_back = on_warning, on_kept_back
        # silver/gold: the tables this gate audits in staging and publishes when it passes (silver: every
        # notebook output unless told; gold: the DAG passes its selection's tables)
        outputs = [t for nb in spec.silver.notebooks for t in nb.outputs] if layer == "silver" and spec.silver else []
        self.publishes = list(publishes) if publishes is not None else outputs
        self.contracts = {c.table: c for c in contracts or []}  # enforced before the suites (README: Contracts)

    @property
    def failure_layer(self) -> str:  # type: ignore[override]
        return self.layer

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from airflow.sdk import BaseHook

        from medallion.quality.contract import pii_columns
        from medallion.quality.gate import run_table_check

        s3 = S3Hook(aws_conn_id=connections.LAKE_S3)
        ds = context["ds"]
        self._manifests: dict[str, dict[str, Any]] = {}  # bronze: each source's manifest, read once per run
        if self.layer == "bronze":
            self._verify_bronze(s3, ds)
        tables = []
        keep: dict[str, str] = {}  # silver table → predicate of the rows not quarantined
        for declared in self.checks:
            check = self._runtime_check(declared, context, s3)
            target, query = self._target_and_query(check, ds, s3, BaseHook)
            broken = self._contract(check, query, BaseHook)
            if broken is not None:  # missing or retyped columns: the suite would only add engine errors
                tables.append(broken)
                continue
            quarantined = self._quarantine(check, context, BaseHook)
            if quarantined is not None:
                keep[check.table] = quarantined[0]
                query = f"{query} WHERE {quarantined[0]}"
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
            tables.append(quarantined[1].annotate(table, check) if quarantined else table)
        if self.layer == "bronze":
            tables += self._schema_drift(s3, ds)
        report = self._report(context, tables)
        report["report_uri"] = self._publish(s3, report)
        html_uri = report["report_uri"][: -len("json")] + "html"
        report["report_url"] = browser_url(html_uri, endpoint_of(connections.LAKE_S3))
        context["ti"].xcom_push(key=REPORT_URL_KEY, value=report["report_url"])
        self._log_summary(report)
        self._decide(context, report)
        report["published"] = self._publish_layer(BaseHook, keep, context)
        return report

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
        from medallion.quality.params import render_check
        from medallion.quality.volume import with_volume_expectation

        with step_errors(
            "render",
            f"{self.layer} {declared.table}",
            "a run parameter ({{ … }}) in this suite could not be rendered; fix the expression in the spec",
        ):
            check = render_check(declared, lambda text: self.render_template(text, context))
        check = with_freshness_expectation(check, self.spec.freshness_sla_hours, context)
        return with_volume_expectation(check, self._history(s3, context["ds"], check.table))

    def _quarantine(self, check: TableCheck, context: Any, base_hook: Any) -> tuple[str, Any] | None:
        """Silver: set aside rows breaking quarantine rules; returns (keep predicate, result) or None."""
        from medallion import layout
        from medallion.quality import quarantine

        if self.layer != "silver" or not quarantine.quarantine_rules(check):
            return None
        conn = base_hook.get_connection(connections.LAKEHOUSE_SQL)
        staging = layout.staging_table(self.spec, check.table)
        target = layout.quarantine_table(self.spec, check.table)
        plan = quarantine.plan(check, staging, target, conn.conn_type)
        assert plan is not None  # there are quarantine rules
        with step_errors(
            "quarantine",
            f"{check.table} → {target}",
            f"rows could not be set aside; check {staging} exists and {target} has the staging table's "
            "columns plus _quarantine_rules, _run_id, _logical_date, _quarantined_at (drop it after a schema "
            "change); the task retries",
            kind=FailureKind.GATE_INFRA,
        ):
            result = quarantine.apply(conn, plan, run_id=context["run_id"], ds=context["ds"])
        self.log.info(
            "quarantined %d of %d rows of %s into %s %s",
            result.quarantined,
            result.total,
            staging,
            target,
            result.rules,
        )
        return plan.keep, result

    def _publish_layer(self, base_hook: Any, keep: dict[str, str], context: Any) -> list[str]:
        """Silver/gold: swap the audited staging relations into place (only reached when the gate passed).

        Snapshot semantics: when a newer logical date is already published (and this is no backfill),
        nothing is published; a warning alert names the published version and where this run's data is.
        """
        from medallion import layout, wap
        from medallion.quality.publish import publish

        if not self.publishes:
            return []
        ds_nodash = str(context["ds"]).replace("-", "")
        pubs = wap.publications(self.spec, self.layer, self.publishes, ds_nodash, keep)
        stamp = wap.run_stamp(self.spec, context)
        drop = layout.gold_staging_schema(self.spec, ds_nodash) if self.layer == "gold" else None
        with step_errors(
            "publish",
            ", ".join(self.publishes),
            "the data passed its gate but could not be published; the task retries",
            kind=FailureKind.GATE_INFRA,
        ):
            result = publish(
                base_hook.get_connection(connections.LAKEHOUSE_SQL),
                pubs,
                stamp=stamp,
                backfill=wap.is_backfill(context),
                drop_schema=drop,
            )
        if result.skipped:
            summary, details = wap.kept_back_summary(self.layer, stamp, result.kept_newer, [p.staging for p in pubs])
            self.log.warning("%s\n  %s", summary, "\n  ".join(details))
            if self.on_kept_back is not None:
                self.on_kept_back(self.spec, context, self.layer, summary, details)
            return []
        self.log.info(
            "published %s (logical date %s, run %s)",
            ", ".join(f"{p.staging} → {p.public}" for p in pubs),
            stamp.logical_date,
            stamp.run_id,
        )
        return result.published

    def _bronze_manifest(self, s3: Any, dataset: str, ds: str) -> dict[str, Any]:
        """The committed manifest of ``dataset`` for ``ds`` (read from S3 once per run: verify, query, drift)."""
        from medallion import layout
        from medallion.bronze.landing import read_manifest

        if dataset in self._manifests:
            return self._manifests[dataset]
        key = layout.bronze_partition_key(self.spec, dataset, ds)
        manifest = read_manifest(s3, self.spec.lake.bucket, key)
        if manifest is None:
            raise StepError(
                f"no committed manifest at s3://{self.spec.lake.bucket}/{key}",
                step="validate",
                target=f"bronze {dataset}",
                hint="the bronze task did not commit this date; clear it first",
                kind=FailureKind.GATE_INFRA,
            )
        self._manifests[dataset] = manifest
        return manifest

    def _verify_bronze(self, s3: Any, ds: str) -> None:
        """Every file each source's manifest lists is still what its extract landed, checked before
        anything (this gate's suites, the silver notebooks) reads it; see ``quality.integrity``."""
        import re

        from medallion import layout
        from medallion.quality.integrity import verify_partition

        bucket = self.spec.lake.bucket
        for source in self.spec.bronze.sources if self.spec.bronze else []:
            manifest = self._bronze_manifest(s3, source.name, ds)
            where = f"s3://{bucket}/{layout.bronze_partition_key(self.spec, source.name, ds)}"
            with step_errors(
                "verify", f"bronze {source.name} {where}", "S3 could not be read; the task retries", FailureKind.LAKE
            ):
                problems = verify_partition(s3, bucket, manifest)
            if problems:
                task = f"bronze.extract_{source.name}"
                raise BronzeCorrupt(
                    f"bronze partition {where} changed after its commit: " + "; ".join(problems),
                    target=f"bronze {source.name}",
                    hint=f"re-run the extract of {source.name!r} for {ds}, then this gate: airflow tasks clear "
                    f"{self.spec.dag_id} --task-regex '^{re.escape(task)}$' -s {ds} -e {ds} "
                    "--downstream --yes",
                )
            self.log.info("bronze %s: %d file(s) as committed (size, ETag)", source.name, len(manifest["files"]))

    def _target_and_query(self, check: TableCheck, ds: str, s3: Any, base_hook: Any) -> tuple[Any, str]:
        from medallion.duck import S3Settings
        from medallion.quality.engine import duckdb_target, lakehouse_target

        if self.layer == "bronze":
            manifest = self._bronze_manifest(s3, check.table, ds)
            files = ", ".join("'" + f.replace("'", "''") + "'" for f in manifest["files"])
            s3_settings = S3Settings.from_connection(base_hook.get_connection(connections.LAKE_S3))
            return duckdb_target(":memory:", s3_settings), f"SELECT * FROM read_parquet([{files}])"
        from medallion import wap

        target = lakehouse_target(base_hook.get_connection(connections.LAKEHOUSE_SQL))
        # audit what this run staged; a gold table of another pipeline is read where it is published
        staged = self.layer == "silver" or check.table in self.publishes
        table = wap.staged_relation(self.spec, self.layer, check.table, ds.replace("-", "")) if staged else check.table
        return target, f"SELECT * FROM {table}"

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

    def _schema_drift(self, s3: Any, ds: str) -> list[dict[str, Any]]:
        """A warning outcome per source whose columns changed since the previous extract."""
        from medallion.failures import load_catalog
        from medallion.quality.gate import Outcome, TableGateResult

        out = []
        for source in self.spec.bronze.sources if self.spec.bronze else []:
            drift = self._bronze_manifest(s3, source.name, ds).get("schema_drift") or {}
            if drift:
                hint = load_catalog().classes["schema_drift"].hint
                outcome = Outcome("schema_drift", {}, "warning", False, observed=drift, hint=hint)
                out.append(TableGateResult("bronze", source.name, "manifest schema", [outcome]).to_dict())
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

    def _publish(self, s3: Any, report: dict[str, Any]) -> str:
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
