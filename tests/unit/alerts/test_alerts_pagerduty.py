"""PagerDuty channel: pages on critical failures of tier 1 pipelines, one incident per pipeline and
layer, resolved by a later run's success; retries 429/5xx; Slack and e-mail carry the alert when
PagerDuty is down.

Real parts: the official provider's ``PagerdutyEventsHook`` and ``pagerduty`` client against the
local PagerDuty capture server, the real Slack and SMTP hooks against theirs, and alert state in
a real (moto) S3 bucket.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from medallion.alerts.channels import CHANNELS
from medallion.alerts.channels.pagerduty import PagerDutyChannel, dedup_key
from medallion.alerts.notifier import KeptAlertsSender, build_failure_alert, deliver
from medallion.local.pagerduty_server import PagerDutyServer, incidents, read_events
from medallion.local.slack_server import SlackServer, read_messages
from medallion.local.smtp_server import SmtpServer, read_mail
from medallion.spec.load import SpecLoader

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = SpecLoader(ROOT / "dag_configs").load(ROOT / "dag_configs/sales/orders.yaml")
SPEC = EXAMPLE.model_copy(
    update={"tier": 1, "alerts": EXAMPLE.alerts.model_copy(update={"pagerduty_conn_id": "pd_test"})}
)
CONNS = {"slack_conn_id": "slack_test", "smtp_conn_id": "smtp_test"}


def context(exc: Exception | None, task_id: str = "silver.orders", ds: str = "2026-11-20", run: str = "") -> dict:
    return {
        "exception": exc,
        "ti": SimpleNamespace(dag_id=SPEC.id, task_id=task_id, try_number=3),
        "task": SimpleNamespace(retries=2),
        "ds": ds,
        "run_id": run or f"scheduled__{ds}",
    }


def failure(ds: str = "2026-11-20", task_id: str = "silver.orders"):
    return build_failure_alert(SPEC, context(RuntimeError("Task failed. Final state TIMEDOUT."), task_id, ds))


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn: dict) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


@pytest.fixture
def servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PagerDutyServer]:
    """PagerDuty, Slack and SMTP capture servers on free ports, and the connections reaching them."""
    pd = PagerDutyServer(store_dir=tmp_path / "pagerduty").start()
    slack = SlackServer(store_dir=tmp_path / "slack", valid_tokens={"xoxb-good"}).start()
    smtp = SmtpServer(store_dir=tmp_path / "mail").start()
    set_conn(
        monkeypatch,
        "pd_test",
        {"conn_type": "pagerduty_events", "password": "R0UT1NGKEY", "extra": {"base_url": pd.url}},
    )
    set_conn(
        monkeypatch, "slack_test", {"conn_type": "slack", "password": "xoxb-good", "extra": {"base_url": slack.url}}
    )
    smtp_extra = {"disable_ssl": True, "disable_tls": True, "from_email": "medallion@localhost", "retry_limit": 0}
    set_conn(
        monkeypatch, "smtp_test", {"conn_type": "smtp", "host": "127.0.0.1", "port": smtp.port, "extra": smtp_extra}
    )
    try:
        yield pd
    finally:
        pd.stop()
        slack.stop()
        smtp.stop()


@pytest.fixture
def alert_state(s3_lake) -> object:
    from medallion.alerts.state import S3AlertState

    return S3AlertState(s3_lake.bucket, SPEC.id, aws_conn_id=s3_lake.conn_id)


def test_a_critical_failure_of_a_tier_1_pipeline_pages_and_still_goes_to_slack_and_email(servers, tmp_path) -> None:
    result = deliver(failure(), SPEC, **CONNS)
    assert (result.slack, result.email, result.status("pagerduty")) == ("sent", "sent", "sent")
    assert "pagerduty=sent" in result.summary()
    [event] = read_events(tmp_path / "pagerduty")
    assert event["event_action"] == "trigger" and event["dedup_key"] == dedup_key(SPEC.id, "silver")
    payload = event["payload"]
    assert payload["severity"] == "critical" and payload["source"] == f"medallion/{SPEC.id}"
    assert payload["summary"].startswith("Databricks notebook timed out: sales_orders · silver")
    assert payload["class"] == "databricks_timeout" and payload["component"] == "silver"
    assert payload["custom_details"]["Logical date"] == "2026-11-20"
    assert event["routing_key"] == "***"  # the server received the connection's key and did not store it
    assert read_messages(tmp_path / "slack") and read_mail(tmp_path / "mail")


@pytest.mark.parametrize(
    "spec",
    [
        EXAMPLE,  # no pagerduty_conn_id
        SPEC.model_copy(update={"tier": 2}),
    ],
    ids=["not routed", "tier 2"],
)
def test_no_page_without_routing_or_below_tier_1(servers, tmp_path, spec) -> None:
    result = deliver(failure(), spec, **CONNS)
    assert (result.slack, result.status("pagerduty")) == ("sent", "skipped")
    assert not read_events(tmp_path / "pagerduty")


def test_warnings_do_not_page(servers, tmp_path) -> None:
    from medallion.alerts.content import warning_alert

    alert = warning_alert(SPEC, context(None), "publish_kept_back", summary="kept back", details=[], layer="silver")
    assert PagerDutyChannel().route(SPEC, alert) is None
    assert deliver(alert, SPEC, **CONNS).status("pagerduty") == "skipped"
    assert not read_events(tmp_path / "pagerduty")


def test_one_incident_per_pipeline_and_layer(servers, tmp_path, alert_state) -> None:
    """Another date of the same failure joins the open incident (same dedup key); the same date
    again is deduplicated before any channel; another layer is another incident."""
    assert deliver(failure("2026-11-20"), SPEC, state=alert_state, **CONNS).status("pagerduty") == "sent"
    assert deliver(failure("2026-11-20"), SPEC, state=alert_state, **CONNS).status("pagerduty") == "deduplicated"
    deliver(failure("2026-11-21"), SPEC, state=alert_state, **CONNS)  # a repeat: one line in the Slack thread
    bronze = build_failure_alert(
        SPEC, context(RuntimeError("Task failed. Final state TIMEDOUT."), "bronze.extract_orders", "2026-11-21")
    )
    assert deliver(bronze, SPEC, state=alert_state, **CONNS).status("pagerduty") == "sent"
    assert incidents(tmp_path / "pagerduty") == {
        dedup_key(SPEC.id, "silver"): "triggered",
        dedup_key(SPEC.id, "bronze"): "triggered",
    }
    # PagerDuty itself folds triggers with one key into one incident
    PagerDutyChannel().send(failure("2026-11-22"), "pd_test")
    assert len(incidents(tmp_path / "pagerduty")) == 2


def test_a_later_run_of_the_layer_resolves_the_incident(servers, tmp_path, alert_state) -> None:
    deliver(failure("2026-11-20"), SPEC, state=alert_state, **CONNS)
    key = dedup_key(SPEC.id, "silver")
    # the failed run's other silver tasks succeeding do not resolve it; another layer's success neither
    for ctx in (context(None, "silver.customers"), context(None, "gold.orders_daily.run", run="scheduled__2026-11-21")):
        _settle(ctx, alert_state)
    assert incidents(tmp_path / "pagerduty") == {key: "triggered"}
    _settle(context(None, "silver.orders", "2026-11-21"), alert_state)
    assert incidents(tmp_path / "pagerduty") == {key: "resolved"}
    resolve = read_events(tmp_path / "pagerduty")[-1]
    assert resolve["event_action"] == "resolve" and resolve["dedup_key"] == key
    _settle(context(None, "silver.orders", "2026-11-22"), alert_state)  # nothing open: no event
    assert len(read_events(tmp_path / "pagerduty")) == 2


def _settle(ctx: dict, state) -> None:
    """What ``KeptAlertsSender`` does for each channel, on the test's S3 state."""
    for cls in CHANNELS:
        cls().settle(SPEC, ctx, state)


