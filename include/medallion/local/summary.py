"""What one local run did, in a few lines a person can trust.

Per layer: how many tasks passed, failed or did not run; rows landed in bronze; the row count of
each silver and gold table, marked when this run did not write it (a count left by an earlier run
is not this run's result); each gate's verdict in expectations, not in bare numbers; and the
failed task with the class of the alert it sent (read back from the local Slack/SMTP capture).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LAYERS = ("bronze", "silver", "gold")
_STATE_WORDS = {
    "success": "passed",
    "failed": "failed",
    "upstream_failed": "not run (upstream failed)",
    "skipped": "skipped",
    "up_for_retry": "waiting to retry",
    "removed": "removed",
}


@dataclass(frozen=True)
class CapturedAlert:
    """The facts of one alert the local Slack or SMTP capture received."""

    failure_class: str
    title: str
    task: str
    logical_date: str
    received_at: str
    channel: str


def task_layer(task_id: str) -> str:
    head = re.split(r"[._]", task_id, maxsplit=1)[0]
    return head if head in LAYERS else "other"


def state_word(state: str | None) -> str:
    return _STATE_WORDS.get(str(state), "not run")


def _counted(counter: Counter[str]) -> str:
    """``3 passed, 1 failed, 2 not run (upstream failed)``: passed first, failed second."""
    order = {"passed": 0, "failed": 1}
    return ", ".join(f"{n} {w}" for w, n in sorted(counter.items(), key=lambda kv: (order.get(kv[0], 2), kv[0])))


def task_counts(tasks: dict[str, str]) -> dict[str, Counter[str]]:
    """``{layer: Counter(word)}``: e.g. silver → {"passed": 3, "failed": 1}."""
    out: dict[str, Counter[str]] = {}
    for task_id, state in tasks.items():
        out.setdefault(task_layer(task_id), Counter())[state_word(state)] += 1
    return out


def gate_line(layer: str, state: str | None, report: dict[str, Any] | None) -> str:
    """``passed: 12 of 12 expectations met`` rather than ``success (passed: 0 critical …)``."""
    if report is None:
        return state_word(state) if state != "success" else "passed"
    evaluated = sum(t.get("evaluated", len(t.get("outcomes") or [])) for t in report.get("tables") or [])
    critical, warnings = report.get("critical_failures", 0), report.get("warnings", 0)
    infra = report.get("infra_errors", 0)
    failed = critical + warnings + infra
    verdict = {"passed": "passed", "warning": "passed with warnings", "failed": "failed", "error": "error"}.get(
        report.get("status", ""), str(report.get("status"))
    )
    if not failed:
        text = f"{verdict}: all {evaluated} expectations met" if evaluated else f"{verdict}: no expectation to check"
    else:
        parts = [
            f"{n} {what}" for n, what in ((critical, "critical"), (warnings, "warning"), (infra, "not evaluable")) if n
        ]
        text = f"{verdict}: {failed} of {evaluated} expectations not met ({', '.join(parts)})"
    if report.get("quarantined"):
        text += f", {report['quarantined']:,} row(s) quarantined"
    return text


def parse_alert_text(text: str, received_at: str = "", channel: str = "") -> CapturedAlert | None:
    """The facts block of an alert's plain text (``Layer / task: …``, ``Class: …``)."""
    facts = dict(re.findall(r"^([A-Za-z /]+): (.*)$", text or "", flags=re.MULTILINE))
    if "Class" not in facts or "Layer / task" not in facts:
        return None
    headline = (text.splitlines() or [""])[0]
    title = headline.split(": ", 1)[0].removeprefix("[late] ")
    return CapturedAlert(
        failure_class=facts["Class"].strip(),
        title=title,
        task=facts["Layer / task"].split(" / ", 1)[-1].strip(),
        logical_date=facts.get("Logical date", "").strip(),
        received_at=received_at,
        channel=channel,
    )


def captured_alerts(state_dir: Path, pipeline: str) -> list[CapturedAlert]:
    """Every failure alert for ``pipeline`` the local Slack and SMTP captures hold, oldest first."""
    from medallion.local.slack_server import read_messages
    from medallion.local.smtp_server import read_index, read_mail

    found = []
    for message in read_messages(state_dir / "slack"):
        alert = parse_alert_text(message.get("text") or "", message.get("received_at", ""), "Slack")
        if alert and f": {pipeline} · " in (message.get("text") or "").splitlines()[0]:
            found.append(alert)
    for entry, mail in zip(read_index(state_dir / "mail"), read_mail(state_dir / "mail"), strict=False):
        body = mail.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        alert = parse_alert_text(text, entry.get("received_at", ""), "e-mail")
        if alert and f": {pipeline} · " in text.splitlines()[0]:
            found.append(alert)
    return sorted(found, key=lambda a: a.received_at)


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def alert_for(alerts: list[CapturedAlert], task: str, ds: str, since: dt.datetime) -> tuple[list[CapturedAlert], bool]:
    """The alerts (one per channel) this run's failed ``task`` sent (fresh=True), else the earlier one for the
    same task and date that deduplication kept from being repeated (fresh=False)."""
    same = [a for a in alerts if a.task == task and a.logical_date in ("", ds)]
    fresh = [a for a in same if a.received_at and _utc(dt.datetime.fromisoformat(a.received_at)) >= _utc(since)]
    if fresh:
        return fresh, True
    return same[-1:], False


