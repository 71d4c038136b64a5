"""Publish audited tables: replace each public table with its staging table in one step.

Write → audit → publish: notebooks write ``staging.<pipeline>__<table>``; only after the gate
passes does ``silver.<table>`` change, so readers never see data that failed its gate, and a
failed run leaves the last good version in place.
"""

from __future__ import annotations

from typing import Any

from medallion import paths


def publish_statements(pairs: list[tuple[str, str]]) -> list[str]:
    """``CREATE OR REPLACE TABLE public AS SELECT * FROM staging`` (DuckDB and Databricks SQL)."""
    return [f"CREATE OR REPLACE TABLE {public} AS SELECT * FROM {staging}" for staging, public in pairs]


def publish(conn: Any, pairs: list[tuple[str, str]]) -> None:
    """Run the swap on the ``lakehouse`` connection: a DuckDB transaction or a Databricks warehouse."""
    statements = publish_statements(pairs)
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

        # each CREATE OR REPLACE on Delta is atomic for readers; tables are swapped one by one
        DatabricksSqlHook(databricks_conn_id=conn.conn_id).run(statements)
    else:
        raise ValueError(f"cannot publish on a {conn.conn_type!r} lakehouse connection")
