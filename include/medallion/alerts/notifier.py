"""Turn a task failure (or a gate warning) into an alert and deliver it.

Delivery never hides the original failure: Slack errors fall back to e-mail and are logged,
and nothing here raises into the task. No alert is lost silently: the same failure (pipeline,
layer, class) on another logical date is summarised in its first alert's Slack thread, and an
alert that reached no channel is kept in the lake and sent, marked late, by the next task that
reaches one.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from typing import Any

from airflow.sdk import BaseNotifier

from medallion import connections
from medallion.alerts.classify import classify, details_of, expectation_hint, layer_of, load_catalog
from medallion.alerts.message import Alert, scrub, truncate
from medallion.alerts.runbook import runbook_link
from medallion.alerts.state import S3AlertState, family, fingerprint, run_key
from medallion.failures import FailureClass
from medallion.gold.results import DbtOutcome, failure_kind, outcomes_from
from medallion.spec.models import PipelineSpec

log = logging.getLogger(__name__)
MAX_DETAIL_LINES = 12


@dataclass
class Delivery:
    slack: str = "skipped"  # sent | threaded (a repeat, in the first alert's thread) | deduplicated | failed
    email: str = "skipped"
    errors: list[str] = field(default_factory=list)
    kept: bool = False  # reached no channel; kept in the lake for the next task that reaches one
    thread_ts: str | None = None  # the Slack thread repeats of this alert go to

    @property
    def delivered(self) -> bool:
        return "sent" in (self.slack, self.email) or self.slack == "threaded"


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


def dbt_project_label(spec: PipelineSpec) -> str:
    return spec.gold.project_dir if spec.gold else ""


def dbt_details(spec: PipelineSpec, outcomes: list[DbtOutcome]) -> list[str]:
    """One entry per dbt node: node, test, failing rows, message (unit test diff) and compiled SQL path."""
    return [truncate(scrub(o.describe(dbt_project_label(spec))), 1500) for o in outcomes]


def build_failure_alert(spec: PipelineSpec, context: Any) -> Alert:
    """Alert for a task that failed after its last retry."""
    exc = context.get("exception")
    ti = context["ti"]
    layer = layer_of(ti.task_id)
    failed_nodes = [o for o in outcomes_from(context) if o.failed]
    cls = classify(exc, layer, kind=failure_kind(failed_nodes))
    extra = details_of(exc)
    report = extra.get("report") or {}
    details = gate_details(report, "critical") if report else dbt_details(spec, failed_nodes)
    message = scrub(str(exc)) if exc is not None else "the task failed (no exception captured)"
    if failed_nodes:
        message = "; ".join(o.headline() for o in failed_nodes[:3]) + ("; …" if len(failed_nodes) > 3 else "")
    if not details:
        details = [truncate(line, 600) for line in message.splitlines() if line.strip()][:MAX_DETAIL_LINES]
    details = details[: MAX_DETAIL_LINES - 2] + wap_details(spec, layer, context)
    task = context.get("task")
    max_tries = (getattr(task, "retries", 0) or 0) + 1
    try_number = int(getattr(ti, "try_number", 1) or 1)
    hint = spec.alerts.hints.get(cls.name) if spec.alerts.hints else None
    return Alert(
        severity="critical",
        title=cls.title,
        summary=truncate(message.splitlines()[0] if message else cls.title, 500),
        pipeline=spec.id,
        domain=spec.domain,
        layer=layer,
        task=ti.task_id,
        logical_date=str(context.get("ds")),
        attempt=f"try {try_number} of {max_tries}",
        failure_class=cls.name,
        details=details[:MAX_DETAIL_LINES],
        hint=hint or extra.get("hint") or cls.hint,
        runbook=runbook_link(spec.alerts, cls.name),
        owners=owner_handles(spec),
        links=_links(context, report.get("report_url") or report.get("report_uri")),
        commands=rerun_commands(spec.id, ti.task_id, str(context.get("ds"))),
        run_id=str(context.get("run_id") or ""),
        fingerprint=fingerprint(spec.id, layer, cls.name, str(context.get("ds"))),
        retry=retry_note(cls, exc, try_number, max_tries),
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


def build_dbt_warning_alert(spec: PipelineSpec, context: Any, outcomes: list[DbtOutcome]) -> Alert:
    """Warning for dbt tests with ``severity: warn`` that found rows (the task itself succeeded)."""
    warned = [o for o in outcomes if o.warned]
    return warning_alert(
        spec,
        context,
        "dbt_test_warning",
        summary=f"{len(warned)} dbt test(s) with severity warn found rows; the run continues: "
        + "; ".join(o.headline() for o in warned[:3]),
        details=dbt_details(spec, warned),
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
    return Alert(
        severity="warning",
        title=cls.title,
        summary=truncate(scrub(summary), 500),
        pipeline=spec.id,
        domain=spec.domain,
        layer=layer,
        task=ti.task_id,
        logical_date=str(context.get("ds")),
        attempt=f"try {getattr(ti, 'try_number', 1)}",
        failure_class=cls.name,
        details=details[:MAX_DETAIL_LINES],
        hint=cls.hint,
        runbook=runbook_link(spec.alerts, cls.name),
        owners=owner_handles(spec),
        links=_links(context, report.get("report_url") or report.get("report_uri")),
        commands=rerun_commands(spec.id, ti.task_id, str(context.get("ds"))),
        run_id=str(context.get("run_id") or ""),
        fingerprint=fingerprint(spec.id, layer, cls.name, str(context.get("ds"))),
    )


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
        log.info("dbt warning alert: slack=%s email=%s", delivery.slack, delivery.email)


def send_slack(
    alert: Alert, channel: str, conn_id: str = connections.SLACK, thread_ts: str | None = None, *, repeat: bool = False
) -> str | None:
    """Post through the Slack provider's hooks (slack-sdk), retrying 429 (Retry-After) and 5xx.

    The connection type decides the API: ``slack`` (bot token, posts to ``channel``, returns the
    message ts for threading) or ``slackwebhook`` (incoming webhook: its channel is fixed by the
    webhook and Slack returns no ts, so follow-ups cannot be threaded; returns None). ``repeat``
    posts the one-line summary of a repeat (into ``thread_ts``) instead of the whole alert.
    """
    from airflow.sdk import BaseHook
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler

    retry_handlers = [RateLimitErrorRetryHandler(max_retry_count=3), ServerErrorRetryHandler(max_retry_count=2)]
    if BaseHook.get_connection(conn_id).conn_type == "slackwebhook":
        from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

        webhook = SlackWebhookHook(slack_webhook_conn_id=conn_id, retry_handlers=retry_handlers)
        webhook.send(text=alert.text(), blocks=alert.slack_blocks())  # raises on any non-200 answer
        return None
    from airflow.providers.slack.hooks.slack import SlackHook

    hook = SlackHook(slack_conn_id=conn_id, retry_handlers=retry_handlers)
    if repeat:
        response = hook.client.chat_postMessage(channel=channel, text=alert.repeat_text(), thread_ts=thread_ts)
    else:
        response = hook.client.chat_postMessage(
            channel=channel, text=alert.text(), blocks=alert.slack_blocks(), thread_ts=thread_ts
        )
    return str(response["ts"])


def send_email(alert: Alert, recipients: list[str], conn_id: str = connections.SMTP) -> None:
    """Send a text + HTML e-mail through the SMTP provider's hook."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id=conn_id) as hook:
        msg = EmailMessage()
        msg["Subject"] = alert.email_subject()
        msg["From"] = hook.from_email or "medallion@localhost"
        msg["To"] = ", ".join(recipients)
        msg.set_content(alert.text())
        msg.add_alternative(alert.email_html(), subtype="html")
        # the hook's send_email_smtp builds an HTML-only message; we need text + HTML alternatives,
        # so we send through the client the hook opened and logged in (retries, TLS, auth are its).
        hook._smtp_client.send_message(msg)


