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

ROOT = Path(__file__).resolve().parents[3]


def lakehouse(path: Path) -> SimpleNamespace:
    """What ``BaseHook.get_connection('lakehouse')`` returns for a local DuckDB file."""
    return SimpleNamespace(conn_type="duckdb", host=str(path), conn_id="lakehouse")


def checksum(db: Path, table: str) -> tuple[int, int] | None:
    """Row count and an order-independent hash of every row (the demo's proof too)."""
    from medallion.wap import table_checksums

    return table_checksums(db, [table])[table]


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
    assert sql[:3] == [
        "CREATE SCHEMA IF NOT EXISTS gold",
        "CREATE OR REPLACE TABLE gold.daily_revenue DEEP CLONE staging_p_20261120.daily_revenue",
        "CREATE OR REPLACE TABLE gold.clv DEEP CLONE staging_p_20261120.clv",
    ]
    assert sql[3:5] == [
        "CREATE SCHEMA IF NOT EXISTS ops",
        "CREATE TABLE IF NOT EXISTS ops.published_versions (table_name STRING, pipeline STRING, "
        "logical_date DATE, run_id STRING, published_at TIMESTAMP, staging STRING, semantics STRING)",
    ]
    assert sql[5].startswith("INSERT INTO ops.published_versions VALUES ('gold.daily_revenue', 'p', DATE '2026-11-20'")
    assert "'scheduled__2026-11-20T00:00:00+00:00', current_timestamp, 'staging_p_20261120.daily_revenue'" in sql[5]
    assert sql[6] == "DROP SCHEMA IF EXISTS staging_p_20261120 CASCADE" and len(sql) == 7


