"""Read CSV / JSON lines / parquet files from S3, SFTP or a local folder into one parquet file.

Files are read one at a time and batch by batch with Arrow's streaming readers, so memory stays
bounded by one batch whatever the number or size of the files. Remote files are first copied to
a local temporary file (parquet needs random access; a local copy also lets Arrow decompress by
extension), and that copy is deleted before the next file: disk use is bounded by one file.
The first batch fixes the schema (declared ``columns`` types win over inference); every later
batch is conformed to it, so files that disagree fail with the file's name instead of landing a
mixed partition.
"""

from __future__ import annotations

import datetime as dt
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from medallion import paths
from medallion.bronze.sql_extract import ExtractResult
from medallion.bronze.steps import LocalParquet, writing

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
class SourceFile:
    """One input file: ``uri`` for people and manifests, ``key`` for the store that opens it."""

    uri: str
    key: str
    bytes: int
    etag: str = ""  # S3 ETag; SFTP/local files have none
    modified: str = ""

    def record(self, rows: int) -> dict[str, Any]:
        return {**asdict(self), "rows": rows}


@cache
def _glob_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        else:
            out.append({"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i])))
            i += 1
    return re.compile("".join(out))


def glob_match(pattern: str, relative: str) -> bool:
    """``*`` and ``?`` stay within one folder, ``**/`` crosses folders (like shell globstar)."""
    return _glob_regex(pattern).fullmatch(relative) is not None


def _iso(timestamp: float | None) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="seconds") if timestamp else ""


class FileStore(Protocol):
    def list(self, path: str, pattern: str) -> list[SourceFile]: ...
    def fetch(self, file: SourceFile, folder: Path) -> Path: ...
    def close(self) -> None: ...


class LocalStore:
    """Files on this machine (or a mounted share): read in place."""

    def list(self, path: str, pattern: str) -> list[SourceFile]:
        root = paths.local_source(path)  # inside MEDALLION_FILE_ROOTS, or PermissionError before any read
        if root.is_file():
            return [self._file(root)]
        if not root.is_dir():
            return []
        walk = root.rglob("*") if "/" in pattern else root.glob("*")
        return sorted(
            (self._file(p) for p in walk if p.is_file() and glob_match(pattern, p.relative_to(root).as_posix())),
            key=lambda f: f.key,
        )

    @staticmethod
    def _file(p: Path) -> SourceFile:
        st = p.stat()
        return SourceFile(uri=str(p), key=str(p), bytes=st.st_size, modified=_iso(st.st_mtime))

    def fetch(self, file: SourceFile, folder: Path) -> Path:
        return Path(file.key)

    def close(self) -> None:
        pass


class S3Store:
    """An S3 prefix through the amazon provider's ``S3Hook`` (credentials from the aws connection)."""

    def __init__(self, conn_id: str):
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        self.client = S3Hook(aws_conn_id=conn_id).get_conn()

    def list(self, path: str, pattern: str) -> list[SourceFile]:
        bucket, _, key = path.removeprefix("s3://").partition("/")
        prefix = key if not key or key.endswith("/") else key + "/"
        options = {"Bucket": bucket, "Prefix": prefix} | ({} if "/" in pattern else {"Delimiter": "/"})
        files = []
        for page in self.client.get_paginator("list_objects_v2").paginate(**options):
            for obj in page.get("Contents", []):
                relative = obj["Key"][len(prefix) :]
                if relative and glob_match(pattern, relative):
                    files.append(self._file(bucket, obj))
        if not files and key and not key.endswith("/"):  # the path may name one object
            listed = self.client.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
            files = [self._file(bucket, o) for o in listed if o["Key"] == key]
        return files

    @staticmethod
    def _file(bucket: str, obj: dict[str, Any]) -> SourceFile:
        return SourceFile(
            uri=f"s3://{bucket}/{obj['Key']}",
            key=obj["Key"],
            bytes=int(obj["Size"]),
            etag=str(obj.get("ETag", "")).strip('"'),
            modified=obj["LastModified"].isoformat(timespec="seconds") if obj.get("LastModified") else "",
        )

    def fetch(self, file: SourceFile, folder: Path) -> Path:
        bucket = file.uri.removeprefix("s3://").split("/", 1)[0]
        local = folder / PurePosixPath(file.key).name
        self.client.download_file(bucket, file.key, str(local))
        return local

    def close(self) -> None:
        pass


class SftpStore:
    """A folder on an SFTP server through the sftp provider's ``SFTPHook`` (one SSH session)."""

    def __init__(self, conn_id: str):
        from airflow.providers.sftp.hooks.sftp import SFTPHook

        hook = SFTPHook(ssh_conn_id=conn_id)
        self._session = hook.get_managed_conn()  # closes the SFTP channel and the SSH client
        self.sftp = self._session.__enter__()
        self.host = hook.remote_host

    def list(self, path: str, pattern: str) -> list[SourceFile]:
        try:
            attrs = self.sftp.stat(path)
        except FileNotFoundError:
            return []
        if stat.S_ISREG(attrs.st_mode or 0):
            return [self._file(path, attrs)]
        files: list[SourceFile] = []
        self._walk(path.rstrip("/") or "/", "", pattern, "/" in pattern, files)
        return sorted(files, key=lambda f: f.key)

    def _walk(self, root: str, relative: str, pattern: str, recurse: bool, out: list[SourceFile]) -> None:
        folder = f"{root}/{relative}" if relative else root
        for entry in self.sftp.listdir_attr(folder):
            rel = f"{relative}/{entry.filename}" if relative else entry.filename
            if stat.S_ISDIR(entry.st_mode or 0) and recurse:
                self._walk(root, rel, pattern, recurse, out)
            elif stat.S_ISREG(entry.st_mode or 0) and glob_match(pattern, rel):
                out.append(self._file(f"{root.rstrip('/')}/{rel}", entry))

    def _file(self, path: str, attrs: Any) -> SourceFile:
        return SourceFile(
            uri=f"sftp://{self.host}{path}", key=path, bytes=int(attrs.st_size or 0), modified=_iso(attrs.st_mtime)
        )

    def fetch(self, file: SourceFile, folder: Path) -> Path:
        local = folder / PurePosixPath(file.key).name
        self.sftp.get(file.key, str(local))
        return local

    def close(self) -> None:
        self._session.__exit__(None, None, None)


def open_store(storage: str, conn_id: str | None) -> FileStore:
    """The store for a spec's ``storage`` (opening it checks the connection and credentials)."""
    if storage == "s3":
        return S3Store(str(conn_id))
    if storage == "sftp":
        return SftpStore(str(conn_id))
    return LocalStore()


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


class ParquetSink:
    """One parquet file fed batch by batch: fixes the schema from the first batch, conforms the
    rest to it, and writes row groups of about ``batch_rows`` rows."""

    def __init__(
        self,
        target: Path,
        *,
        columns: dict[str, pa.DataType],
        batch_rows: int = 100_000,
        compression: str = "zstd",
    ):
        self.target, self.columns, self.batch_rows, self.compression = target, columns, batch_rows, compression
        self.schema: pa.Schema | None = None
        self.rows = 0
        self._writer: LocalParquet | None = None
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        if self.schema is None:
            self.schema = self._first_schema(batch.schema)
            self._writer = LocalParquet(self.target, self.schema, compression=self.compression)
        self._pending.append(conform(batch, self.schema))
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

    def discard(self) -> None:
        """Release the file after a failed read (the caller's temporary folder removes it)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def close(self) -> ExtractResult:
        """Finish the file; with no rows at all it still is a valid parquet file of the declared columns."""
        try:
            self._flush()
        finally:
            if self._writer is not None:
                self._writer.close()
        if self.schema is None:
            self.schema = pa.schema(self.columns.items())
            with writing(self.target):
                pq.write_table(self.schema.empty_table(), self.target, compression=self.compression)
        return ExtractResult(self.target, self.rows, self.schema)


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with ``schema``'s columns, order and types; a missing column is null, an unknown one an error."""
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


StepRunner = Callable[[str, str, Callable[[], Any]], Any]


def extract_files(
    store: FileStore,
    files: list[SourceFile],
    sink: ParquetSink,
    options: ReadOptions,
    scratch: Path,
    step: StepRunner,
) -> list[dict[str, Any]]:
    """Copy (if remote) and read every file into ``sink``, one at a time; ``step(name, uri, fn)``
    runs each download/read so a failure names the file. Returns what the manifest records."""
    scratch.mkdir(parents=True, exist_ok=True)
    records = []
    for file in files:
        local = step("download", file.uri, lambda file=file: store.fetch(file, scratch))
        before = sink.rows

        def read(local: Path = local) -> None:
            for batch in read_batches(local, options, sink.schema):
                sink.write(batch)

        try:
            step("read", file.uri, read)
        finally:
            if local.parent == scratch:
                local.unlink(missing_ok=True)
        records.append(file.record(sink.rows - before))
    return records
