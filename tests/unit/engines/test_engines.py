"""Lakehouse engines (``medallion.engines``): one registry chosen by the connection type, every
registered engine implements the whole protocol, is documented in the README and covered here.

DuckDB runs for real; the Databricks engine has no warehouse here, so its SQL is parsed by sqlglot's
Databricks dialect and its statement order is checked with the warehouse calls recorded (its GE URL
and dbt profile are checked by ``test_quality_targets`` and ``test_gold_profile``)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from airflow.models.connection import Connection

from medallion.engines import ENGINES, Guard, LakehouseEngine, engine_for, engine_named
from medallion.engines.databricks import DatabricksEngine

ROOT = Path(__file__).resolve().parents[3]
PROTOCOL = sorted(LakehouseEngine.__abstractmethods__)


def _readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("### Lakehouse engines")
    end = text.find("\n#", start + 1)
    return text[start : end if end != -1 else len(text)]


@pytest.mark.parametrize("conn_type", sorted(ENGINES))
def test_every_registered_engine_implements_the_whole_protocol(conn_type: str) -> None:
    engine = ENGINES[conn_type]
    cls = type(engine)
    assert not inspect.isabstract(cls), f"{cls.__name__} leaves {sorted(cls.__abstractmethods__)} unimplemented"
    assert engine.conn_type == conn_type and engine.description and engine.type_names
    for name in PROTOCOL:
        assert getattr(cls, name) is not getattr(LakehouseEngine, name), f"{cls.__name__}.{name}"
    assert cls.__module__ == f"medallion.engines.{conn_type}", "one module per engine, named by its conn_type"


@pytest.mark.parametrize("conn_type", sorted(ENGINES))
def test_every_registered_engine_is_documented_in_the_readme(conn_type: str) -> None:
    section = _readme_section()
    assert f"`{conn_type}`" in section, f"README 'Lakehouse engines' does not name the {conn_type!r} engine"
    assert f"engines/{conn_type}.py" in section


def test_every_registered_engine_is_covered_here() -> None:
    """A new engine needs its own behaviour test in this file (named ``test_<conn_type>_engine_…``)."""
    names = [n for n in globals() if n.startswith("test_") and callable(globals()[n])]
    for conn_type in ENGINES:
        assert any(n.startswith(f"test_{conn_type}_engine_") for n in names), f"no test_{conn_type}_engine_* test"


def test_engine_is_chosen_by_connection_type_with_the_supported_ones_named() -> None:
    assert engine_for(Connection(conn_id="lakehouse", conn_type="duckdb", host="x.duckdb")) is ENGINES["duckdb"]
    with pytest.raises(ValueError, match=r"'warehouse' has type 'postgres'.*'duckdb' \(local\) or 'databricks'"):
        engine_for(Connection(conn_id="warehouse", conn_type="postgres", host="db"))
    assert engine_named("databricks") is ENGINES["databricks"]


def _lake(tmp_path: Path) -> Connection:
    return Connection(conn_id="lakehouse", conn_type="duckdb", host=str(tmp_path / "lake.duckdb"))


def test_duckdb_engine_runs_statements_in_one_transaction(tmp_path: Path) -> None:
    conn, engine = _lake(tmp_path), ENGINES["duckdb"]
    engine.run_statements(conn, ["CREATE TABLE t AS SELECT 1 AS a"])
    with pytest.raises(duckdb.Error):
        engine.run_statements(conn, ["INSERT INTO t VALUES (2)", "INSERT INTO missing VALUES (3)"])
    assert engine.query_all(conn, "SELECT a FROM t ORDER BY a") == [(1,)]  # the first insert rolled back


def test_duckdb_engine_publish_guard_holds_back_and_rolls_back(tmp_path: Path) -> None:
    conn, engine = _lake(tmp_path), ENGINES["duckdb"]
    guard = Guard(["CREATE TABLE IF NOT EXISTS v AS SELECT 5 AS n"], "SELECT n FROM v", lambda rows: rows)
    assert engine.publish(conn, ["CREATE TABLE published AS SELECT 1 AS a"], guard) == [(5,)]
    assert engine.query_all(conn, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'published'") == [
        (0,)
    ]
    assert engine.publish(conn, ["CREATE TABLE published AS SELECT 1 AS a"], Guard([], "SELECT 1", lambda _: [])) == []
    assert engine.query_all(conn, "SELECT a FROM published") == [(1,)]


def test_duckdb_engine_dialect_quotes_searches_and_types(tmp_path: Path) -> None:
    conn, engine = _lake(tmp_path), ENGINES["duckdb"]
    text = "it's a \\d"
    col = engine.ident('we"ird')
    engine.run_statements(conn, [f"CREATE TABLE t AS SELECT {engine.literal(text)} AS {col}, 7 AS n"])
    assert engine.query_all(conn, f"SELECT {col}, {engine.literal(2.5)}, {engine.literal(True)} FROM t") == [
        (text, 2.5, True)
    ]
    regex = engine.regex_matches(col, engine.literal("a \\\\d"))  # a search, not a full match
    assert engine.query_all(conn, f"SELECT {regex} FROM t") == [(True,)]
    types = dict(engine.column_types(conn, "SELECT * FROM t"))
    assert {engine.canonical_type(t) for t in types.values()} == {"string", "int"}
    assert engine.replace_table("t", "t2", "n > 0") == ["CREATE OR REPLACE TABLE t2 AS SELECT * FROM t WHERE n > 0"]


class _RecordedWarehouse(DatabricksEngine):
    """The Databricks engine with its two warehouse calls recorded (no warehouse here)."""

    def __init__(self, versions: list[tuple[Any, ...]]):
        self.calls: list[tuple[str, Any]] = []
        self.versions = versions

    def run_statements(self, conn: Any, statements: Any) -> None:
        self.calls.append(("run", list(statements)))

    def query_all(self, conn: Any, sql: str) -> list[tuple[Any, ...]]:
        self.calls.append(("query", sql))
        return self.versions


def test_databricks_engine_publishes_in_order_after_its_guard() -> None:
    guard = Guard(["DDL"], "SELECT versions", lambda rows: [r for r in rows if r[0] > 1])
    held = _RecordedWarehouse([(2,)])
    assert held.publish(None, ["PUBLISH"], guard) == [(2,)]
    assert held.calls == [("run", ["DDL"]), ("query", "SELECT versions")]
    free = _RecordedWarehouse([(1,)])
    assert free.publish(None, ["A", "B"], guard) == []
    assert free.calls == [("run", ["DDL"]), ("query", "SELECT versions"), ("run", ["A", "B"])]


def test_databricks_engine_writes_databricks_sql() -> None:
    engine = ENGINES["databricks"]
    text = "it's a \\d"
    parsed = sqlglot.parse_one(f"SELECT {engine.literal(text)} AS {engine.ident('we`ird')}", read="databricks")
    assert parsed.expressions[0].this.this == text  # the backslash escaped, the quote too
    assert parsed.expressions[0].alias == "we`ird"
    for sql in [  # sqlglot knows neither DEEP CLONE nor DESCRIBE QUERY: those two are compared as text
        *engine.replace_table("staging.t", "silver.t", "NOT bad"),
        f"SELECT * FROM t WHERE {engine.regex_matches('c', engine.literal('^a'))}",
    ]:
        sqlglot.parse_one(sql, read="databricks", error_level=sqlglot.ErrorLevel.RAISE)
    assert engine.replace_table("s.t", "p.t", None) == ["CREATE OR REPLACE TABLE p.t DEEP CLONE s.t"]
    assert engine.describe_sql("SELECT 1") == "DESCRIBE QUERY SELECT 1"
    assert engine.canonical_type("varchar(20)") == "string" and engine.canonical_type("LONG") == "bigint"
    assert re.fullmatch(r"c RLIKE '\^a'", engine.regex_matches("c", engine.literal("^a")))
