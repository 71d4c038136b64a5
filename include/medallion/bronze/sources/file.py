"""Source kind `file`: CSV / JSON lines / parquet files (spec model: spec/sources/file.py).

Stores (``file_stores``), readers (``file_readers``) and the shared sink are driven by ``file_extract``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medallion.bronze import steps
from medallion.bronze.operator import LandSourceOperator
from medallion.bronze.sources.kind import SourceKind
from medallion.errors import run_step
from medallion.spec.sources.file import FileSource


class LandFileSourceOperator(LandSourceOperator):
    """CSV / JSON lines / parquet files of an S3 prefix, an SFTP folder or a local folder, file by file."""

    template_fields: Sequence[str] = ("path", "pattern", "partition_key")
    kind = "file"

    def __init__(
        self,
        *,
        storage: str,
        path: str,
        format: str,
        pattern: str = "*",
        csv: dict[str, Any] | None = None,
        columns: dict[str, str] | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.storage, self.path, self.pattern, self.format = storage, path, pattern, format
        self.csv, self.columns = csv or {}, columns or {}

    @property
    def target(self) -> str:
        where = f"connection {self.conn_id!r}" if self.conn_id else "local files"
        return f"source {self.source_name!r} ({where})"

    def extract(self, path: Path, context: Any, before: dict | None) -> tuple[Any, dict[str, Any], dict[str, Any]]:
        from medallion.bronze import file_extract as fx

        store = self._connect(self.target, lambda: fx.open_store(self.storage, self.conn_id))
        try:
            files = run_step(
                "list files",
                f"{self.target} {self.path} ({self.pattern})",
                "check `path` and `pattern` in the spec, the server is reachable and the connection may list it",
                lambda: store.list(self.path, self.pattern),
                kind=steps.SOURCE_FILES,
            )
            if files:
                size = sum(f.bytes for f in files)
                self.log.info("%d files (%s bytes) match %r under %s", len(files), size, self.pattern, self.path)
            else:
                self.log.warning("no file matches %r under %s", self.pattern, self.path)
            declared = {name: fx.arrow_type(t) for name, t in self.columns.items()}
            hints = {
                "download": "check the file is readable with the connection's credentials, then clear the task",
                "read": f"check the file is valid {self.format} (CSV: delimiter, header, quote options); "
                "declare a column under `columns` when Arrow guesses its type wrong",
            }
            kinds = {"download": steps.SOURCE_FILES, "read": steps.SOURCE_FILE}
            with fx.ParquetSink(
                path, columns=declared, batch_rows=self.batch_rows, compression=self.compression
            ) as sink:
                records = fx.extract_files(
                    store,
                    files,
                    sink,
                    fx.ReadOptions(self.format, declared, dict(self.csv)),
                    path.parent / "inputs",
                    lambda step, uri, fn: run_step(step, f"{self.target} {uri}", hints[step], fn, kind=kinds[step]),
                )
                result = sink.close()
        finally:
            store.close()
        source = {"storage": self.storage, "path": self.path, "pattern": self.pattern, "format": self.format}
        return result, {**source, "source_files": records}, {}


def options(src: FileSource) -> dict[str, Any]:
    """The operator's arguments of this kind, from the spec."""
    return {
        "storage": src.storage,
        "path": src.path,
        "pattern": src.pattern,
        "format": src.format,
        "csv": src.csv.model_dump() if src.csv else None,
        "columns": dict(src.columns),
        "batch_rows": src.batch_rows,
    }


def origin(src: FileSource) -> str:
    """Where the rows come from, as the DAG docs tell an operator."""
    where = f" on connection `{src.conn_id}`" if src.conn_id else ""
    return f"{src.format} files `{src.pattern}` in {src.storage} `{src.path}`{where}"


KIND = SourceKind(model=FileSource, operator=LandFileSourceOperator, options=options, origin=origin)
