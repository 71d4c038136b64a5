"""Quarantine → gate → publish in a real DAG run: the example pipeline's DAG, as the factory wires it.

Real Airflow (``dag.test``) runs ``silver_quarantine``, ``silver_gate`` and ``silver_publish``, which
hand each other plain values through real XCom; every other task is marked success without running
(``mark_success_pattern``), with the notebooks' output written to staging by the test. Real GE on
the test session's DuckDB lakehouse, reports in moto S3.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from medallion import duck

STEPS = ("silver_quarantine", "silver_gate", "silver_publish")
ONLY_THE_STEPS = r"(?!(" + "|".join(STEPS) + r")$).*"  # every other task: marked success, not run
STATUS_RULE = "          value_set: [placed, paid, shipped, delivered, cancelled]\n"


def stage(lakehouse: str, ds: str, *, duplicate: bool = False) -> None:
    """What the notebooks write: 20 orders of ``ds`` (3 with the unknown status 'refund') and 3 customers."""
    con = duck.connect(lakehouse, create_schemas=True)
    try:
        con.execute(f"""
            CREATE OR REPLACE TABLE staging.sales_orders__orders AS
            SELECT range::BIGINT AS order_id, (range % 3 + 1)::BIGINT AS customer_id, 1::BIGINT AS product_id,
                   1::INT AS quantity, 10.00::DECIMAL(12,2) AS unit_price, 10.00::DECIMAL(14,2) AS amount,
                   CASE WHEN range < 3 THEN 'refund' ELSE 'paid' END AS status, DATE '{ds}' AS order_date,
                   TIMESTAMP '{ds} 10:00' AS updated_at
            FROM range({21 if duplicate else 20})
        """)
        if duplicate:  # order 19 twice: the gate's critical unique key fails
            con.execute("UPDATE staging.sales_orders__orders SET order_id = 19 WHERE order_id = 20")
        con.execute(
            "CREATE OR REPLACE TABLE staging.sales_orders__customers AS SELECT range::BIGINT AS customer_id, "
            "'c' || range || '@shop.test' AS email, 'PT' AS country, DATE '2026-01-01' AS signup_date FROM range(1, 4)"
        )
    finally:
        con.close()


def rows(lakehouse: str, sql: str) -> list[tuple]:
    con = duck.connect(lakehouse, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture
def silver_dag(configs: Path, lake, monkeypatch: pytest.MonkeyPatch):
    """The example DAG with the silver status rule turned into a quarantine rule."""
    from medallion.factory.loader import load_dags

    spec = configs / "sales/orders.yaml"
    text = spec.read_text()
    assert STATUS_RULE in text, "the example spec changed: update STATUS_RULE"
    spec.write_text(text.replace(STATUS_RULE, STATUS_RULE + "          quarantine: true\n"))
    monkeypatch.setenv("MEDALLION_CONFIG_DIR", str(configs))  # dag.test() syncs the DAG folder
    _, lakehouse = lake  # no published versions yet: the lake fixture forgets them
    con = duck.connect(lakehouse, create_schemas=True)
    try:  # another test's quarantine table has other columns (the session shares the lakehouse)
        con.execute("DROP TABLE IF EXISTS quarantine.sales_orders__orders")
    finally:
        con.close()
    dag = load_dags(configs)["sales_orders"]
    dag.deadline = None  # as local runs do: deadlines cannot fire in dag.test()
    return dag, lakehouse


def run(dag, ds: str) -> dict[str, str]:
    dag_run = dag.test(
        logical_date=dt.datetime.fromisoformat(ds).replace(tzinfo=dt.UTC), mark_success_pattern=ONLY_THE_STEPS
    )
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}


@pytest.mark.slow
def test_quarantine_then_gate_then_publish_and_a_failed_gate_publishes_nothing(silver_dag) -> None:
    dag, lakehouse = silver_dag
    assert dag.get_task("silver_gate").upstream_task_ids == {"silver_quarantine"}
    assert dag.get_task("silver_publish").upstream_task_ids == {"silver_gate"}

    stage(lakehouse, "2026-11-20")
    states = run(dag, "2026-11-20")
    assert {t: states[t] for t in STEPS} == dict.fromkeys(STEPS, "success")
    # the gate judged the 17 kept rows (the unknown statuses would fail its critical in-set rule otherwise),
    # the publish step copied only those, and the 3 others wait in quarantine
    assert rows(lakehouse, "SELECT COUNT(*), COUNT(*) FILTER (status = 'refund') FROM silver.orders") == [(17, 0)]
    assert rows(lakehouse, "SELECT COUNT(*) FROM quarantine.sales_orders__orders") == [(3,)]
    versions = rows(lakehouse, "SELECT table_name, logical_date::VARCHAR FROM ops.published_versions ORDER BY 1")
    assert versions == [("silver.customers", "2026-11-20"), ("silver.orders", "2026-11-20")]
    # and brought their grants to the spec's (DuckDB has none to apply: recorded only)
    grants = rows(lakehouse, "SELECT table_name, principal, privileges, enforced FROM ops.table_grants ORDER BY 1, 2")
    assert grants == [
        ("silver.customers", "crm-team", "SELECT", False),
        ("silver.customers", "data-platform", "SELECT", False),
        ("silver.orders", "data-platform", "SELECT", False),
        ("silver.orders", "sales-analysts", "SELECT", False),
    ]

    stage(lakehouse, "2026-11-21", duplicate=True)
    states = run(dag, "2026-11-21")
    assert states["silver_quarantine"] == "success" and states["silver_gate"] == "failed"
    assert states["silver_publish"] == "upstream_failed"  # a failed check publishes nothing
    assert rows(lakehouse, "SELECT COUNT(*), MAX(order_date)::VARCHAR FROM silver.orders") == [(17, "2026-11-20")]
