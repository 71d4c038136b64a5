"""The base of every source kind's operator: land one source as a committed bronze partition.

Each kind's operator (its ``extract``) lives in ``bronze/sources/<kind>.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

from medallion import connections
from medallion.bronze import steps
from medallion.errors import FailureKind, StepError, run_step
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
                kind=FailureKind.EMPTY_EXTRACT,
                hint="check the source was loaded for this date; set on_empty: warn/allow if it can be empty",
            )
        self.log.warning("%s (on_empty: warn)", message)


def __getattr__(name: str) -> Any:
    """The kinds' operators by their old import path (``medallion.bronze.operator.LandSqlSourceOperator``)."""
    from medallion.bronze import sources

    for kind in sources.SOURCE_KINDS.values():
        if kind.operator.__name__ == name:
            return kind.operator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
