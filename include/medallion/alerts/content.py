"""What an alert says about a failure or a warning: facts, details, links and the commands to run.

Independent of where the alert goes (``alerts.channels``) and of when it is sent (``alerts.delivery``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from medallion import connections
from medallion.alerts.classify import classify, details_of, expectation_hint, layer_of, load_catalog
from medallion.alerts.message import Alert, scrub, truncate
from medallion.alerts.runbook import runbook_link
from medallion.alerts.state import fingerprint
from medallion.failures import FailureClass
from medallion.findings import NodeFindings
from medallion.spec.models import PipelineSpec

log = logging.getLogger(__name__)
MAX_DETAIL_LINES = 12
#: The version each of these tables is published at now (``quality.publish``, handed in by the DAG builder).
PublishedVersions = Callable[[list[str]], list[Any]]


def owner_handles(spec: PipelineSpec) -> list[str]:
    return [o.slack or o.email or o.name for o in spec.owners]


def _links(context: Any, report_uri: str | None) -> dict[str, str]:
    from airflow.configuration import conf

    links: dict[str, str] = {}
    base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    ti = context.get("ti")
    if base and ti is not None:
        links["Airflow log"] = (
            f"{base}/dags/{ti.dag_id}/runs/{context.get('run_id')}/tasks/{ti.task_id}"
            f"?try_number={getattr(ti, 'try_number', 1)}"
        )
    if report_uri:
        links["Quality report"] = report_uri
    run_page = databricks_run_page(context)
    if run_page:
        links["Databricks run page"] = run_page
    return links


def databricks_run_page(context: Any) -> str | None:
    """The job run page of a failed Databricks notebook task (its operator knows the run id)."""
    task = context.get("task")
    run_id = getattr(task, "databricks_run_id", None)
    if not run_id:
        return None
    try:
        from airflow.providers.databricks.hooks.databricks import DatabricksHook

        return str(DatabricksHook(getattr(task, "databricks_conn_id", connections.DATABRICKS)).get_run_page_url(run_id))
    except Exception as exc:  # the alert matters more than its link
        log.warning("no Databricks run page for run %s: %s", run_id, exc)
        return None


def rerun_commands(dag_id: str, task_id: str, ds: str) -> dict[str, str]:
    return {
        "Reproduce locally": f"medallion run {dag_id} --date {ds}",
        "Re-run in Airflow": f"airflow tasks clear {dag_id} --task-regex '^{task_id}$' -s {ds} -e {ds} --yes",
    }


def gate_details(report: dict[str, Any], severity: str) -> list[str]:
    """One line per failing expectation: observed vs expected, samples, and its hint."""
    lines = []
    for table in report.get("tables", []):
        for o in table["outcomes"]:
            if o["success"] or o["error"] or o["severity"] != severity:
                continue
            args = ", ".join(f"{k}={v!r}" for k, v in o["kwargs"].items())
            observed = (
                f"{o['unexpected_count']} unexpected rows ({o['unexpected_percent']:.2f}%)"
                if o["unexpected_count"] is not None and o["unexpected_percent"] is not None
                else f"observed {o['observed']!r}"
            )
            samples = f"; samples {o['samples']}" if o["samples"] else ""
            hint = expectation_hint(o["expectation"], o.get("hint"))
            lines.append(f"{table['table']}: {o['expectation']}({args}) → {observed}{samples}. {hint}".strip())
    return lines


def node_details(findings: NodeFindings | None) -> list[str]:
    """One entry per flagged node (dbt: node, test, failing rows, compiled SQL path, message or unit test diff)."""
    return [truncate(scrub(d), 1500) for d in findings.details] if findings else []


def build_failure_alert(
    spec: PipelineSpec,
    context: Any,
    findings: NodeFindings | None = None,
    published_versions: PublishedVersions | None = None,
) -> Alert:
    """Alert for a task that failed after its last retry. ``findings``: what the task's tool (dbt) said about
    its failed nodes; ``published_versions``: reads what a failed silver/gold run left published (the note
    goes out without the versions when not given)."""
    exc = context.get("exception")
    ti = context["ti"]
    layer = layer_of(ti.task_id)
    cls = classify(exc, layer, kind=findings.kind if findings else None)
    extra = details_of(exc)
    report = extra.get("report") or {}
    details = gate_details(report, "critical") if report else node_details(findings)
    message = scrub(str(exc)) if exc is not None else "the task failed (no exception captured)"
    if findings:
        message = findings.summary()
    if not details:
        details = [truncate(line, 600) for line in message.splitlines() if line.strip()][:MAX_DETAIL_LINES]
    details = details[: MAX_DETAIL_LINES - 2] + wap_details(spec, layer, context, published_versions)
    task = context.get("task")
    max_tries = (getattr(task, "retries", 0) or 0) + 1
    try_number = int(getattr(ti, "try_number", 1) or 1)
    hint = spec.alerts.hints.get(cls.name) if spec.alerts.hints else None
    return base_alert(
        spec,
        cls,
        severity="critical",
        summary=truncate(message.splitlines()[0] if message else cls.title, 500),
        layer=layer,
        task=ti.task_id,
        ds=str(context.get("ds")),
        attempt=f"try {try_number} of {max_tries}",
        details=details[:MAX_DETAIL_LINES],
        hint=hint or extra.get("hint") or cls.hint,
        links=_links(context, report.get("report_url") or report.get("report_uri")),
        run_id=str(context.get("run_id") or ""),
        retry=retry_note(cls, exc, try_number, max_tries),
    )


def base_alert(
    spec: PipelineSpec,
    cls: FailureClass,
    *,
    severity: str,
    summary: str,
    layer: str | None,
    task: str,
    ds: str,
    attempt: str,
    rerun_tasks: str | None = None,
    **fields: Any,
) -> Alert:
    """What every alert of ``cls`` about ``spec`` says alike (title, owners, runbook, re-run commands,
    dedup fingerprint); callers add what differs. ``rerun_tasks``: the task regex to clear (default ``task``)."""
    return Alert(
        severity=severity,
        title=cls.title,
        summary=summary,
        pipeline=spec.id,
        domain=spec.domain,
        layer=layer,
        task=task,
        logical_date=ds,
        attempt=attempt,
        failure_class=cls.name,
        runbook=runbook_link(spec.alerts, cls.name),
        owners=owner_handles(spec),
        commands=rerun_commands(spec.id, rerun_tasks or task, ds),
        fingerprint=fingerprint(spec.id, layer, task, cls.name, ds),
        **{"hint": cls.hint, **fields},
    )


def retry_note(cls: FailureClass, exc: BaseException | None, try_number: int, max_tries: int) -> str:
    """Whether Airflow runs the task again, and why (the failure callback runs when it does not)."""
    from medallion.failures import fail_exception_type

    if not cls.retry:
        return f"none: {cls.name} is not retried (the same code and data fail the same way); fix, then clear the task"
    if isinstance(exc, fail_exception_type()):
        reason = getattr(exc, "reason", "")
        return f"none: {reason}" if reason else "none: the task failed without retry"
    if try_number < max_tries:
        return f"yes: try {try_number + 1} of {max_tries} follows"
    if max_tries == 1:
        return "none: the task has no retries (defaults.retries)"
    return f"none left: all {max_tries} tries failed ({cls.name} is retried); clear the task once it is fixed"


def build_gate_warning_alert(spec: PipelineSpec, context: Any, report: dict[str, Any]) -> Alert:
    """Warning expectations failed and/or rows were quarantined; the run went on."""
    parts = [f"{report['warnings']} warning expectation(s) failed"] if report["warnings"] else []
    if report.get("quarantined"):
        parts.append(f"{report['quarantined']} row(s) were quarantined")
    return warning_alert(
        spec,
        context,
        "quality_gate_warning" if report["warnings"] else "quality_quarantine",
        summary=f"{' and '.join(parts)} in the {report['layer']} gate; the run continues.",
        details=quarantine_details(report) + gate_details(report, "warning"),
        layer=report["layer"],
        report=report,
    )


def quarantine_details(report: dict[str, Any]) -> list[str]:
    """One line per table with quarantined rows: counts per rule and the query to look at them."""
    lines = []
    for table in report.get("tables", []):
        q = table.get("quarantine") or {}
        if q.get("quarantined"):
            rules = ", ".join(f"{rule}: {n}" for rule, n in q["rules"].items() if n)
            lines.append(
                f"{table['table']}: {q['quarantined']} row(s) quarantined ({rules}), {q['kept']} published. "
                f"SELECT * FROM {q['table']} WHERE _logical_date = DATE '{report['logical_date']}'"
            )
    return lines


def build_dbt_warning_alert(spec: PipelineSpec, context: Any, warned: NodeFindings) -> Alert:
    """Warning for dbt tests with ``severity: warn`` that found rows (the task itself succeeded)."""
    return warning_alert(
        spec,
        context,
        "dbt_test_warning",
        summary=f"{len(warned.headlines)} dbt test(s) with severity warn found rows; the run continues: "
        + warned.summary(),
        details=node_details(warned),
        layer="gold",
    )


def warning_alert(
    spec: PipelineSpec,
    context: Any,
    class_name: str,
    *,
    summary: str,
    details: list[str],
    layer: str | None,
    report: dict[str, Any] | None = None,
) -> Alert:
    """A ``warning`` severity alert: the task succeeded but someone should look."""
    cls = load_catalog().classes[class_name]
    ti = context["ti"]
    report = report or {}
    return base_alert(
        spec,
        cls,
        severity="warning",
        summary=truncate(scrub(summary), 500),
        layer=layer,
        task=ti.task_id,
        ds=str(context.get("ds")),
        attempt=f"try {getattr(ti, 'try_number', 1)}",
        details=details[:MAX_DETAIL_LINES],
        links=_links(context, report.get("report_url") or report.get("report_uri")),
        run_id=str(context.get("run_id") or ""),
    )


def wap_details(
    spec: PipelineSpec, layer: str | None, context: Any, published_versions: PublishedVersions | None
) -> list[str]:
    """Failed silver/gold run: the last good version is still published (which run), and where the rejects are."""
    from medallion import wap

    if layer not in ("silver", "gold"):
        return []
    tables = wap.published_tables(spec, layer, context)
    try:
        published = published_versions(tables) if published_versions else []
    except Exception:  # the alert goes out without the versions
        log.warning("could not read the published versions for the alert", exc_info=True)
        published = []
    return wap.rejected_note(spec, layer, str(context.get("ds")), published, tables)
