"""Airflow operators that land one source (SQL query, HTTP API) as a committed bronze partition."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

from medallion import connections
from medallion.bronze import steps
from medallion.errors import StepError, run_step
from medallion.failures import RetryByClass
from medallion.links import PARTITION_URL_KEY, BronzePartitionLink, browser_url, endpoint_of

QUERY_HINT = "check the query in the spec and run it by hand on the source"


class LandSourceOperator(RetryByClass, BaseOperator):
    """Land one source as a committed bronze partition (parquet + manifest); subclasses extract.

    Failures of a class that is not retried (``hints.yaml``) fail without retry.
    """

    template_fields: Sequence[str] = ("partition_key",)
    ui_color = "#cd7f32"
    operator_extra_links = (BronzePartitionLink(),)
    kind = ""
    failure_layer = "bronze"

    def __init__(
        self,
        *,
        source_name: str,
        conn_id: str,
        bucket: str,
        partition_key: str,
        on_empty: str = "fail",
        batch_rows: int = 100_000,
        compression: str = "zstd",
        aws_conn_id: str = connections.LAKE_S3,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.source_name, self.conn_id = source_name, conn_id
        self.bucket, self.partition_key = bucket, partition_key
        self.on_empty, self.batch_rows, self.compression = on_empty, batch_rows, compression
        self.aws_conn_id = aws_conn_id

    @property
    def target(self) -> str:
        return f"source {self.source_name!r} (connection {self.conn_id!r})"

    def extract(self, path: Path, context: Any, before: dict | None) -> tuple[Any, dict[str, Any], dict[str, Any]]:
        """Write the source's rows to ``path``: (ExtractResult, source description, watermark)."""
        raise NotImplementedError

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from medallion.bronze.landing import Manifest, commit_partition, schema_drift, schema_fields

        target = self.target
        s3 = S3Hook(aws_conn_id=self.aws_conn_id)
        dest = f"s3://{self.bucket}/{self.partition_key}"
        previous, before = self._history(s3)
        with steps.scratch_folder() as tmp:
            result, source, watermark = self.extract(Path(tmp) / "part.parquet", context, before)
            self.log.info("extracted %s rows from %s", f"{result.rows:,}", target)
            self._check_empty(result.rows, target)
            ti = context["ti"]
            manifest = Manifest(
                source={"name": self.source_name, "kind": self.kind, "conn_id": self.conn_id, **source},
                dag_id=ti.dag_id,
                run_id=context["run_id"],
                task_id=ti.task_id,
                try_number=int(getattr(ti, "try_number", 1) or 1),
                logical_date=context["ds"],
                extracted_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                row_count=result.rows,
                bytes=0,
                checksum="",
                schema=schema_fields(result.schema),
                files=[],
                watermark=watermark,
            )
            manifest.schema_drift = schema_drift(previous and previous.get("schema"), manifest.schema)
            if manifest.schema_drift:
                self.log.warning("schema drift in %s since the previous extract: %s", target, manifest.schema_drift)
            manifest = commit_partition(s3, self.bucket, self.partition_key, [(result.path, result.rows)], manifest)
        self.log.info("committed %s (%s rows, %s bytes)", dest, manifest.row_count, manifest.bytes)
        context["ti"].xcom_push(key=PARTITION_URL_KEY, value=browser_url(dest, endpoint_of(self.aws_conn_id)))
        return {
            "source": self.source_name,
            "rows": manifest.row_count,
            "bytes": manifest.bytes,
            "partition": dest,
            "manifest": dest + "_manifest.json",
            "files": manifest.files,
            "schema": manifest.schema,
            "schema_drift": manifest.schema_drift,
            "watermark": manifest.watermark,
        }

    def _history(self, s3: Any) -> tuple[dict | None, dict | None]:
        """(manifest to compare schemas with, manifest of the latest earlier partition)."""
        from medallion.bronze.landing import manifest_before, read_manifest

        dataset_prefix = self.partition_key.rsplit("ds=", 1)[0]

        def read() -> tuple[dict | None, dict | None]:
            before = manifest_before(s3, self.bucket, dataset_prefix, self.partition_key)
            current = read_manifest(s3, self.bucket, self.partition_key)
            return (current or before), before

        return run_step(
            "read previous manifest",
            steps.lake_target(self.bucket, self.partition_key, self.aws_conn_id),
            "check the lake bucket exists and the aws_lake connection may read it",
            read,
            kind=steps.LAKE,
        )

    def _connect(self, target: str, opener: Any) -> Any:
        """``opener()`` as the ``connect`` step (connection lookup, source reachable, credentials)."""
        return run_step(
            "connect",
            target,
            f"check that the source is reachable and the credentials of connection {self.conn_id!r} are valid",
            opener,
            kind=steps.SOURCE,
        )

    def _check_empty(self, rows: int, target: str) -> None:
        if rows or self.on_empty == "allow":
            return
        message = f"the extract of {target} returned no rows"
        if self.on_empty == "fail":
            raise StepError(
                message,
                step="extract",
                target=self.source_name,
                kind="empty_extract",
                hint="check the source was loaded for this date; set on_empty: warn/allow if it can be empty",
            )
        self.log.warning("%s (on_empty: warn)", message)


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


