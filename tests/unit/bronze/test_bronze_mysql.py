"""MySQL ``sql`` sources against a real MariaDB server the tests start: full and incremental
extraction through the mysql provider's hook, a streaming (unbuffered) cursor, bad credentials."""

from __future__ import annotations

import importlib.util
import io
import json
from collections.abc import Iterator
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest
from airflow.sdk.exceptions import AirflowFailException

from medallion.bronze.operator import LandSqlSourceOperator
from medallion.bronze.sql_extract import mysql_streaming_cursor
from medallion.local.mysql import MariaDBServer, mariadb_available

CLIENTS = [
    "mysql-connector-python",
    pytest.param(
        "mysqlclient",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("MySQLdb") is None, reason="mysqlclient (MySQLdb) is not installed in this venv"
        ),
    ),
]


@pytest.fixture(scope="module")
def mariadb() -> Iterator[MariaDBServer]:
    if not mariadb_available():
        pytest.skip("MariaDB (mariadbd, mariadb-install-db) is not installed: the MySQL tests need a real server")
    with MariaDBServer() as server:
        server.sql(
            "CREATE TABLE orders (order_id bigint, amount decimal(12,2), status varchar(16), updated_at datetime)",
            "INSERT INTO orders SELECT seq, seq * 1.5, 'paid', TIMESTAMP '2026-11-01 00:00:00' + INTERVAL seq MINUTE "
            "FROM seq_1_to_5000",  # MariaDB's sequence engine
            database=server.database,
        )
        yield server


def connect(monkeypatch: pytest.MonkeyPatch, server: MariaDBServer, client: str = "", password: str | None = None):
    conn = server.connection_json(password)
    if client:
        conn["extra"] = {"client": client}
    monkeypatch.setenv("AIRFLOW_CONN_MYSQL_TEST", json.dumps(conn))


def operator(lake: SimpleNamespace, ds: str = "2026-11-20", **kwargs) -> LandSqlSourceOperator:
    args = {"query": "SELECT * FROM orders"} | kwargs
    return LandSqlSourceOperator(
        task_id="extract_orders",
        source_name="orders",
        conn_id="mysql_test",
        bucket=lake.bucket,
        partition_key=f"bronze/shop/orders/ds={ds}/",
        aws_conn_id=lake.conn_id,
        batch_rows=1000,
        **args,
    )


def run(lake: SimpleNamespace, ds: str = "2026-11-20", **kwargs) -> tuple[dict, dict, list[dict]]:
    """Land one date; (operator result, manifest, landed rows)."""
    ti = SimpleNamespace(dag_id="shop", task_id="bronze.extract_orders", try_number=1, xcom_push=lambda **_: None)
    result = operator(lake, ds, **kwargs).execute({"ti": ti, "run_id": f"manual__{ds}", "ds": ds, "params": {}})
    key = result["manifest"].split("/", 3)[3]
    manifest = json.loads(lake.client.get_object(Bucket=lake.bucket, Key=key)["Body"].read())
    rows = []
    for f in manifest["files"]:
        body = lake.client.get_object(Bucket=lake.bucket, Key=f.split("/", 3)[3])["Body"].read()
        rows += pq.read_table(io.BytesIO(body)).to_pylist()
    return result, manifest, rows


@pytest.mark.parametrize("client", CLIENTS)
def test_mysql_source_full_extract(s3_lake, mariadb, monkeypatch: pytest.MonkeyPatch, client: str) -> None:
    connect(monkeypatch, mariadb, client)
    result, manifest, rows = run(s3_lake)
    assert result["rows"] == manifest["row_count"] == len(rows) == 5000
    assert manifest["source"]["engine"] == "dbapi" and manifest["source"]["conn_id"] == "mysql_test"
    types = {c["name"]: c["type"] for c in manifest["schema"]}
    assert types["order_id"] == "int64" and types["updated_at"] == "timestamp[us]"
    assert types["amount"].startswith("decimal128")
    assert sorted(rows, key=lambda r: r["order_id"])[-1]["amount"] == 7500


@pytest.mark.parametrize("client", CLIENTS)
def test_mysql_cursor_streams_from_the_server(mariadb, monkeypatch: pytest.MonkeyPatch, client: str) -> None:
    """An unbuffered cursor leaves the rest of the result on the server: the connection cannot run
    another statement until it is read (a buffered cursor would have read it all already)."""
    from airflow.sdk import BaseHook

    connect(monkeypatch, mariadb, client)
    conn = BaseHook.get_connection("mysql_test").get_hook().get_conn()
    try:
        cursor = mysql_streaming_cursor(conn)
        cursor.execute("SELECT * FROM orders")
        assert len(cursor.fetchmany(10)) == 10
        with pytest.raises(Exception, match=r"(?i)unread result|out of sync"):
            other = conn.cursor()
            other.execute("SELECT 1")
            other.fetchall()
    finally:
        conn.close()


def test_mysql_incremental_picks_up_only_new_rows(s3_lake, mariadb, monkeypatch: pytest.MonkeyPatch) -> None:
    connect(monkeypatch, mariadb)
    mariadb.sql(
        "CREATE TABLE events (id int, at datetime)",
        "INSERT INTO events VALUES (1, '2026-11-19 10:00:00'), (2, '2026-11-19 11:00:00')",
        database=mariadb.database,
    )
    incremental = {"query": "SELECT * FROM events", "incremental_column": "at", "incremental_initial": "2026-01-01"}
    _, first, rows = run(s3_lake, "2026-11-19", **incremental)
    assert [r["id"] for r in rows] == [1, 2]
    assert first["watermark"] == {"column": "at", "low": "2026-01-01", "high": "2026-11-19 11:00:00", "reset": False}
    mariadb.sql("INSERT INTO events VALUES (3, '2026-11-20 09:00:00')", database=mariadb.database)
    for _ in range(2):  # a re-run of the same date extracts the same slice
        _, second, rows = run(s3_lake, "2026-11-20", **incremental)
        assert [r["id"] for r in rows] == [3]
        assert second["watermark"]["low"] == "2026-11-19 11:00:00"
        assert second["watermark"]["high"] == "2026-11-20 09:00:00"


def test_mysql_bad_password_names_the_source_and_the_step(s3_lake, mariadb, monkeypatch: pytest.MonkeyPatch) -> None:
    connect(monkeypatch, mariadb, password="wrong")
    # wrong credentials do not get better by retrying: the class fails without retry, the message unchanged
    with pytest.raises(
        AirflowFailException, match=r"^\[connect source 'orders' \(connection 'mysql_test'\)\].*Access denied"
    ) as info:
        run(s3_lake)
    assert "wrong" not in str(info.value) and info.value.kind == "source_auth_failed"