def deliver(
    alert: Alert,
    spec: PipelineSpec,
    *,
    state: S3AlertState | None = None,
    slack_conn_id: str = connections.SLACK,
    smtp_conn_id: str = connections.SMTP,
) -> Delivery:
    """Send ``alert`` unless it repeats a recent one; never raises.

    Within ``alerts.dedup_minutes`` of the first alert of a failure (pipeline, layer, class): the
    same logical date again is not repeated; another date is one line in the first alert's Slack
    thread (a full alert where there is no thread). An alert no channel accepted is kept in the
    lake; every successful delivery then sends the kept ones, marked late.
    """
    routing = spec.alerts
    now = dt.datetime.now(dt.UTC)
    first_key = f"first/{family(alert.pipeline, alert.layer, alert.failure_class)}.json"
    first = state.get(first_key) if state is not None and alert.fingerprint else None
    if first and now - dt.datetime.fromisoformat(first["sent_at"]) >= dt.timedelta(minutes=routing.dedup_minutes):
        first = None
    if first and alert.fingerprint in first.get("fingerprints", []):
        log.info("alert %s for %s already sent at %s", alert.failure_class, alert.logical_date, first["sent_at"])
        return Delivery(slack="deduplicated", email="deduplicated")
    result = _repeat_in_thread(alert, first, routing.slack_channel, slack_conn_id) if first else None
    if result is None:
        result = send_alert(alert, routing.slack_channel, list(routing.emails), state, slack_conn_id, smtp_conn_id)
    if not result.delivered:
        log.error("ALERT NOT DELIVERED ANYWHERE (%s):\n%s", result.errors, alert.text())
        result.kept = state is not None and _keep(state, alert, routing.slack_channel, list(routing.emails), result)
        return result
    if state is not None and alert.fingerprint:
        if first:
            first["fingerprints"] = [*first.get("fingerprints", []), alert.fingerprint]
            state.put(first_key, first)
        else:
            state.put(
                first_key,
                {
                    "sent_at": now.isoformat(),
                    "class": alert.failure_class,
                    "task": alert.task,
                    "logical_date": alert.logical_date,
                    "fingerprints": [alert.fingerprint],
                    "channel": routing.slack_channel,
                    "ts": result.thread_ts,
                },
            )
        send_kept_alerts(state, slack_conn_id, smtp_conn_id)
    return result


