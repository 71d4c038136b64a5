"""HTTP sources against a real local REST API server: every pagination style, retries, auth."""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlparse

import pyarrow.parquet as pq
import pytest
from airflow.sdk.exceptions import AirflowFailException

from medallion.bronze.http_extract import iter_pages, records_to_parquet
from medallion.bronze.operator import LandHttpSourceOperator
from medallion.spec.models import Pagination

ITEMS = [{"id": i, "name": f"item {i}", "price": i * 1.25} for i in range(1, 26)]  # 25 records


class Api(BaseHTTPRequestHandler):
    faults: list[tuple[int, dict]] = []  # queued (status, headers) answers before a real one
    calls: list[str] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        Api.calls.append(self.path)
        if self.headers.get("Authorization") != "Basic " + base64.b64encode(b"user:secret").decode():
            return self.reply(401, {"error": "unauthorized"})
        if Api.faults:
            status, headers = Api.faults.pop(0)
            return self.reply(status, {"error": "busy"}, headers)
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        size = int(q.get("per_page", q.get("limit", 10)))
        if url.path == "/paged":
            start = (int(q.get("page", 1)) - 1) * size
            return self.reply(200, {"data": ITEMS[start : start + size]})
        if url.path == "/offset":
            start = int(q.get("offset", 0))
            return self.reply(200, ITEMS[start : start + size])
        if url.path == "/cursor":
            start = int(q.get("cursor", 0))
            nxt = start + 10 if start + 10 < len(ITEMS) else None
            return self.reply(200, {"items": ITEMS[start : start + 10], "meta": {"next": nxt}})
        if url.path == "/linked":
            start = int(q.get("from", 0))
            headers = {"Link": f'<http://127.0.0.1:{self.server.server_port}/linked?from={start + 10}>; rel="next"'}
            return self.reply(200, ITEMS[start : start + 10], headers if start + 10 < len(ITEMS) else {})
        return self.reply(404, {"error": "not found"})

    def reply(self, status: int, body: object, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Api.faults, Api.calls = [], []
    port = server.server_port
    monkeypatch.setenv(
        "AIRFLOW_CONN_API_TEST",
        json.dumps(
            {
                "conn_type": "http",
                "host": "127.0.0.1",
                "port": port,
                "schema": "http",
                "login": "user",
                "password": "secret",
            }
        ),
    )
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()


def land(tmp_path: Path, endpoint: str, pagination: dict | None, records_path: str = "") -> int:
    from airflow.providers.http.hooks.http import HttpHook

    hook = HttpHook(method="GET", http_conn_id="api_test")
    session = hook.get_conn()
    pages = iter_pages(
        session.get,
        hook.url_from_endpoint(endpoint),
        {},
        Pagination(**pagination) if pagination else None,
        records_path,
        sleep=lambda s: None,
    )
    result = records_to_parquet(pages, tmp_path / "out.parquet")
    table = pq.read_table(result.path)
    assert table.column("id").to_pylist() == [r["id"] for r in ITEMS[: result.rows]]
    return result.rows


@pytest.mark.parametrize(
    ("endpoint", "pagination", "records_path"),
    [
        ("paged", {"type": "page", "page_size": 10}, "data"),
        ("offset", {"type": "offset", "page_size": 7, "size_param": "limit"}, ""),
        ("cursor", {"type": "cursor", "cursor_path": "meta.next"}, "items"),
        ("linked", {"type": "next_link"}, ""),
    ],
)
def test_every_pagination_style_reads_all_records(
    api: int, tmp_path: Path, endpoint: str, pagination: dict, records_path: str
) -> None:
    assert land(tmp_path, endpoint, pagination, records_path) == len(ITEMS)


def test_429_and_5xx_are_retried_honouring_retry_after(api: int, tmp_path: Path) -> None:
    from airflow.providers.http.hooks.http import HttpHook

    Api.faults = [(429, {"Retry-After": "7"}), (503, {})]
    waits: list[float] = []
    hook = HttpHook(method="GET", http_conn_id="api_test")
    pages = iter_pages(
        hook.get_conn().get,
        hook.url_from_endpoint("offset"),
        {},
        Pagination(type="offset", page_size=100, size_param="limit"),
        "",
        sleep=waits.append,
    )
    assert sum(len(p) for p in pages) == len(ITEMS)
    assert waits == [7.0, 2.0]  # Retry-After honoured, then exponential backoff


def context() -> dict:
    ti = SimpleNamespace(dag_id="shop", task_id="bronze.extract_items", try_number=1, xcom_push=lambda **_: None)
    return {"ti": ti, "run_id": "manual__2026-11-20", "ds": "2026-11-20"}


def test_operator_names_source_and_step_when_the_api_rejects_credentials(
    api: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_API_TEST",
        json.dumps(
            {"conn_type": "http", "host": "127.0.0.1", "port": api, "schema": "http", "login": "user", "password": "x"}
        ),
    )
    op = LandHttpSourceOperator(
        task_id="extract_items",
        source_name="items",
        conn_id="api_test",
        endpoint="paged",
        bucket="lake",
        partition_key="bronze/shop/items/ds=2026-11-20/",
        aws_conn_id="aws_x",
    )
    op._history = lambda *a: (None, None)  # no S3 needed: the extract step fails first
    with pytest.raises(
        AirflowFailException, match=r"^\[extract source 'items' \(connection 'api_test'\) GET .*/paged\].*401"
    ) as caught:
        op.execute(context())
    assert caught.value.kind == "source_auth_failed"  # the step's party is the source; 401 says which class


def test_http_source_in_a_spec_builds_the_http_task(dag_with_customers_source) -> None:
    dag = dag_with_customers_source(
        """    - kind: http
      name: customers
      conn_id: shop_db
      endpoint: "customers?updated={{ ds }}"
      records_path: data
      pagination: {type: cursor, cursor_path: meta.next}""",
    )
    task = dag.task_dict["bronze.extract_customers"]
    assert isinstance(task, LandHttpSourceOperator) and task.pagination.type == "cursor"
    assert "endpoint" in task.template_fields


def test_operator_lands_every_page_in_a_committed_partition(api: int, s3_lake) -> None:
    """The happy path end to end: HttpHook → pages → parquet → S3 partition with its manifest; a re-run replaces it."""
    partition = "bronze/shop/items/ds=2026-11-20/"

    def run() -> dict:
        op = LandHttpSourceOperator(
            task_id="extract_items",
            source_name="items",
            conn_id="api_test",
            endpoint="cursor",
            records_path="items",
            pagination=Pagination(type="cursor", cursor_path="meta.next"),
            bucket=s3_lake.bucket,
            partition_key=partition,
            aws_conn_id=s3_lake.conn_id,
        )
        op.execute(context())
        body = s3_lake.client.get_object(Bucket=s3_lake.bucket, Key=partition + "_manifest.json")["Body"].read()
        return json.loads(body)

    first = run()
    assert first["row_count"] == len(ITEMS) and first["source"]["kind"] == "http"
    assert [f["name"] for f in first["schema"]] == ["id", "name", "price"]
    second = run()
    listed = s3_lake.client.list_objects_v2(Bucket=s3_lake.bucket, Prefix=partition)["Contents"]
    data_keys = sorted(o["Key"] for o in listed if o["Key"].endswith(".parquet"))
    assert [f.split("/", 3)[3] for f in second["files"]] == data_keys and len(data_keys) == 1
    blob = s3_lake.client.get_object(Bucket=s3_lake.bucket, Key=data_keys[0])["Body"].read()
    assert pq.read_table(io.BytesIO(blob)).column("id").to_pylist() == [r["id"] for r in ITEMS]
    assert Api.calls.count("/cursor") == 2  # one first page per run; later pages carry the cursor
