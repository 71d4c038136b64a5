"""Write → audit → publish for silver and gold: the publish step, load semantics, provenance, locks.

Real DuckDB files throughout; the Databricks statement sequence is checked as SQL text. The slow
tests at the end run real dbt (dbt-duckdb through cosmos) inside real Airflow (``dag.test``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from medallion import duck
from medallion.quality.publish import Publication, RunStamp, publish, publish_statements, published_versions

ROOT = Path(__file__).resolve().parents[2]


def lakehouse(path: Path) -> SimpleNamespace:
    """What ``BaseHook.get_connection('lakehouse')`` returns for a local DuckDB file."""
    return SimpleNamespace(conn_type="duckdb", host=str(path), conn_id="lakehouse")


def checksum(db: Path, table: str) -> tuple[int, int]:
    """Row count and an order-independent hash of every row."""
    con = duck.connect(db, read_only=True)
    try:
        return tuple(con.execute(f"SELECT count(*), coalesce(sum(hash(t)), 0) FROM {table} t").fetchone())
    finally:
        con.close()


def stage(db: Path, schema: str, rows: list[tuple[int, str, str]]) -> None:
    """A run's staging table ``<schema>.orders(order_id, status, updated_at)``."""
    con = duck.connect(db)
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.execute(f"CREATE OR REPLACE TABLE {schema}.orders (order_id BIGINT, status VARCHAR, updated_at DATE)")
        con.executemany(f"INSERT INTO {schema}.orders VALUES (?, ?, ?)", rows)
        con.execute("CREATE SCHEMA IF NOT EXISTS silver")
    finally:
        con.close()


# --------------------------------------------------------------------------- statements (SQL text)


def test_databricks_publish_is_one_clone_per_table_then_versions_then_cleanup() -> None:
    pubs = [
        Publication("staging_p_20261120.daily_revenue", "gold.daily_revenue"),
        Publication("staging_p_20261120.clv", "gold.clv"),
    ]
    stamp = RunStamp("p", "2026-11-20", "scheduled__2026-11-20T00:00:00+00:00")
    sql = publish_statements(pubs, "databricks", stamp, drop_schema="staging_p_20261120")
    assert sql[:2] == [
        "CREATE OR REPLACE TABLE gold.daily_revenue DEEP CLONE staging_p_20261120.daily_revenue",
        "CREATE OR REPLACE TABLE gold.clv DEEP CLONE staging_p_20261120.clv",
    ]
    assert sql[2:4] == [
        "CREATE SCHEMA IF NOT EXISTS ops",
        "CREATE TABLE IF NOT EXISTS ops.published_versions (table_name STRING, pipeline STRING, "
        "logical_date DATE, run_id STRING, published_at TIMESTAMP, staging STRING, semantics STRING)",
    ]
    assert sql[4].startswith("INSERT INTO ops.published_versions VALUES ('gold.daily_revenue', 'p', DATE '2026-11-20'")
    assert "'scheduled__2026-11-20T00:00:00+00:00', current_timestamp, 'staging_p_20261120.daily_revenue'" in sql[4]
    assert sql[5] == "DROP SCHEMA IF EXISTS staging_p_20261120 CASCADE" and len(sql) == 6


def test_quarantine_filter_and_incremental_merge_statements() -> None:
    kept = Publication("staging.p__orders", "silver.orders", keep="NOT (amount < 0)")
    assert publish_statements([kept], "databricks") == [
        "CREATE OR REPLACE TABLE silver.orders AS SELECT * FROM staging.p__orders WHERE NOT (amount < 0)"
    ]
    assert publish_statements([kept], "duckdb") == publish_statements([kept], "databricks")
    merged = Publication("staging.p__orders", "silver.orders", merge=(("order_id",), "updated_at"))
    assert publish_statements([merged], "databricks") == [
        "CREATE TABLE IF NOT EXISTS silver.orders AS SELECT * FROM staging.p__orders WHERE 1 = 0",
        "MERGE INTO silver.orders AS t USING staging.p__orders AS s ON t.order_id = s.order_id "
        "WHEN MATCHED AND s.updated_at > t.updated_at THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *",
    ]


# --------------------------------------------------------------------------- DuckDB: one transaction


def test_a_failing_publish_leaves_every_table_as_it_was(tmp_path: Path) -> None:
    db = tmp_path / "lh.duckdb"
    stage(db, "staging_a", [(1, "paid", "2026-11-20")])
    conn = lakehouse(db)
    publish(conn, [Publication("staging_a.orders", "silver.orders")], stamp=RunStamp("p", "2026-11-20", "r1"))
    before = checksum(db, "silver.orders")
    stage(db, "staging_b", [(1, "paid", "2026-11-21"), (2, "paid", "2026-11-21")])
    broken = [Publication("staging_b.orders", "silver.orders"), Publication("staging_b.missing", "silver.other")]
    with pytest.raises(Exception, match="missing"):
        publish(conn, broken, stamp=RunStamp("p", "2026-11-21", "r2"))
    assert checksum(db, "silver.orders") == before
    [version] = published_versions(conn, ["silver.orders"])
    assert (version.logical_date, version.run_id) == ("2026-11-20", "r1")


# --------------------------------------------------------------------------- load semantics: 20 → 21 → 19

