"""What the catalog reads from the lake: gate reports and bronze manifests through the S3 hook, published
versions, recorded grants and row counts from the lakehouse (read-only, never waiting long for a writer).

Every reader returns nothing instead of raising: a page shows "unavailable" for a part it could not read."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

from medallion import connections, layout
from medallion.engines import engine_for
from medallion.spec.models import PipelineSpec

log = logging.getLogger(__name__)
T = TypeVar("T")


class Lake:
    """The lake bucket (S3 hook) and the lakehouse (engine ``peek``), with short-lived caches for the
    home page's all-products queries."""

    def __init__(self, ttl_seconds: float = 30.0):
        self.ttl = ttl_seconds
        self._cache: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    @cached_property
    def _pool(self) -> ThreadPoolExecutor:
        """Threads for parallel S3 reads, kept between page views (starting threads per view costs more)."""
        return ThreadPoolExecutor(max_workers=8, thread_name_prefix="catalog-s3")

    @cached_property
    def s3(self) -> Any:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from botocore.config import Config

        quick = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 1})
        return S3Hook(aws_conn_id=connections.LAKE_S3, config=quick)

    def _lakehouse(self) -> Any:
        from airflow.models.connection import Connection

        return Connection.get_connection_from_secrets(connections.LAKEHOUSE_SQL)

    def cached(self, key: str, load: Callable[[], T]) -> T:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit and now - hit[0] < self.ttl:
                return hit[1]
        value = load()
        with self._lock:
            self._cache[key] = (now, value)
        return value

    # --- S3 -----------------------------------------------------------------------------------
    def read_text(self, bucket: str, key: str) -> str | None:
        """One GET through the hook's client (shared by every page view), or None."""
        try:
            return self.s3.conn.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        except Exception as exc:  # missing report, S3 down: the page says so
            log.debug("catalog: s3://%s/%s unreadable (%s)", bucket, key, exc)
            return None

    def read_json(self, bucket: str, key: str) -> dict[str, Any] | None:
        text = self.read_text(bucket, key)
        try:
            return json.loads(text) if text else None
        except ValueError:
            return None

    def reports(self, spec: PipelineSpec, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Gate reports ``{(layer, ds): report}`` for the ``(layer, ds)`` pairs asked, read in parallel."""

        def one(pair: tuple[str, str]) -> dict[str, Any] | None:
            layer, ds = pair
            return self.read_json(spec.lake.bucket, layout.quality_report_key(spec, layer, ds, "report", "json"))

        found = dict(zip(wanted, self._pool.map(one, wanted), strict=True))
        return {pair: report for pair, report in found.items() if report}

    def bronze_rows(self, spec: PipelineSpec, ds: str | None) -> dict[str, int]:
        """Rows of each bronze dataset's partition for ``ds`` (its manifest's row count)."""
        if not spec.bronze or not ds:
            return {}
        names = [source.name for source in spec.bronze.sources]
        keys = [layout.bronze_partition_key(spec, name, ds) + layout.MANIFEST_NAME for name in names]
        manifests = self._pool.map(lambda key: self.read_json(spec.lake.bucket, key), keys)
        return {
            name: m["row_count"]
            for name, m in zip(names, manifests, strict=True)
            if m and isinstance(m.get("row_count"), int)
        }

    # --- lakehouse ----------------------------------------------------------------------------
    def peek(self, queries: list[str]) -> list[list[tuple[Any, ...]] | None]:
        """Rows of read-only queries (None each) when the lakehouse is busy, missing or unreachable."""
        try:
            conn = self._lakehouse()
            return engine_for(conn).peek(conn, queries)
        except Exception as exc:
            log.info("catalog: lakehouse not read (%s)", str(exc).splitlines()[0][:200] if str(exc) else exc)
            return [None] * len(queries)

    def published(self) -> dict[str, tuple[str, str, str]]:
        """``{table: (logical date, run id, published at)}`` of every table's current version (cached)."""

        def load() -> dict[str, tuple[str, str, str]]:
            (rows,) = self.peek([PUBLISHED_SQL])
            return {str(r[0]): (str(r[1]), str(r[2]), str(r[3])) for r in rows or []}

        return self.cached("published", load)

    def tables(self, tables: list[str]) -> TableFacts:
        """Row counts and recorded grants of a product's tables, through one lakehouse connection."""
        if not tables:
            return TableFacts({}, {})
        names = ", ".join("'" + t.replace("'", "''") + "'" for t in tables)
        grants, *counted = self.peek(
            [
                "SELECT table_name, principal, privileges, enforced, CAST(recorded_at AS VARCHAR) "
                f"FROM {layout.TABLE_GRANTS} WHERE table_name IN ({names}) ORDER BY table_name, principal",
                *(f"SELECT count(*) FROM {t}" for t in tables),  # spec-validated names; a missing table: None
            ]
        )
        counts = {t: int(rows[0][0]) for t, rows in zip(tables, counted, strict=True) if rows}
        recorded: dict[str, list[tuple[str, str, bool, str]]] = {}
        for table, group, privs, enforced, at in grants or []:
            recorded.setdefault(str(table), []).append((str(group), str(privs), bool(enforced), str(at)))
        return TableFacts(counts, recorded)


PUBLISHED_SQL = (
    "SELECT table_name, CAST(logical_date AS VARCHAR), run_id, CAST(published_at AS VARCHAR) "
    f"FROM {layout.PUBLISHED_VERSIONS} QUALIFY row_number() OVER "
    "(PARTITION BY table_name ORDER BY published_at DESC) = 1"
)


@dataclass(frozen=True)
class TableFacts:
    rows: dict[str, int]
    grants: dict[str, list[tuple[str, str, bool, str]]]  # table → (group, privileges, enforced, recorded at)
