"""A bronze failure is classed by the step that failed, not by what its message resembles.

One test per step of landing (read source, write file, upload, commit manifest, and the read of
the previous manifest that comes first), each with a real fault: a real SQLite source, a real
moto S3 server stopped mid-run or a bucket that does not exist, a real file size limit on the
worker. The alert built from the failure names the party at fault and never the other one.
"""

from __future__ import annotations

import ast
import json
import os
import resource
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.providers.amazon.aws.hooks.s3 import S3Hook

from medallion.alerts.message import Alert
from medallion.alerts.notifier import build_failure_alert
from medallion.bronze import steps
from medallion.bronze.operator import LandSqlSourceOperator
from medallion.failures import classify, load_catalog
from medallion.spec.load import SpecLoader

ROOT = Path(__file__).resolve().parents[3]
SPEC = SpecLoader(ROOT / "dag_configs").load(ROOT / "dag_configs/sales/orders.yaml")
PARTITION = "bronze/sales/orders/ds=2026-11-20/"
SOURCE_CONN = "src_test"


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A SQLite shop whose orders (random text, so parquet cannot compress it) make a ~400 KB extract."""
    db = tmp_path / "shop.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE orders (order_id INTEGER, note TEXT)")
    con.executemany("INSERT INTO orders VALUES (?, ?)", [(i, os.urandom(16).hex()) for i in range(20_000)])
    con.commit()
    con.close()
    monkeypatch.setenv("AIRFLOW_CONN_SRC_TEST", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    return db


def operator(s3_lake: SimpleNamespace, query: str = "SELECT * FROM orders", bucket: str = "") -> LandSqlSourceOperator:
    return LandSqlSourceOperator(
        task_id="extract_orders",
        source_name="orders",
        conn_id=SOURCE_CONN,
        query=query,
        bucket=bucket or s3_lake.bucket,
        partition_key=PARTITION,
        aws_conn_id=s3_lake.conn_id,
        batch_rows=1000,
    )


def context() -> dict:
    ti = SimpleNamespace(
        dag_id=SPEC.id, task_id="bronze.extract_orders", try_number=1, xcom_push=lambda key, value: None
    )
    return {"ti": ti, "run_id": "manual__2026-11-20", "ds": "2026-11-20"}


def fail(op: LandSqlSourceOperator) -> tuple[BaseException, Alert]:
    """Run the task to its failure and build the alert on-call would get."""
    ctx = context()
    with pytest.raises(Exception) as info:
        op.execute(ctx)
    exc = info.value
    alert = build_failure_alert(SPEC, ctx | {"exception": exc, "task": SimpleNamespace(retries=2)})
    return exc, alert


def step_of(exc: BaseException) -> str:
    return exc.step  # type: ignore[attr-defined]  # StepError, or fail-without-retry carrying its details


@contextmanager
def s3_stops_before(monkeypatch: pytest.MonkeyPatch, server: object, method: str) -> Iterator[None]:
    """S3 goes away right before the task's first ``S3Hook.<method>`` call: earlier steps worked."""
    original = getattr(S3Hook, method)

    def stop_then_call(self: S3Hook, *args: object, **kwargs: object) -> object:
        server.stop()  # type: ignore[attr-defined]
        return original(self, *args, **kwargs)

    monkeypatch.setattr(S3Hook, method, stop_then_call)
    yield
    monkeypatch.setattr(S3Hook, method, original)


@contextmanager
def file_size_limit(max_bytes: int) -> Iterator[None]:
    """The worker may write no file larger than ``max_bytes`` (a quota, a nearly full disk): EFBIG."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def assert_blames_the_lake(exc: BaseException, alert: Alert, s3_lake: SimpleNamespace, step: str) -> None:
    text = alert.text()
    assert step_of(exc) == step
    assert alert.failure_class == "s3_unreachable" and alert.title == "S3 endpoint unreachable"
    assert f"lake s3://{s3_lake.bucket}/{PARTITION}" in text and f"connection {s3_lake.conn_id!r}" in text
    assert SOURCE_CONN not in text and "Source database" not in text


def test_s3_down_from_the_start_is_the_lake_not_the_source(s3_lake, source) -> None:
    """The reported incident: S3 down during bronze was alerted as "Source database unreachable"."""
    s3_lake.server.stop()
    exc, alert = fail(operator(s3_lake))
    assert_blames_the_lake(exc, alert, s3_lake, "read previous manifest")


def test_read_source_failures_are_the_source(s3_lake, source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exc, alert = fail(operator(s3_lake, "SELECT nope FROM orders"))
    assert step_of(exc) == "extract" and alert.failure_class == "query_error"
    assert f"connection {SOURCE_CONN!r}" in alert.text() and "s3://" not in alert.text()

    missing = tmp_path / "gone/shop.sqlite"
    monkeypatch.setenv("AIRFLOW_CONN_SRC_TEST", json.dumps({"conn_type": "sqlite", "host": str(missing)}))
    exc, alert = fail(operator(s3_lake))
    assert step_of(exc) in {"connect", "extract"} and alert.failure_class == "source_unreachable"
    assert f"connection {SOURCE_CONN!r}" in alert.text() and "s3://" not in alert.text()


def test_a_full_disk_on_the_worker_is_the_write_file_step(s3_lake, source) -> None:
    op = operator(s3_lake)
    with file_size_limit(64 * 1024):  # the ~400 KB extract hits it after a few batches were read
        exc, alert = fail(op)
    text = alert.text()
    assert step_of(exc) == "write file" and alert.failure_class == "bronze_write_failed"
    assert "File too large" in text and "local file " in text and "part.parquet" in text
    assert SOURCE_CONN not in text and "s3://" not in text
    assert s3_lake.client.list_objects_v2(Bucket=s3_lake.bucket).get("KeyCount") == 0  # nothing landed


@pytest.fixture(scope="module")
def postgres() -> Iterator[object]:
    """A real PostgreSQL with ~700 KB of random text, for the native (DuckDB) engine's write path."""
    from medallion.local.postgres import PostgresServer, pg_bin

    if pg_bin() is None:
        pytest.skip("PostgreSQL binaries are not installed")
    with PostgresServer() as server:
        con = server.connect()
        with con, con.cursor() as cur:
            cur.execute(
                "CREATE TABLE orders AS SELECT g AS order_id, md5(g::text) AS note FROM generate_series(1, 20000) g"
            )
        con.close()
        yield server


