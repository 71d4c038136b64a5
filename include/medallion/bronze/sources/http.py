"""Source kind `http`: a REST/JSON API on an Airflow HTTP connection (spec model: spec/sources/http.py).

Pages are fetched and retried by ``http_extract``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medallion.bronze import steps
from medallion.bronze.operator import LandSourceOperator
from medallion.bronze.sources.kind import SourceKind, connection_origin
from medallion.errors import run_step
from medallion.spec.sources.http import HttpSource


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
        session = self._connect(self.target, hook.get_conn)
        url = hook.url_from_endpoint(self.endpoint)
        result = run_step(
            "extract",
            f"{self.target} GET {url}",
            "check the endpoint, the API's status and the credentials of the connection",
            lambda: records_to_parquet(
                iter_pages(session.get, url, self.params, self.pagination, self.records_path),
                path,
                batch_rows=self.batch_rows,
                compression=self.compression,
            ),
            kind=steps.SOURCE_QUERY,
        )
        return result, {"endpoint": self.endpoint, "params": self.params}, {}


def options(src: HttpSource) -> dict[str, Any]:
    """The operator's arguments of this kind, from the spec."""
    return {
        "endpoint": src.endpoint,
        "params": dict(src.params),
        "records_path": src.records_path,
        "pagination": src.pagination,
    }


KIND = SourceKind(model=HttpSource, operator=LandHttpSourceOperator, options=options, origin=connection_origin)