def test_the_success_callback_resolves_through_the_lake_state(servers, tmp_path, lake) -> None:
    """``KeptAlertsSender`` (every task's on_success_callback) on the pipeline's own lake state."""
    from medallion.alerts.notifier import lake_state

    deliver(failure("2026-11-20"), SPEC, state=lake_state(SPEC), **CONNS)
    KeptAlertsSender(SPEC)(context(None, "silver.orders", "2026-11-21"))
    assert incidents(tmp_path / "pagerduty") == {dedup_key(SPEC.id, "silver"): "resolved"}


def test_429_and_5xx_are_retried(servers: PagerDutyServer, tmp_path) -> None:
    servers.inject_rate_limit(1)
    servers.inject_server_error(1)
    assert deliver(failure(), SPEC, **CONNS).status("pagerduty") == "sent"
    assert len(read_events(tmp_path / "pagerduty")) == 1


def test_pagerduty_down_leaves_slack_and_email_to_carry_the_alert(servers, tmp_path, monkeypatch) -> None:
    servers.inject_server_error(10)  # more than the client retries
    result = deliver(failure(), SPEC, **CONNS)
    assert (result.slack, result.email, result.status("pagerduty")) == ("sent", "sent", "failed")
    assert result.delivered and not result.kept and result.errors[0].startswith("pagerduty: ")
    set_conn(
        monkeypatch,
        "pd_test",
        {"conn_type": "pagerduty_events", "password": "k", "extra": {"base_url": "http://127.0.0.1:9"}},
    )
    result = deliver(failure("2026-11-21"), SPEC, **CONNS)
    assert (result.slack, result.status("pagerduty")) == ("sent", "failed")
    assert not read_events(tmp_path / "pagerduty")


def test_the_capture_server_rejects_what_pagerduty_rejects(servers: PagerDutyServer) -> None:
    request = urllib.request.Request(
        f"{servers.url}/v2/enqueue",
        data=json.dumps({"routing_key": "k", "event_action": "resolve"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=5)
    assert err.value.code == 400 and "dedup_key" in json.loads(err.value.read())["errors"][0]
