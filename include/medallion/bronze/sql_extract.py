"""Stream a query's rows from any DB-API connection into a parquet file, batch by batch.

Memory stays bounded by one batch whatever the table size: rows are fetched with
``fetchmany`` and written as Arrow record batches.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

_PY_TO_ARROW: list[tuple[type, pa.DataType]] = [
    (bool, pa.bool_()),
    (int, pa.int64()),
    (float, pa.float64()),
    (decimal.Decimal, pa.decimal128(38, 10)),
    (dt.datetime, pa.timestamp("us")),
    (dt.date, pa.date32()),
    (bytes, pa.binary()),
]


@dataclass(frozen=True)
class ExtractResult:
    path: Path
    rows: int
    schema: pa.Schema


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


def fetch_batches(cursor: Any, batch_rows: int) -> Iterator[list[Sequence[Any]]]:
    while True:
        rows = cursor.fetchmany(batch_rows)
        if not rows:
            return
        yield rows


def stream_query_to_parquet(
    conn: Any, query: str, target: Path, *, batch_rows: int = 100_000, compression: str = "zstd"
) -> ExtractResult:
    """Run ``query`` on a DB-API connection and write every row to ``target``."""
    cursor = conn.cursor()
    try:
        cursor.execute(query)
        columns = [d[0] for d in cursor.description or []]
        writer: pq.ParquetWriter | None = None
        schema: pa.Schema | None = None
        total = 0
        try:
            for rows in fetch_batches(cursor, batch_rows):
                if schema is None:
                    schema = infer_schema(columns, rows)
                    writer = pq.ParquetWriter(target, schema, compression=compression)
                assert writer is not None
                writer.write_batch(_to_batch(rows, schema))
                total += len(rows)
            if schema is None:  # empty result: still a valid, typed (all-string) file
                schema = pa.schema([pa.field(c, pa.string()) for c in columns])
                writer = pq.ParquetWriter(target, schema, compression=compression)
        finally:
            if writer is not None:
                writer.close()
        return ExtractResult(target, total, schema)
    finally:
        cursor.close()