def test_quarantine_filter_and_incremental_merge_statements() -> None:
    kept = Publication("staging.p__orders", "silver.orders", keep="NOT (amount < 0)")
    assert publish_statements([kept], "databricks") == [
        "CREATE SCHEMA IF NOT EXISTS silver",
        "CREATE OR REPLACE TABLE silver.orders AS SELECT * FROM staging.p__orders WHERE NOT (amount < 0)",
    ]
    assert publish_statements([kept], "duckdb") == publish_statements([kept], "databricks")
    merged = Publication("staging.p__orders", "silver.orders", merge=(("order_id",), "updated_at"))
    assert publish_statements([merged], "databricks")[1:] == [
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


def test_the_gate_engine_waits_for_the_lock_before_ge_opens_the_file(tmp_path: Path) -> None:
    """GE opens the lakehouse through its own SQLAlchemy engine: the target waits until the file is free."""
    from medallion.quality.engine import lakehouse_target

    db = tmp_path / "lh.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db), "3"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        target = lakehouse_target(lakehouse(db))
        assert time.monotonic() - started > 1.0 and target.kind == "duckdb"
    finally:
        holder.wait(timeout=30)


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


def test_dbt_duckdb_retries_its_connection_on_the_lock(tmp_path: Path) -> None:
    """Real dbt with the profile the gold tasks get: it waits for another writer's lock instead of failing."""
    import yaml

    from medallion.gold.profile import LOCK_CONNECT_ATTEMPTS, LakehouseProfileMapping

    mapping = LakehouseProfileMapping("lakehouse")  # the test overlay's duckdb connection
    assert mapping.profile["retries"] == {"connect_attempts": LOCK_CONNECT_ATTEMPTS}
    assert LOCK_CONNECT_ATTEMPTS >= 8  # 2**attempt s between attempts: several minutes
    db = tmp_path / "lh.duckdb"
    project = tmp_path / "proj"
    (project / "models").mkdir(parents=True)
    (project / "models/one.sql").write_text("select 1 as x")
    (project / "dbt_project.yml").write_text(
        yaml.safe_dump({"name": "p", "version": "1.0.0", "config-version": 2, "profile": "p"})
    )
    profile = {**mapping.profile, "path": str(db)}
    (project / "profiles.yml").write_text(yaml.safe_dump({"p": {"target": "t", "outputs": {"t": profile}}}))
    hold = 15.0  # longer than dbt's own start-up, so its first connect meets the lock
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db), str(hold)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        run = subprocess.run(
            [str(Path(sys.executable).with_name("dbt")), "run", "--profiles-dir", "."],
            cwd=project, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        waited = time.monotonic() - started
    finally:
        holder.wait(timeout=30)
    assert run.returncode == 0, run.stdout[-2000:]
    assert waited > hold - 1  # it met the lock and retried past it (without retries dbt fails at once)


# --------------------------------------------------------------------------- the DAG's wiring


def test_gold_builds_in_the_runs_staging_schema_the_gate_audits_it_and_the_publish_step_publishes_it() -> None:
    from medallion.factory.loader import load_dags

    dags = load_dags(ROOT / "dag_configs")
    dag = dags["sales_orders"]
    dbt_vars = dag.task_dict["gold.daily_revenue.run"].vars
    assert dbt_vars["medallion_staging_schema"] == "staging_sales_orders_{{ ds_nodash }}"
    assert sorted(dbt_vars["medallion_models"]) == ["customer_lifetime_value", "daily_revenue"]
    assert dag.task_dict["gold_preflight"].vars == dbt_vars  # unit tests see the same routing
    gold = ["gold.customer_lifetime_value", "gold.daily_revenue"]
    assert dag.task_dict["gold_gate"].staged == gold and dag.task_dict["gold_publish"].tables == gold
    assert dag.task_dict["gold_publish"].upstream_task_ids == {"gold_gate"}
    assert dag.task_dict["silver_publish"].tables == ["silver.customers", "silver.orders"]
    assert dag.task_dict["silver_publish"].upstream_task_ids == {"silver_gate"}
    assert not dag.task_dict["gold_gate"].outlets and not dag.task_dict["silver_gate"].outlets  # publishing does
    assert dag.max_active_runs == 1 and dag.params["backfill"] is False
    marketing = dags["marketing_customer_segments"]
    assert marketing.task_dict["gold.customer_segments.run"].vars["medallion_models"] == ["customer_segments"]
    assert marketing.task_dict["gold_gate"].staged == ["gold.customer_segments"]
    assert marketing.task_dict["gold_publish"].tables == ["gold.customer_segments"]


# --------------------------------------------------------------------------- end to end (real dbt via cosmos)

SILVER_ORDERS = (  # (order_id, customer_id, quantity): order 12 is a refund booked as an order when injected
    "CREATE OR REPLACE TABLE silver.orders AS SELECT order_id::BIGINT order_id, customer_id::BIGINT customer_id, "
    "1::BIGINT product_id, quantity::INT quantity, 10.00::DECIMAL(12,2) unit_price, "
    "(quantity * 10.00)::DECIMAL(14,2) amount, 'paid' status, DATE '2026-11-20' order_date, "
    "TIMESTAMP '2026-11-20 10:00' updated_at FROM (VALUES {rows}) t(order_id, customer_id, quantity)"
)
GOLD = ("gold.daily_revenue", "gold.customer_lifetime_value")


def lake_sql(db: str, *statements: str) -> list:
    con = duck.connect(db)
    try:
        return [con.execute(sql).fetchall() for sql in statements]
    finally:
        con.close()


@pytest.fixture(scope="module")
def wap_runtime(tmp_path_factory: pytest.TempPathFactory):
    """Local services and one gold-only pipeline over the project's dbt models (sole owner of their tables)."""
    import shutil

    from medallion.local import services
    from medallion.settings import load_settings

    base = tmp_path_factory.mktemp("wap")
    configs = base / "dag_configs"
    (configs / "sales").mkdir(parents=True)
    shutil.copy(ROOT / "dag_configs/defaults.yaml", configs / "defaults.yaml")
    shutil.copy(ROOT / "dag_configs/sales/defaults.yaml", configs / "sales/defaults.yaml")
    (configs / "sales/gold_wap.yaml").write_text(
        "description: gold only, write-audit-publish\nstart_date: 2026-11-01\ndefaults: {retries: 0}\n"
        "gold:\n  select: [path:models/sales]\n"  # the project's dbt_project and its manifest
        "quality:\n  gold:\n    - table: gold.daily_revenue\n      expectations:\n"
        "        - {type: expect_table_row_count_to_be_between, min_value: 1}\n",
        encoding="utf-8",
    )
    db = load_settings().connection("lakehouse")["host"]
    lake_sql(
        db,
        "CREATE SCHEMA IF NOT EXISTS silver",
        "CREATE OR REPLACE TABLE silver.customers AS SELECT * FROM (VALUES (1::BIGINT, 'a@example.com', 'PT', "
        "DATE '2026-01-01'), (2, 'b@example.com', 'ES', DATE '2026-02-01')) "
        "t(customer_id, email, country, signup_date)",
        SILVER_ORDERS.format(rows="(10, 1, 2), (11, 2, 1)"),
    )
    state = services.start_background()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MEDALLION_CONFIG_DIR", str(configs))
            yield state, configs, db
    finally:
        services.stop_background()
        lake_sql(db, "DELETE FROM ops.published_versions WHERE pipeline = 'sales_gold_wap'")  # frees the dates


@pytest.mark.slow
def test_gold_is_published_only_after_every_test_and_the_gate_pass(wap_runtime) -> None:
    from medallion.local.runtime import run_pipeline
    from medallion.local.slack_server import read_messages

    state, configs, db = wap_runtime
    # 1. clean data: built in staging, audited there, published in one step, version recorded, staging dropped
    good = run_pipeline("sales_gold_wap", "2026-11-20", config_dir=configs)
    assert good.succeeded, good.tasks
    assert good.xcoms["gold_publish"]["published"] == list(sorted(GOLD))
    published = {t: checksum(Path(db), t) for t in GOLD}
    assert published["gold.daily_revenue"][0] == 1
    [versions, staging] = lake_sql(
        db,
        "SELECT table_name, logical_date::VARCHAR, run_id FROM ops.published_versions ORDER BY 1",
        "SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'staging_sales_gold_wap_%'",
    )
    assert [(t, d) for t, d, _ in versions] == [(t, "2026-11-20") for t in sorted(GOLD)]
    assert versions[0][2] == good.xcoms["gold_publish"]["run_id"] == good.xcoms["gold_gate"]["run_id"]
    assert staging == [(0,)]

    # 2. a refund booked as an order: the dbt test fails in staging, every gold table stays as it was
    lake_sql(db, SILVER_ORDERS.format(rows="(10, 1, 2), (11, 2, 1), (12, 999, -100)"))
    bad = run_pipeline("sales_gold_wap", "2026-11-21", config_dir=configs)
    assert bad.tasks["gold.daily_revenue.test"] == "failed"
    assert bad.tasks["gold_gate"] == bad.tasks["gold_publish"] == "upstream_failed"
    assert {t: checksum(Path(db), t) for t in GOLD} == published  # row checksums before == after
    [[(rejected,)]] = lake_sql(db, "SELECT min(revenue) FROM staging_sales_gold_wap_20261121.daily_revenue")
    assert rejected < 0  # the rejected version is there to inspect
    alert = next(  # this pipeline's alert: other test modules share the session's capture server
        m["text"]
        for m in read_messages(Path(state["state_dir"]) / "slack")
        if "dbt test failed" in m["text"] and "sales_gold_wap" in m["text"]
    )
    assert "gold.* was not changed by this run: readers still see the last good version" in alert
    assert "gold.daily_revenue = logical date 2026-11-20, run " in alert
    assert "can be inspected in staging_sales_gold_wap_20261121.customer_lifetime_value, " in alert

    # 3. snapshot semantics: an older date passes its audit but does not overwrite the newer version
    lake_sql(db, SILVER_ORDERS.format(rows="(10, 1, 5)"))
    older = run_pipeline("sales_gold_wap", "2026-11-19", config_dir=configs)
    assert older.succeeded and older.xcoms["gold_publish"]["published"] == []
    assert {t: checksum(Path(db), t) for t in GOLD} == published
    messages = read_messages(Path(state["state_dir"]) / "slack")
    kept = [m["text"] for m in messages if "Older run not published" in m["text"]]
    assert kept and "published: gold.daily_revenue = logical date 2026-11-20" in kept[-1]
    assert "staging_sales_gold_wap_20261119.daily_revenue" in kept[-1]


def test_dag_docs_say_how_the_pipeline_publishes_and_where_versions_are_recorded() -> None:
    from medallion.factory.loader import load_dags

    doc = load_dags(ROOT / "dag_configs")["sales_orders"].doc_md
    assert "## Publishing (write → audit → publish)" in doc
    assert "**Load semantics:** snapshot: the latest logical date wins" in doc
    assert "dbt builds in `staging_sales_orders_<yyyymmdd>`" in doc
    assert "SELECT * FROM ops.published_versions WHERE pipeline = 'sales_orders'" in doc


def test_refs_inside_the_selection_read_staging_and_refs_outside_read_published_gold(tmp_path: Path) -> None:
    """dbt itself (``dbt compile``) with the vars the marketing DAG passes: its model builds in staging,
    its tests read staging, and its ref to sales' customer_lifetime_value reads published gold."""
    import yaml

    from medallion.factory.loader import load_dags

    dag = load_dags(ROOT / "dag_configs")["marketing_customer_segments"]
    dbt_vars = dict(dag.task_dict["gold.customer_segments.run"].vars)
    dbt_vars["medallion_staging_schema"] = dbt_vars["medallion_staging_schema"].replace("{{ ds_nodash }}", "20261120")
    dbt_vars["ds"] = "2026-11-20"
    dbt = Path(sys.executable).with_name("dbt")
    args = ["compile", "--profiles-dir", ".", "--target", "parse", "-q", "--select", "customer_segments"]
    args += ["--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")]
    subprocess.run(
        [str(dbt), *args, "--vars", yaml.safe_dump(dbt_vars)],
        cwd=ROOT / "dbt_project",
        check=True,
    )
    compiled = tmp_path / "target/compiled/medallion/models/marketing"
    model = (compiled / "customer_segments.sql").read_text()
    assert '"gold"."customer_lifetime_value"' in model  # another pipeline's table: published
    test = (compiled / "schema.yml/unique_customer_segments_customer_id.sql").read_text()
    assert '"staging_marketing_customer_segments_20261120"."customer_segments"' in test  # its own: staging


def test_kept_back_alert_names_the_published_version_the_staging_and_the_backfill() -> None:
    from medallion.quality.publish import PublishedVersion
    from medallion.quality.publish_step import kept_back_summary

    newer = PublishedVersion("silver.orders", "2026-11-21", "scheduled__2026-11-21", "sales_orders", "…")
    summary, details = kept_back_summary(
        "silver", RunStamp("sales_orders", "2026-11-19", "r19"), [newer], ["staging.sales_orders__orders"]
    )
    assert "logical date 2026-11-19 is older than the published version" in summary
    assert details[0] == "published: silver.orders = logical date 2026-11-21, run scheduled__2026-11-21 (sales_orders)"
    assert "staging.sales_orders__orders for inspection" in details[1]
    assert "airflow backfill create --dag-id sales_orders" in details[2] and '{"backfill": true}' in details[2]
