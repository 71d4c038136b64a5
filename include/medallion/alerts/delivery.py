"""When and where an alert goes: deduplication, the first alert's thread, every routed channel,
and alerts kept in the lake while no channel could take them.

Delivery never hides the original failure: a channel's error is logged and the other channels
carry the alert (Slack fails → e-mail); nothing here raises into the task.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from medallion import connections
from medallion.alerts.channels import CARRIERS, Channel, channels
from medallion.alerts.message import Alert, scrub
from medallion.alerts.state import S3AlertState, family, run_key
from medallion.spec.models import PipelineSpec

log = logging.getLogger(__name__)


@dataclass
class Delivery:
    """What each channel did: sent | threaded (a repeat, in the first alert's thread) | deduplicated
    | failed | skipped (not routed there)."""

    statuses: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    kept: bool = False  # reached no channel; kept in the lake for the next task that reaches one
    thread_ts: str | None = None  # the Slack thread repeats of this alert go to

    def status(self, channel: str) -> str:
        return self.statuses.get(channel, "skipped")

    @property
    def slack(self) -> str:
        return self.status("slack")

    @property
    def email(self) -> str:
        return self.status("email")

    @property
    def delivered(self) -> bool:
        return any(self.status(name) in ("sent", "threaded") for name in CARRIERS)

    def summary(self) -> str:
        """``slack=sent email=sent`` (plus any other channel the alert was routed to), for the task log."""
        others = [f"{k}={v}" for k, v in self.statuses.items() if k not in ("slack", "email")]
        return " ".join([f"slack={self.slack}", f"email={self.email}", *others])


def _conn_ids(slack_conn_id: str, smtp_conn_id: str) -> dict[str, str]:
    return {"slack": slack_conn_id, "email": smtp_conn_id}


def deliver(
    alert: Alert,
    spec: PipelineSpec,
    *,
    state: S3AlertState | None = None,
    slack_conn_id: str = connections.SLACK,
    smtp_conn_id: str = connections.SMTP,
) -> Delivery:
    """Send ``alert`` to every channel ``spec`` routes it to, unless it repeats a recent one; never raises.

    Within ``alerts.dedup_minutes`` of the first alert of a failure (pipeline, layer, task, class): the
    same logical date again is not repeated; another date is one line in the first alert's Slack
    thread (a full alert where there is no thread). An alert no channel accepted is kept in the
    lake; every successful delivery then sends the kept ones, marked late.
    """
    active = channels(_conn_ids(slack_conn_id, smtp_conn_id))
    targets = {c.name: target for c in active if (target := c.route(spec, alert))}
    threading = next((c for c in active if c.threads), None)
    thread_target = targets.get(threading.name) if threading else None
    now = dt.datetime.now(dt.UTC)
    first_key = f"first/{family(alert.pipeline, alert.layer, alert.task, alert.failure_class)}.json"
    first = state.get(first_key) if state is not None and alert.fingerprint else None
    if first and now - dt.datetime.fromisoformat(first["sent_at"]) >= dt.timedelta(minutes=spec.alerts.dedup_minutes):
        first = None
    if first and alert.fingerprint in first.get("fingerprints", []):
        log.info("alert %s for %s already sent at %s", alert.failure_class, alert.logical_date, first["sent_at"])
        return Delivery(statuses={c.name: "deduplicated" for c in active if c.carries_alert or c.name in targets})
    result = _repeat_in_thread(alert, first, threading, thread_target) if first and threading else None
    if result is None:
        result = send_alert(alert, targets, state, active)
    if not result.delivered:
        log.error("ALERT NOT DELIVERED ANYWHERE (%s):\n%s", result.errors, alert.text())
        result.kept = state is not None and _keep(state, alert, targets, result)
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
                    "channel": thread_target,
                    "ts": result.thread_ts,
                },
            )
        send_kept_alerts(state, slack_conn_id, smtp_conn_id)
    return result


def _repeat_in_thread(alert: Alert, first: dict[str, Any], channel: Channel, target: Any) -> Delivery | None:
    """A repeat on another date as one line in the first alert's thread; None when there is no thread."""
    if not (target and first.get("ts") and first.get("channel") == target):
        return None
    try:
        channel.send(alert, target, thread_ts=first["ts"], repeat=True)
    except Exception as exc:
        log.error("repeat not posted in the thread of %s (%s); sending the whole alert", first["ts"], exc)
        return None
    log.info("alert %s for %s summarised in the thread of the first one", alert.failure_class, alert.logical_date)
    return Delivery(statuses={channel.name: "threaded"}, thread_ts=first["ts"])


def send_alert(
    alert: Alert, targets: dict[str, Any], state: S3AlertState | None, active: list[Channel] | None = None
) -> Delivery:
    """Every routed channel in turn (Slack in the run's thread, if the run has one); a failing
    channel leaves the others to carry the alert."""
    result = Delivery()
    thread = state.get(run_key(alert.run_id)) if state is not None and alert.run_id else None
    for channel in active if active is not None else channels():
        target = targets.get(channel.name)
        if not target:
            continue
        try:
            if channel.threads:
                in_thread = thread["ts"] if thread and thread.get("channel") == target else None
                ts = channel.send(alert, target, thread_ts=in_thread, state=state)
                result.thread_ts = in_thread or ts
                if state is not None and alert.run_id and not in_thread and ts:
                    state.put(run_key(alert.run_id), {"channel": target, "ts": ts})
            else:
                channel.send(alert, target, state=state)
            result.statuses[channel.name] = "sent"
        except Exception as exc:
            result.statuses[channel.name] = "failed"
            result.errors.append(f"{channel.name}: {scrub(str(exc))}")
            log.error("alert not delivered by %s to %s: %s; the other channels carry it", channel.name, target, exc)
    return result


def _keep(state: S3AlertState, alert: Alert, targets: dict[str, Any], result: Delivery) -> bool:
    """Keep an undelivered alert in the lake for the next task that reaches a channel."""
    when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    record = {
        "alert": asdict(alert),
        "targets": {name: target for name, target in targets.items() if name in CARRIERS},
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
    active = channels(_conn_ids(slack_conn_id, smtp_conn_id))
    for key in state.undelivered():
        record = state.take(key)
        if record is None:
            continue
        alert = Alert(**{**record["alert"], "late_since": record["alert"].get("late_since") or record["failed_at"]})
        result = send_alert(alert, dict(record["targets"]), None, active)
        if result.delivered:
            sent += 1
            log.warning("late alert delivered (first attempt %s): %s", alert.late_since, alert.title)
        else:
            state.give_back(key, record)
            break  # channels are still down: keep the rest for later
    return sent
