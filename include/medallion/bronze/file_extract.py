"""Read CSV / JSON lines / parquet files from S3, SFTP or a local folder into one parquet file.

Files are read one at a time and batch by batch with Arrow's streaming readers, so memory stays
bounded by one batch whatever the number or size of the files. Remote files are first copied to
a local temporary file (parquet needs random access; a local copy also lets Arrow decompress by
extension), and that copy is deleted before the next file: disk use is bounded by one file.
The first batch fixes the schema (declared ``columns`` types win over inference); every later
batch is conformed to it, so files that disagree fail with the file's name instead of landing a
mixed partition.

The seams: ``file_stores`` (where files live), ``file_readers`` (parsing one file) and ``sink``
(the parquet file every extractor shares); this module drives them file by file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from medallion.bronze.file_readers import ReadOptions, arrow_type, read_batches
from medallion.bronze.file_stores import FileStore, LocalStore, SourceFile, glob_match, open_store
from medallion.bronze.sink import ParquetSink, conform

__all__ = [
    "FileStore",
    "LocalStore",
    "ParquetSink",
    "ReadOptions",
    "SourceFile",
    "arrow_type",
    "conform",
    "extract_files",
    "glob_match",
    "open_store",
]

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
