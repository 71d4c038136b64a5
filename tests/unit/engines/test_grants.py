"""Spec grants on the lakehouse: Unity Catalog GRANT/REVOKE on Databricks (SQL text; no warehouse here, the
warehouse calls are recorded), checked and recorded only on DuckDB, which has no grants (real DuckDB)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.models.connection import Connection

from medallion import layout
from medallion.engines import ENGINES
from medallion.engines.databricks import DatabricksEngine

#: ``SHOW GRANTS ON TABLE`` rows: (principal, action_type, object_type, object_key)
SHOWN = [
    ("sales-analysts", "SELECT", "TABLE", "main.silver.orders"),
    ("old-team", "SELECT", "TABLE", "main.silver.orders"),
    ("old-team", "MODIFY", "TABLE", "main.silver.orders"),
    ("data-platform", "MODIFY", "TABLE", "main.silver.orders"),
    ("everyone", "USE SCHEMA", "SCHEMA", "main.silver"),  # inherited: not the table's to manage
]


class _RecordedWarehouse(DatabricksEngine):
    def __init__(self, shown: list[tuple[Any, ...]]):
        self.calls: list[tuple[str, Any]] = []
        self.shown = shown

    def run_statements(self, conn: Any, statements: Any) -> None:
        self.calls.append(("run", list(statements)))

    def query_all(self, conn: Any, sql: str) -> list[tuple[Any, ...]]:
        self.calls.append(("query", sql))
        return self.shown


def test_databricks_grants_add_missing_privileges_and_revoke_groups_no_longer_listed() -> None:
    engine = ENGINES["databricks"]
    wanted = {"sales-analysts": ("SELECT",), "data-platform": ("SELECT",), "crm team": ("SELECT", "MODIFY")}
    current = engine.current_grants(SHOWN)
    assert ("everyone", "USE SCHEMA") not in current
    assert engine.grant_statements("silver.orders", wanted, current) == [
        "GRANT MODIFY, SELECT ON TABLE silver.orders TO `crm team`",
        "GRANT SELECT ON TABLE silver.orders TO `data-platform`",
        "REVOKE MODIFY ON TABLE silver.orders FROM `data-platform`",
        "REVOKE MODIFY, SELECT ON TABLE silver.orders FROM `old-team`",
    ]
    # nothing to change: no statements
    assert engine.grant_statements("silver.orders", {"a": ("SELECT",)}, {("a", "SELECT")}) == []
    # a group name cannot break out of its quotes
    assert engine.grant_statements("t", {"x` TO `admins": ("SELECT",)}, set()) == [
        "GRANT SELECT ON TABLE t TO `x`` TO ``admins`"
    ]


def test_databricks_apply_grants_reads_current_grants_then_grants_and_records() -> None:
    warehouse = _RecordedWarehouse(SHOWN)
    run = warehouse.apply_grants(
        None, "silver.orders", {"sales-analysts": ("SELECT",)}, pipeline="sales_orders", run_id="r1"
    )
    assert warehouse.calls[0] == ("query", "SHOW GRANTS ON TABLE silver.orders")
    assert run == [
        "REVOKE MODIFY ON TABLE silver.orders FROM `data-platform`",
        "REVOKE MODIFY, SELECT ON TABLE silver.orders FROM `old-team`",
    ]
    ((kind, statements),) = warehouse.calls[1:]
    assert kind == "run" and statements[:2] == run
    assert statements[-1].startswith(f"INSERT INTO {layout.TABLE_GRANTS} VALUES ('silver.orders', 'sales-analysts'")
    assert statements[-1].endswith("TRUE)")  # enforced


def test_duckdb_has_no_grants_so_they_are_checked_and_recorded(tmp_path: Path) -> None:
    engine = ENGINES["duckdb"]
    conn = Connection(conn_id="lakehouse", conn_type="duckdb", host=str(tmp_path / "lake.duckdb"))
    assert not engine.enforces_grants and engine.show_grants_sql("silver.orders") is None
    wanted = {"sales-analysts": ("SELECT",), "crm-team": ("SELECT", "MODIFY")}
    assert engine.apply_grants(conn, "silver.orders", wanted, pipeline="sales_orders", run_id="r1") == []
    assert (
        engine.apply_grants(conn, "silver.orders", {"crm-team": ("SELECT",)}, pipeline="sales_orders", run_id="r2")
        == []
    )
    rows = engine.query_all(
        conn, f"SELECT table_name, principal, privileges, run_id, enforced FROM {layout.TABLE_GRANTS}"
    )
    assert rows == [("silver.orders", "crm-team", "SELECT", "r2", False)]  # the second publish replaced the record


def test_after_a_publish_each_table_gets_the_specs_grants(tmp_path: Path, configs: Path) -> None:
    from medallion.engines import apply_grants
    from medallion.spec.project import load_project

    spec = next(i.spec for i in load_project(configs, select_gold=None).buildable() if i.spec.id == "sales_orders")
    conn = Connection(conn_id="lakehouse", conn_type="duckdb", host=str(tmp_path / "lake.duckdb"))
    assert apply_grants(conn, spec, ["silver.orders", "silver.customers"], "r1") == {
        "silver.orders": [],
        "silver.customers": [],
    }
    rows = ENGINES["duckdb"].query_all(conn, f"SELECT table_name, principal FROM {layout.TABLE_GRANTS} ORDER BY 1, 2")
    assert rows == [
        ("silver.customers", "crm-team"),
        ("silver.customers", "data-platform"),
        ("silver.orders", "data-platform"),
        ("silver.orders", "sales-analysts"),
    ]
