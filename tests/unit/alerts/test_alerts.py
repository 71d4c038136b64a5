"""Alerts: classification per failure class, Slack limits, secrets, and delivery fallbacks.

Delivery goes through the real Slack provider hook (slack-sdk) and SMTP hook against the
local capture servers; connections come from AIRFLOW_CONN_* variables.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from medallion.alerts.classify import classify, layer_of
from medallion.alerts.message import HEADER_LIMIT, MAX_BLOCKS, SECTION_LIMIT, Alert
from medallion.alerts.notifier import build_failure_alert, deliver
from medallion.errors import StepError
from medallion.local.slack_server import SlackServer, read_messages
from medallion.local.smtp_server import SmtpServer, read_mail
from medallion.spec.load import SpecLoader

ROOT = Path(__file__).resolve().parents[3]
SPEC = SpecLoader(ROOT / "dag_configs").load(ROOT / "dag_configs/sales/orders.yaml")


def chained(outer: Exception, inner: Exception) -> Exception:
    outer.__cause__ = inner
    return outer


@pytest.mark.parametrize(
    ("exc", "layer", "expected"),
    [
        (StepError("no rows", step="extract", target="orders", kind="empty_extract"), "bronze", "empty_extract"),
        (
            StepError("OperationalError: unable to open database file", step="connect", target="x"),
            "bronze",
            "source_unreachable",
        ),
        (
            StepError('FATAL: password authentication failed for user "etl"', step="connect", target="x"),
            "bronze",
            "source_auth_failed",
        ),
        (StepError("OperationalError: no such column: amount", step="extract", target="x"), "bronze", "query_error"),
        (
            StepError("EndpointConnectionError: …", step="list files", target="source 'x' (connection 'c') s3://a/"),
            "bronze",
            "source_files_unreachable",
        ),
        (
            StepError("ArrowInvalid: CSV conversion error", step="read", target="source 'x' (local files) /in/a.csv"),
            "bronze",
            "source_file_unreadable",
        ),
        (StepError("ClientError: NoSuchBucket", step="upload", target="x"), "bronze", "s3_no_such_bucket"),
        (
            StepError("ClientError: An error occurred (AccessDenied)", step="upload", target="x"),
            "bronze",
            "s3_access_denied",
        ),
        (
            StepError(
                'EndpointConnectionError: Could not connect to the endpoint URL: "http://s3"', step="upload", target="x"
            ),
            "bronze",
            "s3_unreachable",
        ),
        (
            RuntimeError(
                "Databricks job failed with state INTERNAL_ERROR. Message: Cluster c1 terminated. "
                "Reason: Cloud provider launch failure"
            ),
            "silver",
            "databricks_cluster_start",
        ),
        (
            RuntimeError("Task failed. Final state FAILED. Errors: [{'error': 'java.lang.OutOfMemoryError'}]"),
            "silver",
            "databricks_oom",
        ),
        (RuntimeError("Task failed. Final state TIMEDOUT."), "silver", "databricks_timeout"),
        (
            RuntimeError("PERMISSION_DENIED: User does not have permission to run job"),
            "silver",
            "databricks_permission",
        ),
        (
            RuntimeError("Task failed. Final state FAILED. Errors: [{'error': 'ValueError: bad orders'}]"),
            "silver",
            "databricks_notebook_exception",
        ),
        (
            chained(RuntimeError("dbt command failed"), RuntimeError("Compilation Error in model x")),
            "gold",
            "dbt_compile_error",
        ),
        (
            RuntimeError("Failure in test unique_daily_revenue_order_date (models/sales/schema.yml)"),
            "gold",
            "dbt_test_failure",
        ),
        (RuntimeError("Catalog Error: Table with name orders does not exist!"), "gold", "dbt_missing_relation"),
        (KeyError("something nobody expected"), "gold", "unknown"),
    ],
)
def test_classification(exc: Exception, layer: str, expected: str) -> None:
    assert classify(exc, layer).name == expected


def test_layer_of_task_ids() -> None:
    assert [layer_of(t) for t in ("bronze.extract_orders", "silver_gate", "gold.daily_revenue.run", "x")] == [
        "bronze",
        "silver",
        "gold",
        None,
    ]


def fake_context(exc: Exception, task_id: str = "silver.orders") -> dict:
    ti = SimpleNamespace(dag_id="sales_orders", task_id=task_id, try_number=3)
    return {
        "exception": exc,
        "ti": ti,
        "task": SimpleNamespace(retries=2),
        "ds": "2026-11-20",
        "run_id": "manual__2026-11-20",
    }


def test_huge_error_stays_within_block_kit_limits_and_hides_secrets() -> None:
    exc = RuntimeError("Task failed. " + "x" * 20000 + " token=xoxb-123456789-secretsecret password=hunter2\n" * 40)
    alert = build_failure_alert(SPEC, fake_context(exc))
    blocks = alert.slack_blocks()
    assert len(blocks) <= MAX_BLOCKS
    assert len(blocks[0]["text"]["text"]) <= HEADER_LIMIT
    assert all(len(b["text"]["text"]) <= SECTION_LIMIT for b in blocks if b["type"] == "section" and "text" in b)
    rendered = json.dumps(blocks) + alert.text() + alert.email_html()
    assert "hunter2" not in rendered and "secretsecret" not in rendered
    assert "try 3 of 3" in alert.text() and "medallion run sales_orders --date 2026-11-20" in alert.text()


@pytest.fixture
def servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SlackServer, SmtpServer]]:
    slack = SlackServer(store_dir=tmp_path / "slack", valid_tokens={"xoxb-good"}).start()
    smtp = SmtpServer(store_dir=tmp_path / "mail").start()
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_TEST",
        json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": smtp.port,
                "extra": {
                    "disable_ssl": True,
                    "disable_tls": True,
                    "from_email": "medallion@localhost",
                    "retry_limit": 0,
                },
            }
        ),
    )
    try:
        yield slack, smtp
    finally:
        slack.stop()
        smtp.stop()


def slack_conn(monkeypatch: pytest.MonkeyPatch, slack: SlackServer, token: str) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_TEST",
        json.dumps({"conn_type": "slack", "password": token, "extra": {"base_url": slack.url}}),
    )


def sample_alert() -> Alert:
    return build_failure_alert(SPEC, fake_context(RuntimeError("Task failed. Final state TIMEDOUT.")))


def test_delivers_to_slack_and_email(servers, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    slack, _ = servers
    slack_conn(monkeypatch, slack, "xoxb-good")
    result = deliver(sample_alert(), SPEC, slack_conn_id="slack_test", smtp_conn_id="smtp_test")
    assert (result.slack, result.email) == ("sent", "sent")
    message = read_messages(tmp_path / "slack")[-1]
    assert message["channel"] == "#sales-data-alerts" and "Databricks notebook timed out" in message["text"]
    mail = read_mail(tmp_path / "mail")[-1]
    assert mail.get_body(("html",)) is not None and "TIMEDOUT" in mail.get_body(("plain",)).get_content()


def test_invalid_token_falls_back_to_email(servers, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    slack, _ = servers
    slack_conn(monkeypatch, slack, "xoxb-revoked")
    result = deliver(sample_alert(), SPEC, slack_conn_id="slack_test", smtp_conn_id="smtp_test")
    assert result.slack == "failed" and "invalid_auth" in result.errors[0]
    assert result.email == "sent" and read_mail(tmp_path / "mail")


def test_rate_limit_is_retried_after_retry_after(servers, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    slack, _ = servers
    slack_conn(monkeypatch, slack, "xoxb-good")
    slack.inject_rate_limit(count=1, retry_after=1)
    assert deliver(sample_alert(), SPEC, slack_conn_id="slack_test", smtp_conn_id="smtp_test").slack == "sent"
    assert len(read_messages(tmp_path / "slack")) == 1


def webhook_conn(monkeypatch: pytest.MonkeyPatch, slack: SlackServer, token: str = "T0LOCAL/B0LOCAL/secret") -> None:
    """An incoming-webhook connection (provider type ``slackwebhook``): endpoint in host, token as password."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_TEST",
        json.dumps({"conn_type": "slackwebhook", "host": f"{slack.base}/services", "password": token}),
    )


