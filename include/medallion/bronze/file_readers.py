"""Parse one local CSV / JSON lines / parquet file into Arrow record batches, batch by batch.

Arrow's streaming readers keep memory bounded by one block whatever the file size; compressed
files (.gz, .bz2, .zst, .lz4) are decompressed by extension. Spec column types (``columns``) are
mapped to Arrow types here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

_SQL_TYPES: dict[str, pa.DataType] = {
    "boolean": pa.bool_(),
    "tinyint": pa.int8(),
    "smallint": pa.int16(),
    "int": pa.int32(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "real": pa.float32(),
    "varchar": pa.string(),
    "text": pa.string(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
}


def arrow_type(name: str) -> pa.DataType:
    """An Arrow type from a spec type name (``int64``, ``bigint``, ``decimal(12,2)``, ``timestamp[ms]``…)."""
    name = name.strip().lower()
    if name in _SQL_TYPES:
        return _SQL_TYPES[name]
    if m := re.fullmatch(r"(?:decimal|numeric)\((\d+), ?(\d+)\)", name):
        precision, scale = int(m[1]), int(m[2])
        return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
    if m := re.fullmatch(r"timestamp\[(s|ms|us|ns)(?:, ?tz=(.+))?\]", name):
        return pa.timestamp(m[1], tz=m[2])
    return pa.type_for_alias(name)


@dataclass(frozen=True)
class ReadOptions:
    """How files of one source are parsed (from the spec's ``format``, ``csv`` and ``columns``)."""

    format: str
    columns: dict[str, pa.DataType]
    csv: dict[str, Any]
    block_bytes: int = 1 << 20  # Arrow reads ~40 blocks ahead: memory ∝ block size, never file size


def read_batches(path: Path, options: ReadOptions, schema: pa.Schema | None) -> Iterator[pa.RecordBatch]:
    """Record batches of one local file; ``schema`` (fixed by earlier files) guides parsing."""
    if options.format == "parquet":
        with pq.ParquetFile(path) as parquet:
            yield from parquet.iter_batches(batch_size=65_536)
        return
    known = {f.name: f.type for f in schema} if schema is not None else {}
    types = known | options.columns
    stream = pa.input_stream(str(path), compression="detect")
    try:
        if options.format == "csv":
            yield from _csv_reader(stream, options, types)
        else:
            import pyarrow.json as pajson

            parse = pajson.ParseOptions(
                explicit_schema=pa.schema(types.items()) if types else None, unexpected_field_behavior="infer"
            )
            yield from pajson.open_json(
                stream, read_options=pajson.ReadOptions(block_size=options.block_bytes), parse_options=parse
            )
    finally:
        stream.close()


def _csv_reader(stream: Any, options: ReadOptions, types: dict[str, pa.DataType]) -> Any:
    import pyarrow.csv as pacsv

    csv = options.csv
    header = csv.get("header", True)
    names = None if header or not options.columns else list(options.columns)
    read = pacsv.ReadOptions(
        block_size=options.block_bytes,
        skip_rows=csv.get("skip_rows", 0),
        column_names=names,
        autogenerate_column_names=not header and names is None,
        encoding=csv.get("encoding", "utf8"),
    )
    quote, escape = csv.get("quote_char", '"'), csv.get("escape_char", "")
    parse = pacsv.ParseOptions(
        delimiter=csv.get("delimiter", ","), quote_char=quote or False, escape_char=escape or False
    )
    convert = pacsv.ConvertOptions(column_types=types, strings_can_be_null=True)
    if csv.get("null_values") is not None:
        convert.null_values = csv["null_values"]
    return pacsv.open_csv(stream, read_options=read, parse_options=parse, convert_options=convert)