DAYS = {  # the source as of each logical date: order 1 is updated on the 21st, order 3 appears then
    "2026-11-19": [(1, "placed", "2026-11-19")],
    "2026-11-20": [(1, "paid", "2026-11-20"), (2, "placed", "2026-11-20")],
    "2026-11-21": [(1, "shipped", "2026-11-21"), (2, "placed", "2026-11-20"), (3, "placed", "2026-11-21")],
}


def run_date(db: Path, ds: str, semantics: str, backfill: bool = False):
    schema = f"staging_p_{ds.replace('-', '')}"
    stage(db, schema, DAYS[ds])
    merge = (("order_id",), "updated_at") if semantics == "incremental" else None
    return publish(
        lakehouse(db),
        [Publication(f"{schema}.orders", "silver.orders", merge=merge)],
        stamp=RunStamp("p", ds, f"run_{ds}", semantics),
        backfill=backfill,
    )


def test_snapshot_an_older_date_does_not_overwrite_newer_data(tmp_path: Path) -> None:
    db = tmp_path / "lh.duckdb"
    run_date(db, "2026-11-20", "snapshot")
    run_date(db, "2026-11-21", "snapshot")
    newest = checksum(db, "silver.orders")
    older = run_date(db, "2026-11-19", "snapshot")
    assert older.skipped and older.published == []
    [kept] = older.kept_newer
    assert (kept.table, kept.logical_date, kept.run_id) == ("silver.orders", "2026-11-21", "run_2026-11-21")
    assert checksum(db, "silver.orders") == newest  # no newer data lost
    assert checksum(db, "staging_p_20261119.orders")[0] == 1  # the older run's outputs stay in staging
    backfill = run_date(db, "2026-11-19", "snapshot", backfill=True)  # declared: it publishes
    assert backfill.published == ["silver.orders"] and checksum(db, "silver.orders")[0] == 1
    [version] = published_versions(lakehouse(db), ["silver.orders"])
    assert (version.logical_date, version.run_id) == ("2026-11-19", "run_2026-11-19")


def test_incremental_any_date_order_converges(tmp_path: Path) -> None:
    in_order, shuffled = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    for ds in ("2026-11-19", "2026-11-20", "2026-11-21"):
        run_date(in_order, ds, "incremental")
    for ds in ("2026-11-20", "2026-11-21", "2026-11-19"):
        assert run_date(shuffled, ds, "incremental").published == ["silver.orders"]
    assert checksum(shuffled, "silver.orders") == checksum(in_order, "silver.orders")
    con = duck.connect(shuffled, read_only=True)
    try:
        rows = con.execute("SELECT order_id, status FROM silver.orders ORDER BY 1").fetchall()
    finally:
        con.close()
    assert rows == [(1, "shipped"), (2, "placed"), (3, "placed")]  # the newest version of each key


# --------------------------------------------------------------------------- local single-writer lock

HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE IF NOT EXISTS t AS SELECT 1 AS x")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def test_a_writer_waits_for_the_lakehouse_lock_instead_of_failing(tmp_path: Path, caplog) -> None:
    db = tmp_path / "lh.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db), "3"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with caplog.at_level("WARNING", logger="medallion.duck"):
            con = duck.connect(db)
        waited = time.monotonic() - started
        assert con.execute("SELECT x FROM t").fetchone() == (1,)
        con.close()
    finally:
        holder.wait(timeout=30)
    assert waited > 1.0
    assert "is locked by another writer" in caplog.text


def test_a_lock_held_too_long_fails_with_what_to_do(tmp_path: Path) -> None:
    db = tmp_path / "lh.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db), "5"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(Exception, match="stayed locked by another writer for 1 s"):
            duck._connect_waiting(str(db), False, wait=1.0)
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_dbt_duckdb_retries_its_connection_on_the_lock() -> None:
    from medallion.gold.profile import LOCK_CONNECT_ATTEMPTS, LakehouseProfileMapping

    mapping = LakehouseProfileMapping("lakehouse")  # the test overlay's duckdb connection
    assert mapping.profile["retries"] == {"connect_attempts": LOCK_CONNECT_ATTEMPTS}
    assert LOCK_CONNECT_ATTEMPTS >= 8  # 2**attempt s between attempts: several minutes


# --------------------------------------------------------------------------- the DAG's wiring


def test_gold_builds_in_the_runs_staging_schema_and_the_gate_publishes_it() -> None:
    from medallion.build.loader import load_dags

    dags = load_dags(ROOT / "dag_configs")
    dag = dags["sales_orders"]
    dbt_vars = dag.task_dict["gold.daily_revenue.run"].vars
    assert dbt_vars["medallion_staging_schema"] == "staging_sales_orders_{{ ds_nodash }}"
    assert sorted(dbt_vars["medallion_models"]) == ["customer_lifetime_value", "daily_revenue"]
    assert dag.task_dict["gold_preflight"].vars == dbt_vars  # unit tests see the same routing
    assert dag.task_dict["gold_gate"].publishes == ["gold.customer_lifetime_value", "gold.daily_revenue"]
    assert dag.task_dict["silver_gate"].publishes == ["silver.customers", "silver.orders"]
    assert dag.max_active_runs == 1 and dag.params["backfill"] is False
    marketing = dags["marketing_customer_segments"]
    assert marketing.task_dict["gold.customer_segments.run"].vars["medallion_models"] == ["customer_segments"]
    assert marketing.task_dict["gold_gate"].publishes == ["gold.customer_segments"]