def test_incoming_webhook_gets_the_same_block_kit_message(servers, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    slack, _ = servers
    webhook_conn(monkeypatch, slack)
    alert = build_failure_alert(SPEC, fake_context(RuntimeError("Task failed. " + "x" * 20000)))
    result = deliver(alert, SPEC, slack_conn_id="slack_test", smtp_conn_id="smtp_test")
    assert (result.slack, result.email) == ("sent", "sent")
    [message] = read_messages(tmp_path / "slack")
    assert message["via"] == "webhook" and message["webhook"] == "T0LOCAL/B0LOCAL"
    assert message["blocks"] == alert.slack_blocks() and message["text"] == alert.text()
    assert len(message["blocks"]) <= MAX_BLOCKS
    assert all(len(b["text"]["text"]) <= SECTION_LIMIT for b in message["blocks"] if "text" in b)


def test_webhook_retries_429_and_5xx(servers, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    slack, _ = servers
    webhook_conn(monkeypatch, slack)
    slack.inject_rate_limit(count=1, retry_after=1)
    assert deliver(sample_alert(), SPEC, slack_conn_id="slack_test", smtp_conn_id="smtp_test").slack == "sent"
    slack.inject_server_error(count=2)
    assert deliver(sample_alert(), SPEC, slack_conn_id="slack_test", smtp_conn_id="smtp_test").slack == "sent"
    assert [m["via"] for m in read_messages(tmp_path / "slack")] == ["webhook", "webhook"]


def test_broken_webhook_falls_back_to_email(servers, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    slack, _ = servers
    webhook_conn(monkeypatch, slack, token="T0LOCAL/revoked")  # Slack answers 404 no_service
    result = deliver(sample_alert(), SPEC, slack_conn_id="slack_test", smtp_conn_id="smtp_test")
    assert result.slack == "failed" and "no_service" in result.errors[0]
    assert classify(RuntimeError(result.errors[0]), None).name == "alerting_misconfigured"
    assert result.email == "sent" and read_mail(tmp_path / "mail") and not read_messages(tmp_path / "slack")


def test_everything_down_never_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_TEST",
        json.dumps({"conn_type": "slack", "password": "xoxb-x", "extra": {"base_url": "http://127.0.0.1:9/api/"}}),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_TEST",
        json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": 9,
                "extra": {
                    "disable_ssl": True,
                    "disable_tls": True,
                    "from_email": "a@b",
                    "retry_limit": 0,
                    "timeout": 2,
                },
            }
        ),
    )
    result = deliver(sample_alert(), SPEC, slack_conn_id="slack_test", smtp_conn_id="smtp_test")
    assert (result.slack, result.email) == ("failed", "failed")


