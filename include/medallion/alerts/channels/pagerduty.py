"""PagerDuty Events API v2: page on critical failures of tier 1 pipelines, resolve on the next success.

Routing: ``alerts.pagerduty_conn_id`` names an Airflow connection of type ``pagerduty_events``
whose password is the service's routing key (read by the official provider's
``PagerdutyEventsHook``). One incident per pipeline and layer (the dedup key), so repeats of a
failure on other dates add to the open incident instead of paging again; the first task of that
layer to succeed in a later run resolves it. A page only points at the alert: Slack and e-mail
still carry it, and an unreachable PagerDuty leaves them to (``carries_alert = False``).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from medallion.alerts.channels.base import ChannelBase
from medallion.alerts.classify import layer_of
from medallion.alerts.message import scrub, truncate

if TYPE_CHECKING:
    from medallion.alerts.message import Alert
    from medallion.alerts.state import S3AlertState
    from medallion.spec.models import PipelineSpec

#: PagerDuty rejects longer summaries
SUMMARY_LIMIT = 1024
#: the tier (``PipelineSpec.tier``) whose critical failures page someone
PAGED_TIER = 1
#: retries of the ``pagerduty`` client: 429 up to this many attempts in all (500/502/503/504 its own defaults)
MAX_HTTP_ATTEMPTS = 4


def dedup_key(pipeline: str, layer: str | None) -> str:
    """One incident per pipeline and layer: a later success of that layer resolves it."""
    return f"medallion/{pipeline}/{layer or 'run'}"


def _incident_key(layer: str | None) -> str:
    return f"pagerduty/{layer or 'run'}.json"


def send_event(conn_id: str, **event: Any) -> str:
    """Send one event through the provider's hook: it reads the routing key from ``conn_id`` and
    builds the event (``prepare_event_data``). The hook always posts to events.pagerduty.com, so
    the same ``pagerduty`` client it uses is built here with the connection's ``extra.base_url``
    when one is set (the local capture server); returns the dedup key PagerDuty answers with."""
    import pagerduty
    from airflow.providers.pagerduty.hooks.pagerduty_events import PagerdutyEventsHook, prepare_event_data
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)  # once: the routing key and the optional base_url
    hook = PagerdutyEventsHook(integration_key=conn.password or None)  # refuses a connection without a key
    base_url = conn.extra_dejson.get("base_url") or None
    client = _client_class(pagerduty.EventsApiV2Client)(hook.integration_key, base_url=base_url)
    client.max_http_attempts = MAX_HTTP_ATTEMPTS
    client.timeout = 10.0
    return str(client.send_event(**prepare_event_data(**event)))


@cache
def _client_class(base: type) -> type:
    """The ``pagerduty`` client, also taking ``http://127.0.0.1:<port>`` (the local capture server,
    loopback only); every other base URL must be https, as the client requires."""

    class Client(base):  # type: ignore[misc, valid-type]
        @property
        def url(self) -> str:
            return self._url

        @url.setter
        def url(self, new_base_url: str) -> None:
            if new_base_url.startswith("http://127.0.0.1:"):
                self._url = new_base_url
            else:
                base.url.fset(self, new_base_url)

    return Client


class PagerDutyChannel(ChannelBase):
    """Pages through ``alerts.pagerduty_conn_id`` (the spec names the connection, not this class)."""

    name = "pagerduty"
    carries_alert = False

    def route(self, spec: PipelineSpec, alert: Alert) -> str | None:
        paged = alert.severity == "critical" and spec.tier == PAGED_TIER
        return spec.alerts.pagerduty_conn_id if paged else None

    def send(
        self,
        alert: Alert,
        target: Any,
        *,
        thread_ts: str | None = None,
        repeat: bool = False,
        state: S3AlertState | None = None,
    ) -> str | None:
        key = dedup_key(alert.pipeline, alert.layer)
        links = [{"href": url, "text": name} for name, url in alert.links.items()]
        if alert.runbook_is_url:
            links.append({"href": str(alert.runbook), "text": f"Runbook: {alert.failure_class}"})
        send_event(
            str(target),
            summary=truncate(
                scrub(f"{alert.title}: {alert.pipeline} · {alert.layer or '-'} — {alert.summary}"), SUMMARY_LIMIT
            ),
            severity="critical",
            source=f"medallion/{alert.pipeline}",
            action="trigger",
            dedup_key=key,
            custom_details={k: v for k, v in alert.facts()} | {"What to do": alert.hint, "Task": alert.task},
            component=alert.layer or "run",
            group=alert.domain,
            class_type=alert.failure_class,
            links=links or None,
        )
        if state is not None:
            incident = {"dedup_key": key, "conn_id": str(target), "run_id": alert.run_id, "open": True}
            state.put(_incident_key(alert.layer), incident | {"task": alert.task, "logical_date": alert.logical_date})
        return None

    def settle(self, spec: PipelineSpec, context: Any, state: S3AlertState) -> None:
        """Resolve the layer's open incident once a task of that layer succeeds in a later run."""
        if not spec.alerts.pagerduty_conn_id or spec.tier != PAGED_TIER or context.get("ti") is None:
            return
        layer = layer_of(context["ti"].task_id)
        incident = state.get(_incident_key(layer))
        run_id = str(context.get("run_id") or "")
        if not incident or not incident.get("open") or incident.get("run_id") == run_id:
            return  # nothing open, or the run that failed: its other tasks' successes do not fix it
        send_event(
            incident["conn_id"],
            summary=f"{spec.id} {layer or 'run'} succeeded again (run {run_id})",
            severity="info",
            source=f"medallion/{spec.id}",
            action="resolve",
            dedup_key=incident["dedup_key"],
        )
        state.put(_incident_key(layer), incident | {"open": False, "resolved_by": run_id})
