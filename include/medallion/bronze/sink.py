"""The one parquet sink every extractor writes through: batches in, one local parquet file out.

The sink fixes the schema from the first batch (declared column types win; a column that is
null throughout the first batch becomes a string), conforms every later batch to it, writes row
groups of about ``batch_rows`` rows, counts rows and, for incremental sources, tracks the highest
value of the watermark column. Writes fail as the ``write file`` step (``steps.writing``). The
commit protocol (``landing.commit_partition``) then uploads the file under an attempt-unique name
and counts its bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from medallion.bronze.steps import LocalParquet, writing


@dataclass(frozen=True)
class ExtractResult:
    path: Path
    rows: int
    schema: pa.Schema
    max_value: Any = None  # of ``track_max`` (the incremental watermark column)


class ParquetSink:
    """One parquet file fed batch by batch (see the module docstring)."""

    def __init__(
        self,
        target: Path,
        *,
        columns: dict[str, pa.DataType] | None = None,
        batch_rows: int = 100_000,
        compression: str = "zstd",
        track_max: str | None = None,
        empty_schema: pa.Schema | None = None,
    ):
        self.target, self.columns = target, dict(columns or {})
        self.batch_rows, self.compression, self.track_max = batch_rows, compression, track_max
        self.schema: pa.Schema | None = None
        self.empty_schema = empty_schema  # of the file written when no row came (default: `columns`)
        self.rows = 0
        self.max_value: Any = None
        self._writer: LocalParquet | None = None
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        if isinstance(batch, pa.Table):
            for part in batch.to_batches():
                self.write(part)
            return
        if not batch.num_rows:
            return
        if self.schema is None:
            self.schema = self._first_schema(batch.schema)
            self._writer = LocalParquet(self.target, self.schema, compression=self.compression)
        batch = conform(batch, self.schema)
        if self.track_max is not None:
            high = pc.max(batch.column(self.track_max)).as_py()
            if high is not None and (self.max_value is None or high > self.max_value):
                self.max_value = high
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        self.rows += batch.num_rows
        if self._pending_rows >= self.batch_rows:
            self._flush()

    def _first_schema(self, schema: pa.Schema) -> pa.Schema:
        """Declared types win; a column that is null throughout the first batch becomes a string."""
        fields = []
        for f in schema:
            declared = self.columns.get(f.name)
            fields.append(f.with_type(declared or (pa.string() if pa.types.is_null(f.type) else f.type)))
        return pa.schema(fields)

    def _flush(self) -> None:
        if self._pending and self._writer is not None:
            self._writer.write(pa.Table.from_batches(self._pending), row_group_size=self.batch_rows)
        self._pending, self._pending_rows = [], 0

    def __enter__(self) -> ParquetSink:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """A failure while filling the sink releases the file (``close()`` is the caller's, on success)."""
        if exc_type is not None:
            self.discard()

    def discard(self) -> None:
        """Release the file after a failed read (the caller's temporary folder removes it)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def close(self) -> ExtractResult:
        """Finish the file; with no rows at all it still is a valid parquet file of the empty schema."""
        try:
            self._flush()
        finally:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        if self.schema is None:
            self.schema = self.empty_schema if self.empty_schema is not None else pa.schema(self.columns.items())
            with writing(self.target):
                pq.write_table(self.schema.empty_table(), self.target, compression=self.compression)
        return ExtractResult(self.target, self.rows, self.schema, self.max_value)


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with ``schema``'s columns, order and types; a missing column is null, an unknown one an error."""
    if batch.schema.equals(schema):
        return batch
    extra = [n for n in batch.schema.names if n not in schema.names]
    if extra:
        raise ValueError(
            f"columns {extra} are not in the schema fixed by the first file {schema.names}: "
            "files of one source must share their columns"
        )
    arrays = []
    for f in schema:
        if f.name not in batch.schema.names:
            arrays.append(pa.nulls(batch.num_rows, f.type))
            continue
        column = batch.column(f.name)
        arrays.append(column if column.type == f.type else column.cast(f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
