"""Airflow operators that land one source (SQL query, HTTP API) as a committed bronze partition."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

from medallion import connections
from medallion.errors import StepError
from medallion.links import PARTITION_URL_KEY, BronzePartitionLink, browser_url, endpoint_of


class LandSourceOperator(BaseOperator):
    """Land one source as a committed bronze partition (parquet + manifest); subclasses extract."""

    template_fields: Sequence[str] = ("partition_key",)
    ui_color = "#cd7f32"
    operator_extra_links = (BronzePartitionLink(),)
    kind = ""

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
        previous, before = self._history(s3, target, dest)
        with tempfile.TemporaryDirectory(prefix="medallion-bronze-") as tmp:
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
            manifest = _step(
                "upload",
                f"{target} → {dest}",
                "check the lake bucket exists and the aws_lake connection may write to it, then clear the task",
                lambda: commit_partition(s3, self.bucket, self.partition_key, [(result.path, result.rows)], manifest),
            )
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

    def _history(self, s3: Any, target: str, dest: str) -> tuple[dict | None, dict | None]:
        """(manifest to compare schemas with, manifest of the latest earlier partition)."""
        from medallion.bronze.landing import manifest_before, read_manifest

        dataset_prefix = self.partition_key.rsplit("ds=", 1)[0]

        def read() -> tuple[dict | None, dict | None]:
            before = manifest_before(s3, self.bucket, dataset_prefix, self.partition_key)
            current = read_manifest(s3, self.bucket, self.partition_key)
            return (current or before), before

        return _step(
            "read previous manifest",
            f"{target} → {dest}",
            "check the lake bucket exists and the aws_lake connection may read it",
            read,
        )

    def _connect(self, target: str) -> Any:
        from airflow.sdk import BaseHook

        def open_conn() -> Any:
            return BaseHook.get_connection(self.conn_id).get_hook().get_conn()

        return _step(
            "connect",
            target,
            f"check that the source is reachable and the credentials of connection {self.conn_id!r} are valid",
            open_conn,
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
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.query = query
        self.incremental_column, self.incremental_initial = incremental_column, incremental_initial

    def extract(self, path: Path, context: Any, before: dict | None) -> tuple[Any, dict[str, Any], dict[str, Any]]:
        from medallion.bronze.sql_extract import incremental_query, stream_query_to_parquet

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
        conn = self._connect(self.target)
        try:
            result = _step(
                "extract",
                self.target,
                "check the query in the spec and run it by hand on the source",
                lambda: stream_query_to_parquet(
                    conn,
                    query,
                    path,
                    batch_rows=self.batch_rows,
                    compression=self.compression,
                    track_max=self.incremental_column,
                ),
            )
        finally:
            conn.close()
        if watermark:
            watermark["high"] = _json_value(result.max_value) if result.max_value is not None else watermark["low"]
        return result, {"query": query}, watermark


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
        session = _step("connect", self.target, f"check connection {self.conn_id!r} (host, auth)", hook.get_conn)
        url = hook.url_from_endpoint(self.endpoint)
        result = _step(
            "extract",
            f"{self.target} GET {url}",
            "check the endpoint, the API's status and the credentials of the connection",
            lambda: records_to_parquet(
                iter_pages(session.get, url, self.params, self.pagination, self.records_path),
                path,
                compression=self.compression,
            ),
        )
        return result, {"endpoint": self.endpoint, "params": self.params}, {}


def _step(step: str, target: str, hint: str, fn: Any) -> Any:
    """Run one step; any failure becomes a ``StepError`` naming the step and the target."""
    try:
        return fn()
    except StepError:
        raise
    except Exception as exc:
        raise StepError(f"{type(exc).__name__}: {exc}", step=step, target=target, hint=hint) from exc


def _json_value(value: Any) -> Any:
    """Watermarks are stored in JSON manifests: keep numbers, ISO-format dates, stringify the rest."""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    return str(value)
