"""Page through a REST/JSON API and write every record to parquet, page by page.

Pagination by page number, offset, cursor or next link; 429 and 5xx answers are retried with
backoff, honouring ``Retry-After``. Memory stays bounded by one page.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from medallion.bronze.sink import ExtractResult, ParquetSink
from medallion.spec.models import Pagination

RETRY_STATUSES = {429, 500, 502, 503, 504}


def dig(document: Any, path: str) -> Any:
    """``a.b.c`` into nested JSON objects; an empty path is the document itself."""
    for part in path.split(".") if path else []:
        document = document.get(part) if isinstance(document, dict) else None
    return document


def get_with_retries(
    get: Callable[..., Any],
    url: str,
    params: dict[str, Any],
    *,
    max_retries: int = 5,
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """One GET, retried on 429/5xx with ``Retry-After`` (seconds) or exponential backoff."""
    for attempt in range(max_retries + 1):
        response = get(url, params=params, timeout=60)
        if response.status_code not in RETRY_STATUSES or attempt == max_retries:
            response.raise_for_status()
            return response
        retry_after = response.headers.get("Retry-After", "")
        sleep(float(retry_after) if retry_after.replace(".", "", 1).isdigit() else min(2.0**attempt, 30.0))
    raise AssertionError("unreachable")


def iter_pages(
    get: Callable[..., Any],
    url: str,
    params: dict[str, Any],
    pagination: Pagination | None,
    records_path: str,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[list[dict[str, Any]]]:
    """Record lists, one per page, until the API says there is no more."""
    params = dict(params)
    page = offset = 0
    for _ in range(pagination.max_pages if pagination else 1):
        if pagination and pagination.type == "page":
            params |= {pagination.page_param: page + 1, pagination.size_param: pagination.page_size}
        elif pagination and pagination.type == "offset":
            params |= {pagination.offset_param: offset, pagination.size_param: pagination.page_size}
        response = get_with_retries(get, url, params, sleep=sleep)
        body = response.json()
        records = dig(body, records_path) or []
        if not isinstance(records, list):
            raise ValueError(f"records_path {records_path!r} does not point at a list in the response")
        yield records
        page, offset = page + 1, offset + len(records)
        if pagination is None:
            return
        if pagination.type in {"page", "offset"}:
            if len(records) < pagination.page_size:
                return
        elif pagination.type == "cursor":
            cursor = dig(body, pagination.cursor_path)
            if not cursor or not records:
                return
            params[pagination.cursor_param] = cursor
        else:  # next_link: a URL in the body, or the Link header
            nxt = dig(body, pagination.next_path) if pagination.next_path else None
            nxt = nxt or response.links.get("next", {}).get("url")
            if not nxt:
                return
            url, params = nxt, {}
    raise ValueError(f"stopped after max_pages={pagination.max_pages if pagination else 1}: is pagination endless?")


def records_to_parquet(
    pages: Iterator[list[dict[str, Any]]], target: Path, *, batch_rows: int = 100_000, compression: str = "zstd"
) -> ExtractResult:
    """Every page's records into ``target``; the first page with records fixes the columns."""
    with ParquetSink(target, batch_rows=batch_rows, compression=compression) as sink:
        for records in pages:
            if records:
                sink.write(pa.Table.from_pylist(records, schema=sink.schema))
        return sink.close()