class LandHttpSourceOperator(LandSourceOperator):
    """Records of a REST/JSON API through an Airflow HTTP connection, page by page."""

    template_fields: Sequence[str] = ("endpoint", "params", "partition_key")
    kind = "http"

    def __init__(
        self,
        *,
        endpoint: str,
        params: dict[str, str] | None = None,
        records_path: str = "",
        pagination: Any = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.endpoint, self.params, self.records_path, self.pagination = (
            endpoint,
            params or {},
            records_path,
            pagination,
        )

    def extract(self, path: Path, context: Any, before: dict | None) -> tuple[Any, dict[str, Any], dict[str, Any]]:
        from airflow.providers.http.hooks.http import HttpHook

        from medallion.bronze.http_extract import iter_pages, records_to_parquet

        hook = HttpHook(method="GET", http_conn_id=self.conn_id)
        session = run_step(
            "connect", self.target, f"check connection {self.conn_id!r} (host, auth)", hook.get_conn, kind=steps.SOURCE
        )
        url = hook.url_from_endpoint(self.endpoint)
        result = run_step(
            "extract",
            f"{self.target} GET {url}",
            "check the endpoint, the API's status and the credentials of the connection",
            lambda: records_to_parquet(
                iter_pages(session.get, url, self.params, self.pagination, self.records_path),
                path,
                compression=self.compression,
            ),
            kind=steps.SOURCE_QUERY,
        )
        return result, {"endpoint": self.endpoint, "params": self.params}, {}


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
            sink = fx.ParquetSink(path, columns=declared, batch_rows=self.batch_rows, compression=self.compression)
            hints = {
                "download": "check the file is readable with the connection's credentials, then clear the task",
                "read": f"check the file is valid {self.format} (CSV: delimiter, header, quote options); "
                "declare a column under `columns` when Arrow guesses its type wrong",
            }
            kinds = {"download": steps.SOURCE_FILES, "read": steps.SOURCE_FILE}
            try:
                records = fx.extract_files(
                    store,
                    files,
                    sink,
                    fx.ReadOptions(self.format, declared, dict(self.csv)),
                    path.parent / "inputs",
                    lambda step, uri, fn: run_step(step, f"{self.target} {uri}", hints[step], fn, kind=kinds[step]),
                )
            except BaseException:
                sink.discard()
                raise
            result = sink.close()
        finally:
            store.close()
        source = {"storage": self.storage, "path": self.path, "pattern": self.pattern, "format": self.format}
        return result, {**source, "source_files": records}, {}


def _json_value(value: Any) -> Any:
    """Watermarks are stored in JSON manifests: keep numbers, ISO-format dates, stringify the rest."""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    return str(value)