def published_by(lakehouse: str, tables: list[str]) -> dict[str, str]:
    """``{table: run_id}`` of the version each table is published at (``ops.published_versions``;
    tables without a record are left out)."""
    from types import SimpleNamespace

    from medallion.quality.publish import published_versions

    conn = SimpleNamespace(conn_type="duckdb", host=lakehouse, conn_id="lakehouse")
    return {v.table: v.run_id for v in published_versions(conn, tables)}


def table_rows(lakehouse: str, tables: list[str]) -> dict[str, int | None]:
    from medallion import duck

    out: dict[str, int | None] = {}
    con = duck.connect(lakehouse, read_only=True)
    try:
        for table in tables:
            try:
                out[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            except Exception:
                out[table] = None
    finally:
        con.close()
    return out


def written_by_run(table: str, result: Any, published: dict[str, str] | None) -> bool:
    """Did this run write ``table``? The publish record says; without one, the task that writes it."""
    if published is not None and table in published:
        return published[table] == result.run_id
    if table.startswith("silver."):
        return result.tasks.get("silver_publish") == "success"  # publishes staging → silver after the gate
    model = table.split(".", 1)[1]
    return any(result.tasks.get(t) == "success" for t in (f"gold.{model}.run", f"gold.{model}_run", "gold_publish"))


def gate_report(result: Any, layer: str, spec: Any) -> dict[str, Any] | None:
    """This run's gate report: its XCom when the gate passed, else the report it published to S3."""
    report = result.xcoms.get(f"{layer}_gate")
    if isinstance(report, dict) or spec is None or result.tasks.get(f"{layer}_gate") != "failed":
        return report if isinstance(report, dict) else None
    import json

    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from medallion import connections, layout

    try:
        key = layout.quality_report_key(spec, layer, result.logical_date, "report", "json")
        hook = S3Hook(aws_conn_id=connections.LAKE_S3)
        found = json.loads(hook.read_key(key, bucket_name=spec.lake.bucket))
    except Exception:
        return None
    return found if found.get("run_id") == result.run_id else None


def summary_lines(
    result: Any,
    lakehouse: str,
    *,
    spec: Any = None,
    tables: list[str] | None = None,
    state_dir: Path | None = None,
    since: dt.datetime | None = None,
) -> list[str]:
    """The summary of one run, line by line (``print_summary`` prints them)."""
    counts = task_counts(result.tasks)
    lines = [f"run {result.dag_id} {result.logical_date}: {result.state} ({_counted(sum(counts.values(), Counter()))})"]
    for layer in (*LAYERS, "other"):
        if layer in counts:
            lines.append(f"tasks   {layer:<7} {_counted(counts[layer])}")
    failed = sorted(t for t, s in result.tasks.items() if s == "failed")
    alerts = captured_alerts(state_dir, result.dag_id) if state_dir is not None and failed else []
    for task in failed:
        found, fresh = alert_for(alerts, task, result.logical_date, since or dt.datetime.min.replace(tzinfo=dt.UTC))
        alert = found[-1] if found else None
        if alert is None:
            why = "no alert captured (see the task log)"
        elif fresh:
            channels = " and ".join(c for c in ("Slack", "e-mail") if any(a.channel == c for a in found))
            why = f"alert {alert.failure_class} ({alert.title}) sent to {channels}"
        else:
            why = f"alert {alert.failure_class} ({alert.title}): already sent at {alert.received_at[:19]}, not repeated"
        lines.append(f"failed  {task}: {why}")
    for task_id, value in sorted(result.xcoms.items()):
        if task_id.startswith("bronze.extract_") and isinstance(value, dict) and "rows" in value:
            lines.append(
                f"bronze  {value.get('source', task_id):<10} {value['rows']:>8,} rows landed → {value.get('partition')}"
            )
    tables = tables or []
    if tables:
        rows = table_rows(lakehouse, tables)
        published = published_by(lakehouse, tables)
        for table in tables:
            layer = table.split(".")[0]
            if rows[table] is None:
                lines.append(f"{layer:<7} {table:<30} {'missing':>8}")
                continue
            mark = (
                ""
                if written_by_run(table, result, published)
                else "  (not written by this run: left by an earlier run)"
            )
            lines.append(f"{layer:<7} {table:<30} {rows[table]:>8,} rows{mark}")
    for layer in LAYERS:
        gate = f"{layer}_gate"
        if gate in result.tasks:
            lines.append(f"gate    {layer:<7} {gate_line(layer, result.tasks[gate], gate_report(result, layer, spec))}")
    return lines
