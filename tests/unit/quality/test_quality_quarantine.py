"""Quarantine, freshness and run parameters through the real silver steps: quarantine → gate → publish.

Real GE on the test overlay's DuckDB lakehouse, reports in S3 (moto): the quarantine step sets rows
breaking quarantine rules aside per date (idempotently) and hands the gate what it kept; the gate
only judges; the publish step publishes the kept rows. Nothing is published when the audit fails.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest

from medallion import duck
from medallion.alerts.notifier import build_gate_warning_alert
from medallion.quality.operator import QualityGateFailed, QualityGateOperator
from medallion.quality.publish_step import PublishOperator
from medallion.quality.quarantine_step import QuarantineOperator
from medallion.spec.load import SpecLoader
from medallion.spec.models import TableCheck

ROOT = Path(__file__).resolve().parents[3]
SPEC = SpecLoader(ROOT / "dag_configs").load(ROOT / "dag_configs/sales/orders.yaml")
QUARANTINE = "quarantine.sales_orders__orders"

ORDERS = TableCheck(
    table="silver.orders",
    freshness={"column": "updated_at", "max_age_hours": 30, "severity": "warning"},
    expectations=[
        {"type": "expect_column_values_to_be_unique", "column": "order_id"},
        {
            "type": "expect_column_values_to_be_in_set",
            "column": "status",
            "value_set": ["placed", "paid", "shipped"],
            "quarantine": True,
            "name": "known_status",
        },
        {"type": "expect_column_values_to_be_between", "column": "unit_price", "min_value": 0, "quarantine": True},
        {  # orders dated after the run's logical date cannot exist yet: a run parameter, rendered at run time
            "type": "expect_column_values_to_be_between",
            "column": "order_date",
            "max_value": "{{ ds }}",
            "quarantine": True,
            "name": "not_in_future",
        },
        {"type": "expect_column_values_to_not_be_null", "column": "customer_id", "quarantine": True},
    ],
)


def write_staging(lakehouse: str, ds: str, *, duplicate: bool = False) -> None:
    """100 orders of ``ds``: 5 unknown statuses, 3 negative prices (1 also unknown), 2 dated tomorrow, 1 no customer."""
    con = duck.connect(lakehouse, create_schemas=True)
    con.execute(f"""
        CREATE OR REPLACE TABLE staging.sales_orders__orders AS
        SELECT range AS order_id,
               CASE WHEN range = 7 THEN NULL ELSE range % 10 END AS customer_id,
               CASE WHEN range < 5 THEN 'refund' ELSE 'paid' END AS status,
               CASE WHEN range IN (4, 50, 51) THEN -1.5 ELSE 10.0 END AS unit_price,
               DATE '{ds}' + CASE WHEN range IN (90, 91) THEN 1 ELSE 0 END AS order_date,
               TIMESTAMP '{ds} 20:00:00' AS updated_at
        FROM range(100)
        {"UNION ALL SELECT 99, 1, 'paid', 1.0, DATE '" + ds + "', TIMESTAMP '" + ds + " 20:00:00'" if duplicate else ""}
    """)
    con.execute("CREATE OR REPLACE TABLE staging.sales_orders__customers AS SELECT 1 AS customer_id")
    con.close()


def context(ds: str, task_id: str, attempt: int = 1, handed: dict | None = None) -> dict:
    """A task's context; ``handed`` is what ``xcom_pull`` returns (the quarantine step's return value)."""
    ti = SimpleNamespace(
        dag_id=SPEC.id,
        task_id=task_id,
        try_number=attempt,
        xcom_push=lambda **_: None,
        xcom_pull=lambda **_: handed,
    )
    start = dt.datetime.fromisoformat(ds).replace(tzinfo=dt.UTC)
    return {
        "ds": ds,
        "run_id": f"scheduled__{ds}#{attempt}",
        "ti": ti,
        "logical_date": start,
        "data_interval_start": start,
        "data_interval_end": start + dt.timedelta(days=1),
    }


def quarantine(ds: str, attempt: int = 1) -> dict:
    op = QuarantineOperator(task_id="silver_quarantine", spec=SPEC, checks=[ORDERS])
    return op.execute(context(ds, "silver_quarantine", attempt))


def judge(ds: str, handed: dict | None, attempt: int = 1) -> dict:
    op = QualityGateOperator(
        task_id="silver_gate", spec=SPEC, layer="silver", checks=[ORDERS], inputs_from="silver_quarantine"
    )
    return op.execute(context(ds, "silver_gate", attempt, handed))


def publish(ds: str, handed: dict | None, attempt: int = 1) -> dict:
    op = PublishOperator(
        task_id="silver_publish", spec=SPEC, layer="silver", tables=["silver.orders"], keep_from="silver_quarantine"
    )
    return op.execute(context(ds, "silver_publish", attempt, handed))


def gate(ds: str, attempt: int = 1) -> dict:
    """The three silver tasks in DAG order (a failing gate raises: publish never runs)."""
    handed = quarantine(ds, attempt)
    report = judge(ds, handed, attempt)
    return report | {"published": publish(ds, handed, attempt)["published"]}


def rows(lakehouse: str, sql: str) -> list[tuple]:
    con = duck.connect(lakehouse, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_quarantine_sets_rows_aside_per_date_and_publishes_the_rest(lake) -> None:
    _, lakehouse = lake
    write_staging(lakehouse, "2026-11-05")
    report = gate("2026-11-05")
    table = report["tables"][0]
    assert report["status"] == "warning" and report["quarantined"] == 10 and report["published"] == ["silver.orders"]
    assert table["quarantine"] == {
        "table": QUARANTINE,
        "quarantined": 10,
        "kept": 90,
        "rules": {"known_status": 5, "between__unit_price": 3, "not_in_future": 2, "not_null__customer_id": 1},
    }
    by_name = {o["name"]: o for o in table["outcomes"]}
    assert by_name["not_in_future"]["kwargs"]["max_value"] == "2026-11-05"  # rendered at run time
    assert by_name["known_status"]["quarantined"] == 5 and by_name["known_status"]["success"]
    assert by_name["freshness"]["success"] and by_name["freshness"]["kwargs"]["min_value"] == "2026-11-04 18:00:00"
    assert rows(lakehouse, "SELECT COUNT(*), MIN(unit_price) FROM silver.orders") == [(90, 10.0)]
    assert rows(
        lakehouse,
        f"SELECT order_id, _quarantine_rules, _run_id, _logical_date FROM {QUARANTINE} WHERE order_id IN (4, 7)",
    ) == [
        (4, "known_status, between__unit_price", "scheduled__2026-11-05#1", dt.date(2026, 11, 5)),
        (7, "not_null__customer_id", "scheduled__2026-11-05#1", dt.date(2026, 11, 5)),
    ]

    alert = build_gate_warning_alert(SPEC, {"ti": SimpleNamespace(task_id="silver_gate"), "ds": "2026-11-05"}, report)
    assert alert.failure_class == "quality_quarantine" and "10 row(s) were quarantined" in alert.summary
    assert f"SELECT * FROM {QUARANTINE} WHERE _logical_date = DATE '2026-11-05'" in alert.details[0]

    gate("2026-11-05", attempt=2)  # a re-run of the same date replaces that date's rows
    write_staging(lakehouse, "2026-11-06")
    gate("2026-11-06")
    assert rows(lakehouse, f"SELECT _logical_date, COUNT(*), MIN(_run_id) FROM {QUARANTINE} GROUP BY 1 ORDER BY 1") == [
        (dt.date(2026, 11, 5), 10, "scheduled__2026-11-05#2"),
        (dt.date(2026, 11, 6), 10, "scheduled__2026-11-06#1"),
    ]


def test_a_failed_audit_after_quarantine_publishes_nothing(lake) -> None:
    _, lakehouse = lake
    write_staging(lakehouse, "2026-11-05")
    gate("2026-11-05")
    write_staging(lakehouse, "2026-11-06", duplicate=True)  # order 99 twice: the critical unique key fails
    with pytest.raises(QualityGateFailed) as failed:
        gate("2026-11-06")
    assert failed.value.report["quarantined"] == 10 and failed.value.report["critical_failures"] == 1
    assert rows(lakehouse, "SELECT COUNT(*), MAX(order_date) FROM silver.orders") == [(90, dt.date(2026, 11, 5))]


def test_stale_data_is_a_freshness_warning_with_a_hint(lake) -> None:
    _, lakehouse = lake
    write_staging(lakehouse, "2026-11-01")
    report = gate("2026-11-03")  # newest updated_at: 2026-11-01 20:00, 52 h before the interval end
    freshness = next(o for o in report["tables"][0]["outcomes"] if o["name"] == "freshness")
    assert report["status"] == "warning" and report["warnings"] == 1 and not freshness["success"]
    assert freshness["observed"] == "2026-11-01T20:00:00" and freshness["kwargs"]["min_value"] == "2026-11-02 18:00:00"
    alert = build_gate_warning_alert(SPEC, {"ti": SimpleNamespace(task_id="silver_gate"), "ds": "2026-11-03"}, report)
    assert alert.failure_class == "quality_gate_warning"
    assert any("Stale data: the newest updated_at" in line for line in alert.details)


def test_the_gate_only_judges_publishing_is_the_next_step(lake) -> None:
    """A passing gate changes no table; the publish step, given the quarantine step's keep predicate, does."""
    _, lakehouse = lake
    write_staging(lakehouse, "2026-11-05")
    gate("2026-11-05")
    write_staging(lakehouse, "2026-11-06")
    handed = quarantine("2026-11-06")
    assert set(handed) == {"silver.orders"} and handed["silver.orders"]["keep"].startswith("NOT COALESCE(")
    before = rows(lakehouse, "SELECT COUNT(*), MAX(order_date) FROM silver.orders")
    report = judge("2026-11-06", handed)
    assert report["status"] == "warning" and "published" not in report
    assert "WHERE NOT COALESCE(" in report["tables"][0]["query"]  # it validated only the kept rows
    assert (
        rows(lakehouse, "SELECT COUNT(*), MAX(order_date) FROM silver.orders") == before == [(90, dt.date(2026, 11, 5))]
    )
    published = publish("2026-11-06", handed)
    assert published["published"] == ["silver.orders"] and published["run_id"] == "scheduled__2026-11-06#1"
    assert rows(lakehouse, "SELECT COUNT(*), MAX(order_date) FROM silver.orders") == [(90, dt.date(2026, 11, 6))]
