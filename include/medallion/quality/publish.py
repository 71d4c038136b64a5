"""Publish audited tables: replace each public table with its staging table in one step.

Write → audit → publish: notebooks write ``staging.<pipeline>__<table>``; only after the gate
passes does ``silver.<table>`` change, so readers never see data that failed its gate, and a
failed run leaves the last good version in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from medallion import paths


def publish_statements(pairs: list[tuple[str, str]], keep: Mapping[str, str] | None = None) -> list[str]:
    """``CREATE OR REPLACE TABLE public AS SELECT * FROM staging [WHERE kept]`` (DuckDB and Databricks SQL).

    ``keep`` maps a public table to the predicate of its rows that were not quarantined.
    """
    keep = keep or {}
    return [
        f"CREATE OR REPLACE TABLE {public} AS SELECT * FROM {staging}"
        + (f" WHERE {keep[public]}" if public in keep else "")
        for staging, public in pairs
    ]


def publish(conn: Any, pairs: list[tuple[str, str]], keep: Mapping[str, str] | None = None) -> None:
    """Run the swap on the ``lakehouse`` connection: a DuckDB transaction or a Databricks warehouse."""
    run_statements(conn, publish_statements(pairs, keep))


def run_statements(conn: Any, statements: list[str]) -> None:
    """Statements on the lakehouse: one DuckDB transaction, or in order on a Databricks warehouse.

    On Databricks each Delta statement is atomic for readers; callers order them so a retry is safe.
    """
    if not statements:
        return
    if conn.conn_type == "duckdb":
        from medallion import duck

        con = duck.connect(paths.resolve(conn.host))
        try:
            con.execute("BEGIN TRANSACTION")
            for sql in statements:
                con.execute(sql)
            con.execute("COMMIT")  # all tables of the layer change together
        except Exception:
            con.execute("ROLLBACK")
            raise
        finally:
            con.close()
    elif conn.conn_type == "databricks":
        from airflow.providers.databricks.hooks.databricks_sql import DatabricksSqlHook

        DatabricksSqlHook(databricks_conn_id=conn.conn_id).run(statements)
    else:
        raise ValueError(f"cannot write to a {conn.conn_type!r} lakehouse connection (duckdb or databricks)")


def query_one(conn: Any, sql: str) -> tuple[Any, ...]:
    """The single row of an aggregate query on the lakehouse connection."""
    if conn.conn_type == "duckdb":
        from medallion import duck

        con = duck.connect(paths.resolve(conn.host), read_only=False)
        try:
            return tuple(con.execute(sql).fetchone() or ())
        finally:
            con.close()
    if conn.conn_type == "databricks":
        from airflow.providers.common.sql.hooks.handlers import fetch_one_handler
        from airflow.providers.databricks.hooks.databricks_sql import DatabricksSqlHook

        return tuple(DatabricksSqlHook(databricks_conn_id=conn.conn_id).run(sql, handler=fetch_one_handler) or ())
    raise ValueError(f"cannot query a {conn.conn_type!r} lakehouse connection (duckdb or databricks)")
