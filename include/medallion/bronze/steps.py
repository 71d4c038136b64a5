"""The steps of landing a source, and the failure class each one carries.

A failure is blamed on the step that failed, never on what its message resembles: S3 refusing
an upload is the lake's problem even when boto says "connection refused", and a full disk on the
worker is not the source's. Every step runs under ``errors.step_errors`` with one of these kinds
(``StepError.kind``); the kinds are names in ``alerts/hints.yaml``: a class, or a family whose
classes are told apart by the message (``source``: credentials or reachability). Bronze only
names them: it never imports ``alerts``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from medallion.errors import FailureKind, step_errors

if TYPE_CHECKING:
    import pyarrow as pa

SOURCE = FailureKind.SOURCE  # opening the source: its connection, credentials, network
SOURCE_QUERY = FailureKind.SOURCE_QUERY  # reading rows from the source (a query, an API page)
SOURCE_FILES = FailureKind.SOURCE_FILES_UNREACHABLE  # listing or copying a file source's files
SOURCE_FILE = FailureKind.SOURCE_FILE_UNREADABLE  # parsing one of those files
LOCAL_FILE = FailureKind.BRONZE_WRITE_FAILED  # writing the extract on the worker (temporary parquet file)
LAKE = FailureKind.LAKE  # any call on the lake bucket: previous manifest, upload, commit, clean-up

KINDS = (SOURCE, SOURCE_QUERY, SOURCE_FILES, SOURCE_FILE, LOCAL_FILE, LAKE)

WRITE_HINT = (
    "the source was read, but the worker could not write the extract to its temporary folder: "
    "check free space and TMPDIR on the worker, then clear the task"
)


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Writes to the extract's local file, as the ``write file`` step."""
    with step_errors("write file", f"local file {path}", WRITE_HINT, kind=LOCAL_FILE):
        yield


def scratch_folder() -> tempfile.TemporaryDirectory[str]:
    """The task's temporary folder (TMPDIR missing or read-only fails as ``write file`` too)."""
    with step_errors("write file", f"temporary folder under {tempfile.gettempdir()}", WRITE_HINT, kind=LOCAL_FILE):
        return tempfile.TemporaryDirectory(prefix="medallion-bronze-")


def lake_target(bucket: str, key: str, conn_id: str) -> str:
    """How S3 steps name where they failed: the lake location and its connection, never the source."""
    return f"lake s3://{bucket}/{key} (connection {conn_id!r})"


class LocalParquet:
    """The extract's local parquet file: opening, writing and closing it are the ``write file`` step."""

    def __init__(self, path: Path, schema: pa.Schema, *, compression: str = "zstd"):
        import pyarrow.parquet as pq

        self.path = path
        with writing(path):
            self._writer = pq.ParquetWriter(path, schema, compression=compression)

    def write(self, data: pa.RecordBatch | pa.Table, row_group_size: int | None = None) -> None:
        with writing(self.path):
            self._writer.write(data, row_group_size=row_group_size)

    def close(self) -> None:
        with writing(self.path):
            self._writer.close()