def _repeat_in_thread(alert: Alert, first: dict[str, Any], channel: str | None, conn_id: str) -> Delivery | None:
    """A repeat on another date as one line in the first alert's thread; None when there is no thread."""
    if not (channel and first.get("ts") and first.get("channel") == channel):
        return None
    try:
        send_slack(alert, channel, conn_id, thread_ts=first["ts"], repeat=True)
    except Exception as exc:
        log.error("repeat not posted in the thread of %s (%s); sending the whole alert", first["ts"], exc)
        return None
    log.info("alert %s for %s summarised in the thread of the first one", alert.failure_class, alert.logical_date)
    return Delivery(slack="threaded", email="skipped", thread_ts=first["ts"])


def send_alert(
    alert: Alert,
    channel: str | None,
    emails: list[str],
    state: S3AlertState | None,
    slack_conn_id: str = connections.SLACK,
    smtp_conn_id: str = connections.SMTP,
) -> Delivery:
    """Slack (in the run's thread, if the run has one) and e-mail; a Slack failure leaves e-mail to carry it."""
    result = Delivery()
    thread = state.get(run_key(alert.run_id)) if state is not None and alert.run_id else None
    if channel:
        try:
            in_thread = thread["ts"] if thread and thread.get("channel") == channel else None
            ts = send_slack(alert, channel, slack_conn_id, thread_ts=in_thread)
            result.slack, result.thread_ts = "sent", in_thread or ts
            if state is not None and alert.run_id and not in_thread and ts:
                state.put(run_key(alert.run_id), {"channel": channel, "ts": ts})
        except Exception as exc:
            result.slack = "failed"
            result.errors.append(f"slack: {scrub(str(exc))}")
            log.error("alert not delivered to Slack %s: %s; falling back to e-mail", channel, exc)
    if emails:
        try:
            send_email(alert, emails, smtp_conn_id)
            result.email = "sent"
        except Exception as exc:
            result.email = "failed"
            result.errors.append(f"email: {scrub(str(exc))}")
            log.error("alert not delivered by e-mail to %s: %s", emails, exc)
    return result