@pytest.fixture
def alert_state(s3_lake) -> object:
    """Dedup/threading state in a real (moto) S3 bucket, as in production."""
    from medallion.alerts.state import S3AlertState

    return S3AlertState(s3_lake.bucket, SPEC.id, aws_conn_id=s3_lake.conn_id)


def test_repeated_failure_is_deduplicated_and_follow_ups_share_the_run_thread(
    servers, alert_state, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    slack, _ = servers
    slack_conn(monkeypatch, slack, "xoxb-good")

    def send(exc: Exception, task: str):
        alert = build_failure_alert(SPEC, fake_context(exc, task))
        return deliver(alert, SPEC, state=alert_state, slack_conn_id="slack_test", smtp_conn_id="smtp_test")

    assert send(RuntimeError("Task failed. Final state TIMEDOUT."), "silver.orders").slack == "sent"
    assert send(RuntimeError("Task failed. Final state TIMEDOUT."), "silver.orders").slack == "deduplicated"
    assert send(RuntimeError("Catalog Error: Table with name x does not exist!"), "gold.x.run").slack == "sent"
    messages = read_messages(tmp_path / "slack")
    assert len(messages) == 2 and len(read_mail(tmp_path / "mail")) == 2
    assert messages[0]["thread_ts"] is None and messages[1]["thread_ts"] == messages[0]["ts"]


def test_extra_links_point_people_at_the_data() -> None:
    from medallion.bronze.operator import LandSqlSourceOperator
    from medallion.links import BronzePartitionLink, QualityReportLink, browser_url
    from medallion.quality.operator import QualityGateOperator

    assert (
        browser_url("s3://lake/bronze/x/ds=1/")
        == "https://s3.console.aws.amazon.com/s3/buckets/lake?prefix=bronze/x/ds%3D1/"
    )
    assert browser_url("s3://lake/q/r.html") == "https://s3.console.aws.amazon.com/s3/object/lake?prefix=q/r.html"
    assert browser_url("s3://lake/q/r.html", "http://127.0.0.1:9000/") == "http://127.0.0.1:9000/lake/q/r.html"
    assert isinstance(LandSqlSourceOperator.operator_extra_links[0], BronzePartitionLink)
    assert isinstance(QualityGateOperator.operator_extra_links[0], QualityReportLink)
    import importlib.util

    spec = importlib.util.spec_from_file_location("medallion_plugin", ROOT / "plugins/medallion_plugin.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert {type(link) for link in module.MedallionPlugin.operator_extra_links} == {
        BronzePartitionLink,
        QualityReportLink,
    }


# --------------------------------------------------------------------------- never lost, never repeated blindly


def on_date(exc: Exception, ds: str, task: str = "silver.orders") -> dict:
    return {**fake_context(exc, task), "ds": ds, "run_id": f"scheduled__{ds}"}


def test_same_failure_on_other_dates_goes_to_the_first_alerts_thread(
    servers, alert_state, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    slack, _ = servers
    slack_conn(monkeypatch, slack, "xoxb-good")
    timeout = RuntimeError("Task failed. Final state TIMEDOUT.")

    def send(ds: str):
        alert = build_failure_alert(SPEC, on_date(timeout, ds))
        return deliver(alert, SPEC, state=alert_state, slack_conn_id="slack_test", smtp_conn_id="smtp_test")

    assert (send("2026-11-20").slack, send("2026-11-21").slack, send("2026-11-22").slack) == (
        "sent",
        "threaded",
        "threaded",
    )
    assert send("2026-11-21").slack == "deduplicated"  # same pipeline, layer, class and date
    first, *repeats = read_messages(tmp_path / "slack")
    assert first["thread_ts"] is None and "Logical date: 2026-11-20" in first["text"]
    assert [m["thread_ts"] for m in repeats] == [first["ts"], first["ts"]]
    assert repeats[0]["text"].startswith("Also on 2026-11-21: silver.orders (try 3 of 3)")
    assert "Also on 2026-11-22" in repeats[1]["text"]
    assert len(read_mail(tmp_path / "mail")) == 1  # the repeats are in the thread, not three more e-mails


def test_two_tasks_failing_alike_on_one_date_are_two_whole_alerts(
    servers, alert_state, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two dbt models' tests failing in one run share pipeline, layer, class and date, but are two
    failures: neither is deduplicated away or shrunk to a thread line."""
    slack, _ = servers
    slack_conn(monkeypatch, slack, "xoxb-good")
    failed = RuntimeError("Task failed. Final state TIMEDOUT.")
    sent = [
        deliver(
            build_failure_alert(SPEC, on_date(failed, "2026-11-20", task)),
            SPEC,
            state=alert_state,
            slack_conn_id="slack_test",
            smtp_conn_id="smtp_test",
        ).slack
        for task in ("silver.orders", "silver.customers")
    ]
    assert sent == ["sent", "sent"]
    texts = [m["text"] for m in read_messages(tmp_path / "slack")]
    assert [
        "Layer / task: silver / silver.orders" in texts[0],
        "Layer / task: silver / silver.customers" in texts[1],
    ] == [
        True,
        True,
    ]
    assert len(read_mail(tmp_path / "mail")) == 2


def test_without_a_thread_a_repeat_on_another_date_is_a_whole_alert(
    servers, alert_state, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    slack, _ = servers
    webhook_conn(monkeypatch, slack)  # incoming webhooks return no ts: nothing to thread into
    for ds in ("2026-11-20", "2026-11-21"):
        alert = build_failure_alert(SPEC, on_date(RuntimeError("Task failed. Final state TIMEDOUT."), ds))
        result = deliver(alert, SPEC, state=alert_state, slack_conn_id="slack_test", smtp_conn_id="smtp_test")
        assert result.slack == "sent"
    assert [m["text"].count("Logical date: 2026-11-2") for m in read_messages(tmp_path / "slack")] == [1, 1]
    assert len(read_mail(tmp_path / "mail")) == 2


def test_an_alert_no_channel_took_is_kept_and_sent_late_by_the_next_task(
    lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slack and SMTP down: the alert waits in the lake (real moto S3); a later task's success
    callback delivers it, marked late, through the real Slack and SMTP hooks."""
    from urllib.parse import urlparse

    from medallion.alerts.notifier import KeptAlertsSender
    from medallion.alerts.state import UNDELIVERED_PREFIX, S3AlertState
    from medallion.settings import load_settings

    client, _ = lake
    down = {"conn_type": "slack", "password": "xoxb-x", "extra": {"base_url": "http://127.0.0.1:9/api/"}}
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_DOWN", json.dumps(down))
    smtp_down = {"conn_type": "smtp", "host": "127.0.0.1", "port": 9, "extra": {"retry_limit": 0, "timeout": 2}}
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DOWN", json.dumps(smtp_down))
    state = S3AlertState(SPEC.lake.bucket, SPEC.id)
    alert = build_failure_alert(SPEC, fake_context(RuntimeError("Task failed. Final state TIMEDOUT.")))
    result = deliver(alert, SPEC, state=state, slack_conn_id="slack_down", smtp_conn_id="smtp_down")
    assert (result.slack, result.email, result.kept) == ("failed", "failed", True)
    listed = client.list_objects_v2(Bucket=SPEC.lake.bucket, Prefix=UNDELIVERED_PREFIX).get("Contents", [])
    assert len(listed) == 1

    settings = load_settings()  # the next task reaches the configured channels again
    slack_port = urlparse(settings.connection("slack_alerts")["extra"]["base_url"]).port
    slack = SlackServer(port=slack_port, store_dir=tmp_path / "slack").start()
    smtp = SmtpServer(port=settings.connection("smtp_alerts")["port"], store_dir=tmp_path / "mail").start()
    try:
        KeptAlertsSender(SPEC)({"ti": SimpleNamespace(task_id="bronze.extract_orders")})
    finally:
        slack.stop()
        smtp.stop()
    [message] = read_messages(tmp_path / "slack")
    assert message["text"].startswith("[late] Databricks notebook timed out: sales_orders")
    assert "Delivered late: first sent at " in message["text"] and "TIMEDOUT" in message["text"]
    assert read_mail(tmp_path / "mail")[0]["Subject"].startswith("[LATE] [CRITICAL]")
    assert not client.list_objects_v2(Bucket=SPEC.lake.bucket, Prefix=UNDELIVERED_PREFIX).get("Contents")


def test_the_alert_says_whether_a_retry_follows() -> None:
    from medallion.failures import fail_without_retry, not_retried
    from medallion.silver.notebook import SAME_RUN

    code_error = RuntimeError("Task failed. Final state FAILED. Reason: ConversionException: 'soon'")
    final = not_retried(code_error, "silver")
    assert final is not None
    final.__cause__ = code_error
    context = {
        **fake_context(final),
        "ti": SimpleNamespace(dag_id="sales_orders", task_id="silver.orders", try_number=1),
    }
    text = build_failure_alert(SPEC, context).text()
    assert "Attempt: try 1 of 3" in text and "Retry: none: databricks_notebook_exception is not retried" in text
    assert "ConversionException: 'soon'" in text
    exhausted = build_failure_alert(SPEC, fake_context(RuntimeError("Task failed. Final state TIMEDOUT."))).text()
    assert "Retry: none left: all 3 tries failed (databricks_timeout is retried)" in exhausted

    cluster = RuntimeError("Databricks job failed with state INTERNAL_ERROR. Message: Cluster c-1 terminated.")
    same_run = fail_without_retry(cluster, "databricks_cluster_start", SAME_RUN)  # in a workflow: see silver.notebook
    text = build_failure_alert(SPEC, {**context, "exception": same_run}).text()
    assert "Class: databricks_cluster_start" in text and f"Retry: none: {SAME_RUN}" in text


# --------------------------------------------------------------------------- runbook


def test_runbook_file_is_current_with_a_section_per_class() -> None:
    from medallion.alerts.runbook import RUNBOOK_PATH, render_runbook
    from medallion.failures import load_catalog

    text = (ROOT / RUNBOOK_PATH).read_text(encoding="utf-8")
    missing = [name for name in load_catalog().classes if f"\n## {name}\n" not in text]
    assert not missing, f"{RUNBOOK_PATH} has no section for {missing}: run `make runbook`"
    assert text == render_runbook(), f"{RUNBOOK_PATH} is stale: run `make runbook`"


def test_alerts_link_the_runbook_section_of_their_class_never_an_invented_url() -> None:
    from medallion.alerts.runbook import DOCS_URL_PLACEHOLDER

    assert SPEC.alerts.docs_url == DOCS_URL_PLACEHOLDER and not SPEC.alerts.runbook  # the shipped org defaults
    alert = build_failure_alert(SPEC, fake_context(RuntimeError("Task failed. Final state TIMEDOUT.")))
    assert alert.runbook == "docs/runbook.md#databricks_timeout"
    assert "Runbook: docs/runbook.md#databricks_timeout (in the project repository)" in alert.text()
    assert "http" not in json.dumps(alert.slack_blocks()).split("Runbook", 1)[1].split("}", 1)[0]

    docs_url = "https://git.example.org/data/pipelines/-/blob/main/"
    configured = SPEC.model_copy(update={"alerts": SPEC.alerts.model_copy(update={"docs_url": docs_url})})
    alert = build_failure_alert(configured, fake_context(RuntimeError("Task failed. Final state TIMEDOUT.")))
    url = "https://git.example.org/data/pipelines/-/blob/main/docs/runbook.md#databricks_timeout"
    assert alert.runbook == url and f"<{url}|Runbook: databricks_timeout>" in json.dumps(alert.slack_blocks())


def test_validate_output_names_the_placeholder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from medallion.cli import main

    configs = tmp_path / "dag_configs"
    shutil.copytree(ROOT / "dag_configs", configs)
    main(["validate", str(configs)])
    printed = "".join(capsys.readouterr())
    assert "defaults.yaml:" in printed and "warning: alerts.docs_url: is still the placeholder" in printed
    defaults = configs / "defaults.yaml"
    defaults.write_text(
        defaults.read_text(encoding="utf-8").replace("<your-org>/<your-repo>", "acme/pipelines"), encoding="utf-8"
    )
    main(["validate", str(configs)])
    assert "alerts.docs_url" not in "".join(capsys.readouterr())
