"""The last bronze step: every committed partition is intact, and what the bronze gate reads.

``bronze.verify`` runs after every extract and before the bronze gate. It reads each source's
manifest once, checks every listed file against it (``bronze.integrity``: a changed file fails as
``bronze_corrupt``, without retry, before any suite or notebook reads it) and hands the gate plain
values: the files to validate and the schema drift the extract recorded. The gate judges them; it
never reads a manifest itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from medallion import connections, layout
from medallion.errors import FailureKind, MedallionError, StepError, step_errors
from medallion.failures import RetryByClass
from medallion.spec.models import PipelineSpec

TASK_ID = "verify"  # inside the bronze task group: bronze.verify


class BronzeCorrupt(MedallionError, AirflowFailException):
    """Files of a committed bronze partition changed after the commit: retrying the check cannot
    help, re-running the extract does (class ``bronze_corrupt``)."""

    kind = FailureKind.BRONZE_CORRUPT

    def __init__(self, message: str, *, target: str, hint: str):
        super().__init__(message)
        self.step, self.target, self.hint = "verify", target, hint


class BronzeVerifyOperator(RetryByClass, BaseOperator):
    """Check every source's committed partition; return ``{source: {"files", "schema_drift"}}``."""

    template_fields: Sequence[str] = ()
    ui_color = "#cd7f32"
    failure_layer = "bronze"

    def __init__(self, *, spec: PipelineSpec, **kwargs: Any):
        super().__init__(**kwargs)
        self.spec = spec

    def execute(self, context: Any) -> dict[str, dict[str, Any]]:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        s3 = S3Hook(aws_conn_id=connections.LAKE_S3)
        ds = str(context["ds"])
        out = {}
        for source in self.spec.bronze.sources if self.spec.bronze else []:
            manifest = self._manifest(s3, source.name, ds)
            self._verify(s3, source.name, ds, manifest)
            out[source.name] = {"files": list(manifest["files"]), "schema_drift": manifest.get("schema_drift") or {}}
        return out

    def _where(self, source: str, ds: str) -> str:
        return f"s3://{self.spec.lake.bucket}/{layout.bronze_partition_key(self.spec, source, ds)}"

    def _reading(self, source: str, ds: str) -> Any:
        """S3 errors while reading ``source``'s partition: the lake's class, retried."""
        target = f"bronze {source} {self._where(source, ds)}"
        return step_errors("verify", target, "S3 could not be read; the task retries", FailureKind.LAKE)

    def _manifest(self, s3: Any, source: str, ds: str) -> dict[str, Any]:
        """The committed manifest of ``source`` for ``ds``; a missing one names the task to clear."""
        from medallion.bronze.landing import read_manifest

        key = layout.bronze_partition_key(self.spec, source, ds)
        with self._reading(source, ds):
            manifest = read_manifest(s3, self.spec.lake.bucket, key)
        if manifest is None:
            raise StepError(
                f"no committed manifest at {self._where(source, ds)}_manifest.json",
                step="verify",
                target=f"bronze {source}",
                hint=f"the extract of {source!r} did not commit {ds}; clear bronze.extract_{source} first",
                kind=FailureKind.GATE_INFRA,
            )
        return manifest

    def _verify(self, s3: Any, source: str, ds: str, manifest: dict[str, Any]) -> None:
        """Every file the manifest lists is still what its extract landed (size, ETag)."""
        from medallion.bronze.integrity import verify_partition

        where = self._where(source, ds)
        with self._reading(source, ds):
            problems = verify_partition(s3, self.spec.lake.bucket, manifest)
        if problems:
            task = f"bronze.extract_{source}"
            raise BronzeCorrupt(
                f"bronze partition {where} changed after its commit: " + "; ".join(problems),
                target=f"bronze {source}",
                hint=f"re-run the extract of {source!r} for {ds}, then this check and the gate: airflow tasks clear "
                f"{self.spec.dag_id} --task-regex '^{re.escape(task)}$' -s {ds} -e {ds} --downstream --yes",
            )
        self.log.info("bronze %s: %d file(s) as committed (size, ETag)", source, len(manifest["files"]))
