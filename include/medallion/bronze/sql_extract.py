"""Stream a query's rows from any DB-API connection into a parquet file, batch by batch.

Memory stays bounded by one batch whatever the table size: rows are fetched with
``fetchmany`` and written as Arrow record batches.
"""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from medallion.bronze.sink import ExtractResult, ParquetSink

_PY_TO_ARROW: list[tuple[type, pa.DataType]] = [
    (bool, pa.bool_()),
    (int, pa.int64()),
    (float, pa.float64()),
    (decimal.Decimal, pa.decimal128(38, 10)),
    (dt.datetime, pa.timestamp("us")),
    (dt.date, pa.date32()),
    (bytes, pa.binary()),
]


def infer_schema(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> pa.Schema:
    """Arrow schema from the first batch: first non-null value per column; unknown → string."""
    fields = []
    for i, name in enumerate(columns):
        sample = next((r[i] for r in rows if r[i] is not None), None)
        arrow_type = next((t for py, t in _PY_TO_ARROW if isinstance(sample, py)), pa.string())
        fields.append(pa.field(name, arrow_type))
    return pa.schema(fields)


def _to_batch(rows: Sequence[Sequence[Any]], schema: pa.Schema) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in schema]
    arrays = []
    for values, f in zip(columns, schema, strict=True):
        if pa.types.is_string(f.type):
            values = [None if v is None else str(v) for v in values]
        arrays.append(pa.array(values, type=f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def streaming_cursor(conn: Any) -> Any:
    """A cursor that streams from the server when the driver can (psycopg2 named cursors);
    a client-side cursor would load the whole result into memory first."""
    if type(conn).__module__.startswith("psycopg2"):
        return conn.cursor(name="medallion_extract")
    mysql = mysql_streaming_cursor(conn)
    return mysql if mysql is not None else conn.cursor()


def mysql_streaming_cursor(conn: Any) -> Any | None:
    """An unbuffered cursor for the MySQL drivers the mysql provider uses (None for other drivers):
    rows then come from the server as they are fetched. mysqlclient's default cursor reads the
    whole result first; mysql-connector-python's is unbuffered unless the connection was opened
    with ``buffered=True``, so ask for it explicitly."""
    module = type(conn).__module__
    if module.startswith("mysql.connector"):
        return conn.cursor(buffered=False)
    if module.startswith("MySQLdb"):
        import MySQLdb.cursors

        return conn.cursor(MySQLdb.cursors.SSCursor)
    return None


def fetch_batches(cursor: Any, batch_rows: int) -> Iterator[list[Sequence[Any]]]:
    while True:
        rows = cursor.fetchmany(batch_rows)
        if not rows:
            return
        yield rows


def stream_query_to_parquet(
    conn: Any,
    query: str,
    target: Path,
    *,
    batch_rows: int = 100_000,
    compression: str = "zstd",
    track_max: str | None = None,
) -> ExtractResult:
    """Run ``query`` on a DB-API connection and write every row to ``target`` (writes fail as their own step)."""
    cursor = streaming_cursor(conn)
    try:
        cursor.execute(query)
        batches = fetch_batches(cursor, batch_rows)
        first = next(batches, None)  # server-side cursors describe their columns only after a fetch
        columns = [d[0] for d in cursor.description or []]
        if track_max is not None and track_max not in columns:
            raise ValueError(f"watermark column {track_max!r} is not in the query's columns {columns}")
        empty = pa.schema([pa.field(c, pa.string()) for c in columns])  # no rows: still a valid, typed file
        with ParquetSink(
            target, batch_rows=batch_rows, compression=compression, track_max=track_max, empty_schema=empty
        ) as sink:
            for rows in itertools.chain([first] if first else [], batches):
                sink.write(_to_batch(rows, sink.schema or infer_schema(columns, rows)))
            return sink.close()
    finally:
        cursor.close()


def sql_literal(value: Any) -> str:
    """A value as a SQL literal (numbers bare, everything else quoted) for watermark filters."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float | decimal.Decimal):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def incremental_query(query: str, column: str, low: Any) -> str:
    """Rows of ``query`` strictly newer than the watermark ``low``."""
    return f"SELECT * FROM ({query}) medallion_src WHERE {column} > {sql_literal(low)}"