def _keep(state: S3AlertState, alert: Alert, channel: str | None, emails: list[str], result: Delivery) -> bool:
    """Keep an undelivered alert in the lake for the next task that reaches a channel."""
    when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    record = {
        "alert": asdict(alert),
        "slack_channel": channel,
        "emails": emails,
        "failed_at": when,
        "errors": result.errors,
    }
    kept = state.keep_undelivered(f"{when.replace(':', '')}-{alert.pipeline}-{alert.fingerprint or 'x'}.json", record)
    if kept:
        log.error("the alert is kept in s3://%s/alerts/_undelivered/ and goes out with the next delivery", state.bucket)
    return kept


def send_kept_alerts(
    state: S3AlertState, slack_conn_id: str = connections.SLACK, smtp_conn_id: str = connections.SMTP
) -> int:
    """Send alerts kept while no channel was reachable, marked late; returns how many went out."""
    sent = 0
    for key in state.undelivered():
        record = state.take(key)
        if record is None:
            continue
        alert = Alert(**{**record["alert"], "late_since": record["alert"].get("late_since") or record["failed_at"]})
        channel, emails = record.get("slack_channel"), list(record.get("emails") or [])
        result = send_alert(alert, channel, emails, None, slack_conn_id, smtp_conn_id)
        if result.delivered:
            sent += 1
            log.warning("late alert delivered (first attempt %s): %s", alert.late_since, alert.title)
        else:
            state.give_back(key, record)
            break  # channels are still down: keep the rest for later
    return sent


def lake_state(spec: PipelineSpec) -> S3AlertState:
    return S3AlertState(spec.lake.bucket, spec.id)


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
            "failure alert %s: slack=%s email=%s%s",
            alert.failure_class,
            delivery.slack,
            delivery.email,
            " (kept in the lake, sent later)" if delivery.kept else "",
        )


class KeptAlertsSender:
    """``on_success_callback`` of every task: a task that succeeds sends the alerts kept while no
    channel was reachable (one S3 listing when there are none); never fails the task."""

    def __init__(self, spec: PipelineSpec):
        self.spec = spec

    def __call__(self, context: Any) -> None:
        try:
            sent = send_kept_alerts(lake_state(self.spec))
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


def wap_details(spec: PipelineSpec, layer: str | None, context: Any) -> list[str]:
    """Failed silver/gold run: the last good version is still published (which run), and where the rejects are."""
    from medallion import connections as conns
    from medallion import wap

    if layer not in ("silver", "gold"):
        return []
    try:
        from airflow.sdk import BaseHook

        from medallion.quality.publish import published_versions

        tables = (
            [t for nb in spec.silver.notebooks for t in nb.outputs]
            if layer == "silver" and spec.silver
            else wap.gold_tables(spec)
        )
        published = published_versions(BaseHook.get_connection(conns.LAKEHOUSE_SQL), tables)
    except Exception:  # the alert goes out without the versions
        log.warning("could not read the published versions for the alert", exc_info=True)
        published = []
    return wap.rejected_note(spec, layer, str(context.get("ds")), published)