def test_a_full_disk_under_the_native_postgres_engine_is_the_write_file_step(
    s3_lake, postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB reads PostgreSQL and writes parquet in one statement; its write error still is the worker's."""
    monkeypatch.setenv("AIRFLOW_CONN_SRC_TEST", json.dumps(postgres.connection_json()))
    op = operator(s3_lake)
    with file_size_limit(64 * 1024):
        exc, alert = fail(op)
    assert step_of(exc) == "write file" and alert.failure_class == "bronze_write_failed"
    assert "IOException" in alert.text() and "File too large" in alert.text() and SOURCE_CONN not in alert.text()


def test_a_missing_temporary_folder_is_the_write_file_step(
    s3_lake, source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no/such/tmp"))
    exc, alert = fail(operator(s3_lake))
    assert step_of(exc) == "write file" and alert.failure_class == "bronze_write_failed"
    assert str(tmp_path / "no/such/tmp") in alert.text() and SOURCE_CONN not in alert.text()


def test_s3_down_during_the_upload_is_the_lake(s3_lake, source, monkeypatch: pytest.MonkeyPatch) -> None:
    with s3_stops_before(monkeypatch, s3_lake.server, "load_file"):
        exc, alert = fail(operator(s3_lake))
    assert_blames_the_lake(exc, alert, s3_lake, "upload")


def test_s3_down_before_the_manifest_is_the_lake_and_nothing_is_visible(
    s3_lake, source, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.server import ThreadedMotoServer

    with s3_stops_before(monkeypatch, s3_lake.server, "load_string"):
        exc, alert = fail(operator(s3_lake))
    assert_blames_the_lake(exc, alert, s3_lake, "commit manifest")
    port = int(s3_lake.endpoint.rsplit(":", 1)[1])
    restarted = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    restarted.start()  # moto keeps its state in-process
    try:
        keys = [o["Key"] for o in s3_lake.client.list_objects_v2(Bucket=s3_lake.bucket).get("Contents", [])]
        assert keys and not any(k.endswith("_manifest.json") for k in keys)  # files, but no commit: invisible
    finally:
        restarted.stop()


def test_a_missing_lake_bucket_is_classed_by_the_lake_family(s3_lake, source) -> None:
    exc, alert = fail(operator(s3_lake, bucket="no-such-lake-bucket"))
    assert step_of(exc) == "read previous manifest" and alert.failure_class == "s3_no_such_bucket"
    assert not load_catalog().classes["s3_no_such_bucket"].retry and SOURCE_CONN not in alert.text()


def test_an_explicit_kind_wins_over_message_patterns() -> None:
    from medallion.errors import StepError

    refused = "EndpointConnectionError: Could not connect to the endpoint URL: [Errno 111] Connection refused"
    lake = StepError(refused, step="upload", target="lake s3://b/k (connection 'aws_lake')", kind=steps.LAKE)
    source = StepError("OperationalError: connection refused", step="connect", target="x", kind=steps.SOURCE)
    auth = StepError("FATAL: password authentication failed", step="connect", target="x", kind=steps.SOURCE)
    write = StepError("OSError: connection refused", step="write file", target="x", kind=steps.LOCAL_FILE)
    assert [classify(e, "bronze").name for e in (lake, source, auth, write)] == [
        "s3_unreachable",
        "source_unreachable",
        "source_auth_failed",
        "bronze_write_failed",
    ]


def test_every_step_kind_is_in_the_catalog_with_a_title_and_hint() -> None:
    catalog = load_catalog()
    for kind in steps.KINDS:
        names = catalog.families.get(kind) or (kind,)
        for name in names:
            assert catalog.classes[name].title and catalog.classes[name].hint, kind


def test_bronze_never_imports_alerts() -> None:
    """Bronze raises typed errors and names their kinds; classifying them is alerting's business."""
    for module in sorted((ROOT / "include/medallion/bronze").glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(), str(module))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not [n for n in names if n.startswith("medallion.alerts")], f"{module.name} imports {names}"
