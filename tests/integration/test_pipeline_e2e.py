"""End to end on the local embedded runtime: real Airflow, S3 (moto server), the Databricks
provider against the Jobs API emulator, dbt through cosmos, Great Expectations, Slack, SMTP.

One module-scoped runtime; the example pipeline runs once clean and once with bad data.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import boto3
import pytest

from medallion import duck
from medallion.local import services
from medallion.local.shop import generate_shop, inject_bad_orders
from medallion.local.slack_server import clear_messages, read_messages
from medallion.local.smtp_server import clear_mail, read_mail

pytestmark = pytest.mark.slow
DS = "2026-11-20"


@pytest.fixture(scope="module")
def runtime():
    state = services.start_background()
    try:
        stats = generate_shop(Path(state["shop_db"]), last_day=dt.date.fromisoformat(DS))
        clear_messages(Path(state["state_dir"]) / "slack")
        clear_mail(Path(state["state_dir"]) / "mail")
        yield state, stats
    finally:
        services.stop_background()


@pytest.fixture(scope="module")
def clean_run(runtime):
    from medallion.local.runtime import run_pipeline

    return run_pipeline("sales_orders", DS)


@pytest.fixture(scope="module")
def bad_run(runtime, clean_run):
    from medallion.local.runtime import run_pipeline

    state, _ = runtime
    inject_bad_orders(Path(state["shop_db"]), dt.date.fromisoformat(DS))
    return run_pipeline("sales_orders", DS)


def s3_client(state):
    from medallion.settings import load_settings

    conn = load_settings().connection("aws_lake")
    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{state['s3_port']}",
        region_name="us-east-1",
        aws_access_key_id=conn["login"],
        aws_secret_access_key=conn["password"],
    )


def test_clean_run_succeeds_through_every_layer(clean_run) -> None:
    assert clean_run.succeeded, clean_run.tasks
    for task in (
        "bronze.extract_orders",
        "bronze.verify",
        "silver.launch",
        "silver.orders",
        "gold.daily_revenue.run",
        "gold.daily_revenue.test",
        "bronze_gate",
        "silver_gate",
        "gold_gate",
        "silver_publish",
        "gold_publish",
    ):
        assert clean_run.tasks[task] == "success", task


def test_bronze_partition_is_committed_with_a_manifest(runtime, clean_run) -> None:
    state, stats = runtime
    s3 = s3_client(state)
    prefix = f"bronze/sales/orders/ds={DS}/"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=state["bucket"], Prefix=prefix)["Contents"]]
    manifest = json.loads(s3.get_object(Bucket=state["bucket"], Key=prefix + "_manifest.json")["Body"].read())
    assert manifest["row_count"] == stats.order_rows
    assert manifest["logical_date"] == DS and manifest["dag_id"] == "sales_orders"
    assert {f["name"] for f in manifest["schema"]} >= {"order_id", "status", "updated_at"}
    assert sorted(keys) == sorted([prefix + "_manifest.json"] + [f.split("/", 3)[3] for f in manifest["files"]])
    assert clean_run.xcoms["bronze.extract_orders"]["rows"] == stats.order_rows


def test_silver_and_gold_tables_hold_clean_rows(runtime, clean_run) -> None:
    state, stats = runtime
    con = duck.connect(state["lakehouse"], read_only=True)
    try:
        orders = con.execute("SELECT count(*), count(DISTINCT order_id) FROM silver.orders").fetchone()
        statuses = {r[0] for r in con.execute("SELECT DISTINCT status FROM silver.orders").fetchall()}
        revenue_days = con.execute("SELECT count(*) FROM gold.daily_revenue").fetchone()[0]
        clv = con.execute("SELECT count(*) FROM gold.customer_lifetime_value").fetchone()[0]
    finally:
        con.close()
    assert orders[0] == orders[1]  # deduplicated to the latest version of each order
    assert 0.99 * stats.orders < orders[0] < stats.orders  # orders without a customer dropped
    assert statuses <= {"placed", "paid", "shipped", "delivered", "cancelled"}
    assert revenue_days == (dt.date.fromisoformat(DS) - dt.date(2026, 9, 1)).days + 1
    assert clv == stats.customers


def test_gate_reports_are_published(runtime, clean_run) -> None:
    state, _ = runtime
    for layer in ("bronze", "silver", "gold"):
        report = clean_run.xcoms[f"{layer}_gate"]
        assert report["status"] in {"passed", "warning"}, report
        key = report["report_uri"].split("/", 3)[3]
        body = json.loads(s3_client(state).get_object(Bucket=state["bucket"], Key=key)["Body"].read())
        assert body["layer"] == layer and body["tables"]


def test_failing_silver_gate_blocks_gold_and_alerts(runtime, bad_run) -> None:
    state, _ = runtime
    assert bad_run.state == "failed"
    assert bad_run.tasks["silver_gate"] == "failed" and bad_run.tasks["silver_publish"] == "upstream_failed"
    assert all(s != "success" for t, s in bad_run.tasks.items() if t.startswith("gold")), bad_run.tasks
    slack = [m for m in read_messages(Path(state["state_dir"]) / "slack") if "silver_gate" in m["text"]]
    assert slack, "no Slack alert for the silver gate"
    text = slack[-1]["text"]
    assert slack[-1]["channel"] == "#sales-data-alerts"
    for fragment in (
        "sales_orders",
        "silver",
        "expect_column_values_to_be_between",
        "unit_price",
        "Negative prices come from refunds",
        "What to do",
    ):
        assert fragment in text, fragment
    mails = [m for m in read_mail(Path(state["state_dir"]) / "mail") if "silver" in m["Subject"]]
    assert mails, "no e-mail alert"
    body = mails[-1].get_body(("plain",)).get_content()
    assert "expect_column_values_to_be_in_set" in body and "sales-data@example.com" in mails[-1]["To"]


def test_cross_domain_consumer_builds_from_sales_gold(runtime, clean_run) -> None:
    """marketing_customer_segments is scheduled on the sales_orders.gold asset."""
    from medallion.local.runtime import run_pipeline

    state, stats = runtime
    result = run_pipeline("marketing_customer_segments", DS)
    assert result.succeeded, result.tasks
    con = duck.connect(state["lakehouse"], read_only=True)
    try:
        segments = dict(con.execute("SELECT segment, count(*) FROM gold.customer_segments GROUP BY 1").fetchall())
    finally:
        con.close()
    assert sum(segments.values()) == stats.customers
    assert set(segments) <= {"vip", "regular", "occasional", "dormant"}


def test_rejected_silver_data_is_never_published(runtime, clean_run, bad_run) -> None:
    """Write → audit → publish: the failed gate left the last good silver table in place."""
    state, _ = runtime
    con = duck.connect(state["lakehouse"], read_only=True)
    try:
        public = con.execute("SELECT count(*), count(*) FILTER (WHERE status = 'lost') FROM silver.orders").fetchone()
        staged = con.execute(
            "SELECT count(*) FILTER (WHERE status = 'lost') FROM staging.sales_orders__orders"
        ).fetchone()[0]
    finally:
        con.close()
    assert public[1] == 0 and staged == 25
    assert clean_run.xcoms["silver_publish"]["published"] == ["silver.customers", "silver.orders"]


def test_notebook_exception_alerts_with_the_error_and_the_run_page(runtime, clean_run, bad_run) -> None:
    """A signup date that is not a date makes the customers notebook raise on the Databricks emulator."""
    from medallion.local.runtime import run_pipeline
    from medallion.local.shop import inject_unparseable_signup

    state, _ = runtime
    inject_unparseable_signup(Path(state["shop_db"]))
    result = run_pipeline("sales_orders", DS)
    assert result.tasks["silver.customers"] == "failed"
    assert result.tasks["silver.orders"] == "upstream_failed" and result.tasks["silver_gate"] == "upstream_failed"
    alerts = [
        m["text"]
        for m in read_messages(Path(state["state_dir"]) / "slack")
        if "Class: databricks_notebook_exception" in m["text"]
    ]
    assert alerts, "no Databricks alert"
    assert "Layer / task: silver / silver.customers" in alerts[-1]
    # a value that cannot be cast fails the same way on every try: one try, one Databricks job run
    assert "Attempt: try 1 of 3" in alerts[-1]
    assert "Retry: none: databricks_notebook_exception is not retried" in alerts[-1]
    assert 'invalid date field format: "soon"' in alerts[-1]
    assert f"Databricks run page: http://127.0.0.1:{state['databricks_port']}/#job/" in alerts[-1]
