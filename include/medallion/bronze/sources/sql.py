"""Source kind `sql`: a query on any Airflow SQL connection (spec model: spec/sources/sql.py).

The rows stream through DB-API cursors (``sql_extract``) or, for PostgreSQL, DuckDB's postgres
scanner (``pg_extract``); incremental sources filter on their watermark column.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medallion.bronze import steps
from medallion.bronze.operator import QUERY_HINT, LandSourceOperator
from medallion.bronze.sources.kind import SourceKind, connection_origin
from medallion.errors import run_step
from medallion.spec.sources.sql import SqlSource


class LandSqlSourceOperator(LandSourceOperator):
    """``query`` on any Airflow SQL connection, streamed in batches; optionally incremental."""

    template_fields: Sequence[str] = ("query", "partition_key")
    kind = "sql"

    def __init__(
        self,
        *,
        query: str,
        incremental_column: str | None = None,
        incremental_initial: Any = "1970-01-01",
        engine: str = "auto",
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.query = query
        self.incremental_column, self.incremental_initial = incremental_column, incremental_initial
        self.engine = engine  # auto: native Arrow engine when the connection type has one; dbapi: cursors

    def extract(self, path: Path, context: Any, before: dict | None) -> tuple[Any, dict[str, Any], dict[str, Any]]:
        from airflow.sdk import BaseHook

        from medallion.bronze import pg_extract
        from medallion.bronze.sql_extract import incremental_query

        query, watermark = self.query, {}
        if self.incremental_column:
            reset = bool((context.get("params") or {}).get("reset_watermark"))
            last = None if reset else ((before or {}).get("watermark") or {}).get("high")
            low = self.incremental_initial if last is None else last
            query = incremental_query(self.query, self.incremental_column, low)
            watermark = {"column": self.incremental_column, "low": low, "reset": reset}
            self.log.info(
                "incremental extract of %s: %s > %r%s",
                self.target,
                self.incremental_column,
                low,
                " (watermark reset)" if reset else "",
            )
        connection = self._connect(self.target, lambda: BaseHook.get_connection(self.conn_id))
        native = self.engine == "auto" and pg_extract.supports(connection)
        result = (self._extract_native if native else self._extract_dbapi)(connection, query, path)
        if watermark:
            watermark["high"] = _json_value(result.max_value) if result.max_value is not None else watermark["low"]
        return result, {"query": query, "engine": pg_extract.ENGINE if native else "dbapi"}, watermark

    @property
    def _write_options(self) -> dict[str, Any]:
        return {"batch_rows": self.batch_rows, "compression": self.compression, "track_max": self.incremental_column}

    def _extract_dbapi(self, connection: Any, query: str, path: Path) -> Any:
        """Any DB-API connection of the connection's own hook, streamed through a cursor."""
        from medallion.bronze.sql_extract import stream_query_to_parquet

        conn = self._connect(self.target, lambda: connection.get_hook().get_conn())
        try:
            return run_step(
                "extract",
                self.target,
                QUERY_HINT,
                lambda: stream_query_to_parquet(conn, query, path, **self._write_options),
                kind=steps.SOURCE_QUERY,
            )
        finally:
            conn.close()

    def _extract_native(self, connection: Any, query: str, path: Path) -> Any:
        """PostgreSQL through DuckDB's postgres scanner (see ``pg_extract`` for why): the hook's
        connection checks credentials and describes the result columns, DuckDB copies the rows."""
        from medallion.bronze import pg_extract

        self.log.info("extracting %s with DuckDB's postgres scanner", self.target)
        conn = self._connect(self.target, lambda: connection.get_hook().get_conn())
        try:
            columns = run_step(
                "extract", self.target, QUERY_HINT, lambda: pg_extract.describe(conn, query), kind=steps.SOURCE_QUERY
            )
        finally:
            conn.close()
        duck = self._connect(self.target, lambda: pg_extract.open_duckdb(connection))
        try:
            return run_step(
                "extract",
                self.target,
                QUERY_HINT,
                lambda: pg_extract.copy_query_to_parquet(
                    duck, pg_extract.typed_query(query, columns), path, **self._write_options
                ),
                kind=steps.SOURCE_QUERY,
            )
        finally:
            duck.close()


def options(src: SqlSource) -> dict[str, Any]:
    """The operator's arguments of this kind, from the spec."""
    return {
        "query": src.query,
        "batch_rows": src.batch_rows,
        "incremental_column": src.incremental.column if src.incremental else None,
        "incremental_initial": src.incremental.initial if src.incremental else "1970-01-01",
        "engine": src.engine,
    }


KIND = SourceKind(model=SqlSource, operator=LandSqlSourceOperator, options=options, origin=connection_origin)


def _json_value(value: Any) -> Any:
    """Watermarks are stored in JSON manifests: keep numbers, ISO-format dates, stringify the rest."""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    return str(value)
