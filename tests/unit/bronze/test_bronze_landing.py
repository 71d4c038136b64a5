"""Bronze landing against a real S3 server (moto) and real SQLite and PostgreSQL sources, through the operator.

Partition contents, manifest fields, idempotent re-runs, schema drift, empty extracts and the
faults: source unreachable, query error, S3 down (nothing partial visible, a retry succeeds).
"""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import boto3
import pyarrow.parquet as pq
import pytest
from airflow.sdk.exceptions import AirflowFailException
from moto.server import ThreadedMotoServer

from medallion.bronze.operator import LandSqlSourceOperator
from medallion.errors import StepError
from medallion.local.service import free_port

BUCKET = "lake-test"
PARTITION = "bronze/shop/orders/ds=2026-11-20/"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ThreadedMotoServer, object, int]]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_TEST",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "k",
                "password": "s",
                "extra": {"region_name": "us-east-1", "endpoint_url": f"http://127.0.0.1:{port}"},
            }
        ),
    )
    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",
    )
    client.create_bucket(Bucket=BUCKET)
    try:
        yield server, client, port
    finally:
        server.stop()


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "src.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE orders (order_id INTEGER, amount REAL, status TEXT)")
    con.executemany("INSERT INTO orders VALUES (?,?,?)", [(i, i * 1.5, "paid") for i in range(2500)])
    con.commit()
    con.close()
    monkeypatch.setenv("AIRFLOW_CONN_SRC_TEST", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    return db


def operator(query: str = "SELECT * FROM orders", **kwargs) -> LandSqlSourceOperator:
    return LandSqlSourceOperator(
        task_id="extract_orders",
        source_name="orders",
        conn_id="src_test",
        query=query,
        bucket=BUCKET,
        partition_key=PARTITION,
        aws_conn_id="aws_test",
        batch_rows=1000,
        **kwargs,
    )


def context(try_number: int = 1) -> dict:
    pushed: dict = {}
    ti = SimpleNamespace(
        dag_id="shop_orders",
        task_id="bronze.extract_orders",
        try_number=try_number,
        pushed=pushed,
        xcom_push=lambda key, value: pushed.__setitem__(key, value),
    )
    return {"ti": ti, "run_id": "manual__2026-11-20", "ds": "2026-11-20"}


def keys(client) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=PARTITION).get("Contents", []))


def manifest(client) -> dict:
    return json.loads(client.get_object(Bucket=BUCKET, Key=PARTITION + "_manifest.json")["Body"].read())


def read_rows(client, m: dict) -> int:
    return sum(
        pq.read_table(io.BytesIO(client.get_object(Bucket=BUCKET, Key=f.split("/", 3)[3])["Body"].read())).num_rows
        for f in m["files"]
    )


def test_lands_a_committed_partition_with_manifest(s3, source) -> None:
    _, client, port = s3
    ctx = context()
    result = operator().execute(ctx)
    assert (
        ctx["ti"].pushed["bronze_partition_url"] == f"http://127.0.0.1:{port}/{BUCKET}/{PARTITION.replace('=', '%3D')}"
    )
    m = manifest(client)
    assert result["rows"] == m["row_count"] == read_rows(client, m) == 2500
    assert m["source"]["query"] == "SELECT * FROM orders" and m["run_id"] == "manual__2026-11-20"
    assert m["logical_date"] == "2026-11-20" and m["bytes"] > 0 and len(m["checksum"]) == 64
    assert [c["name"] for c in m["schema"]] == ["order_id", "amount", "status"]
    assert keys(client) == sorted([PARTITION + "_manifest.json"] + [f.split("/", 3)[3] for f in m["files"]])


def test_three_reruns_replace_the_partition_without_duplicates(s3, source) -> None:
    _, client, _ = s3
    for attempt in range(1, 4):
        operator().execute(context(attempt))
        m = manifest(client)
        assert m["try_number"] == attempt and read_rows(client, m) == 2500
        assert len(keys(client)) == 2  # one data file + the manifest: old files are gone


def test_schema_drift_is_reported(s3, source) -> None:
    _, client, _ = s3
    operator().execute(context())
    result = operator("SELECT order_id, CAST(amount AS TEXT) AS amount, 1 AS channel FROM orders").execute(context(2))
    assert result["schema_drift"] == {
        "added": ["channel"],
        "removed": ["status"],
        "retyped": {"amount": "double → string"},
    }
    assert manifest(client)["schema_drift"] == result["schema_drift"]


@pytest.mark.parametrize("on_empty", ["warn", "allow"])
def test_empty_extract_is_explicit(s3, source, on_empty: str) -> None:
    _, client, _ = s3
    result = operator("SELECT * FROM orders WHERE 1 = 0", on_empty=on_empty).execute(context())
    assert result["rows"] == 0 and manifest(client)["row_count"] == 0


def test_empty_extract_fails_by_default(s3, source) -> None:
    with pytest.raises(AirflowFailException, match=r"\[extract orders\] the extract .* returned no rows") as info:
        operator("SELECT * FROM orders WHERE 1 = 0").execute(context())
    assert info.value.kind == "empty_extract"  # not retried: the source has no rows for this date


def test_source_unreachable_names_source_and_step(s3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SRC_TEST", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "missing/dir/db.sqlite")})
    )
    with pytest.raises(StepError, match=r"^\[(connect|extract) source 'orders' \(connection 'src_test'\)\]"):
        operator().execute(context())


def test_query_error_names_the_step(s3, source) -> None:
    with pytest.raises(AirflowFailException, match=r"^\[extract source 'orders'.*no such column: nope") as info:
        operator("SELECT nope FROM orders").execute(context())
    assert info.value.kind == "query_error"


def test_s3_down_during_commit_leaves_the_previous_partition_and_a_retry_succeeds(s3, source) -> None:
    server, client, port = s3
    operator().execute(context())
    before = manifest(client)
    con = sqlite3.connect(source)
    con.execute("INSERT INTO orders VALUES (9999, 1.0, 'paid')")
    con.commit()
    con.close()

    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    original = S3Hook.load_string

    def s3_goes_away(self, *args, **kwargs):  # data files uploaded, then S3 dies before the manifest
        server.stop()
        return original(self, *args, **kwargs)

    S3Hook.load_string = s3_goes_away
    try:
        with pytest.raises(StepError, match=rf"^\[commit manifest lake s3://{BUCKET}/{PARTITION} .*\] EndpointConnect"):
            operator().execute(context(2))
    finally:
        S3Hook.load_string = original
    restarted = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    restarted.start()  # moto keeps its state in-process: same bucket, same objects
    try:
        assert manifest(client) == before and read_rows(client, before) == 2500  # readers see the old data only
        operator().execute(context(3))
        after = manifest(client)
        assert read_rows(client, after) == 2501 and len(keys(client)) == 2  # orphan from the failed try removed
    finally:
        restarted.stop()


def partition_for(ds: str) -> str:
    return f"bronze/shop/orders/ds={ds}/"


def run_incremental(ds: str, *, reset: bool = False, try_number: int = 1, **overrides) -> dict:
    args = {
        "conn_id": "src_test",
        "query": "SELECT * FROM orders",
        "incremental_column": "order_id",
        "incremental_initial": -1,
    }
    op = LandSqlSourceOperator(
        task_id="extract_orders",
        source_name="orders",
        bucket=BUCKET,
        partition_key=partition_for(ds),
        aws_conn_id="aws_test",
        batch_rows=1000,
        on_empty="allow",
        **(args | overrides),
    )
    ctx = context(try_number) | {"ds": ds, "params": {"reset_watermark": reset}}
    return op.execute(ctx)


def add_orders(db: Path, ids: range) -> None:
    con = sqlite3.connect(db)
    con.executemany("INSERT INTO orders VALUES (?,?,?)", [(i, 1.0, "paid") for i in ids])
    con.commit()
    con.close()


def test_incremental_runs_pick_up_only_new_rows_and_reruns_are_stable(s3, source) -> None:
    first = run_incremental("2026-11-20")
    assert first["rows"] == 2500 and first["watermark"] == {
        "column": "order_id",
        "low": -1,
        "high": 2499,
        "reset": False,
    }
    add_orders(source, range(2500, 2600))
    second = run_incremental("2026-11-21")
    assert second["rows"] == 100 and second["watermark"]["low"] == 2499 and second["watermark"]["high"] == 2599
    assert run_incremental("2026-11-21", try_number=2)["rows"] == 100  # a re-run of a date re-extracts its slice
    third = run_incremental("2026-11-22")
    assert third["rows"] == 0 and third["watermark"]["high"] == 2599  # nothing new: watermark kept


def test_watermark_reset_re_extracts_everything(s3, source) -> None:
    run_incremental("2026-11-20")
    add_orders(source, range(2500, 2510))
    assert run_incremental("2026-11-21", reset=True)["rows"] == 2510


def pg_exec(server, *statements: str) -> None:
    con = server.connect()
    with con, con.cursor() as cur:
        for statement in statements:
            cur.execute(statement)
    con.close()


@pytest.fixture(scope="module")
def postgres() -> Iterator[object]:
    from medallion.local.postgres import PostgresServer, pg_bin

    if pg_bin() is None:
        pytest.skip("PostgreSQL binaries are not installed")
    with PostgresServer() as server:
        pg_exec(
            server,
            "CREATE TABLE orders (order_id bigint, amount numeric(12,2), status text, updated_at timestamp)",
            "INSERT INTO orders SELECT g, g * 1.5, 'paid', timestamp '2026-11-01' + g * interval '1 minute' "
            "FROM generate_series(1, 5000) g",
            # every type family a source table commonly has, and a row of NULLs
            "CREATE TABLE typed (id int, amount numeric(12,2), ratio numeric, big numeric(50,4), price float8, "
            "created_at timestamptz, local_at timestamp, day date, note text, code varchar(8), paid bool, "
            "ref uuid, doc jsonb, tags text[])",
            "INSERT INTO typed VALUES (1, 12.34, 0.125, 123456789012345678901234567890123456789012.5, 2.5, "
            "'2026-11-20 10:00+02', '2026-11-20 10:00', '2026-11-20', 'héllo', 'A1', true, "
            "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": 1}', '{x,y}'), "
            "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        )
        yield server


def pg_operator(
    monkeypatch: pytest.MonkeyPatch, server, password: str | None = None, **kwargs
) -> LandSqlSourceOperator:
    monkeypatch.setenv("AIRFLOW_CONN_PG_TEST", json.dumps(server.connection_json(password)))
    return LandSqlSourceOperator(
        task_id="extract_orders",
        source_name="orders",
        conn_id="pg_test",
        bucket=BUCKET,
        partition_key=PARTITION,
        aws_conn_id="aws_test",
        batch_rows=1000,
        **({"query": "SELECT * FROM orders"} | kwargs),
    )


def landed_table(client, m: dict):
    import pyarrow as pa

    return pa.concat_tables(
        pq.read_table(io.BytesIO(client.get_object(Bucket=BUCKET, Key=f.split("/", 3)[3])["Body"].read()))
        for f in m["files"]
    )


def test_postgres_native_engine_lands_exact_types(s3, postgres, monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt
    import decimal
    import hashlib

    _, client, _ = s3
    result = pg_operator(monkeypatch, postgres, query="SELECT * FROM typed ORDER BY id;").execute(context())
    m = manifest(client)
    assert m["source"]["engine"] == "duckdb_postgres" and m["source"]["query"] == "SELECT * FROM typed ORDER BY id;"
    assert {c["name"]: c["type"] for c in m["schema"]} == {
        "id": "int32",
        "amount": "decimal128(12, 2)",
        "ratio": "decimal128(38, 10)",  # unconstrained numeric: as the DB-API path, never double
        "big": "string",  # wider than decimal128 holds: lossless text
        "price": "double",
        "created_at": "timestamp[us, tz=UTC]",
        "local_at": "timestamp[us]",
        "day": "date32[day]",
        "note": "string",
        "code": "string",
        "paid": "bool",
        "ref": "string",  # uuid/json: text, which Spark reads (it cannot read parquet UUID)
        "doc": "string",
        "tags": "list<element: string>",
    }
    rows = landed_table(client, m).to_pylist()
    assert result["rows"] == m["row_count"] == len(rows) == 2
    assert rows[0] == {
        "id": 1,
        "amount": decimal.Decimal("12.34"),
        "ratio": decimal.Decimal("0.1250000000"),
        "big": "123456789012345678901234567890123456789012.5000",
        "price": 2.5,
        "created_at": dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC),
        "local_at": dt.datetime(2026, 11, 20, 10, 0),
        "day": dt.date(2026, 11, 20),
        "note": "héllo",
        "code": "A1",
        "paid": True,
        "ref": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "doc": '{"a": 1}',
        "tags": ["x", "y"],
    }
    assert rows[1] == {name: (2 if name == "id" else None) for name in rows[1]}
    (detail,) = m["file_details"]
    body = client.get_object(Bucket=BUCKET, Key=detail["key"])["Body"].read()
    assert detail["sha256"] == hashlib.sha256(body).hexdigest() and detail["bytes"] == len(body) == m["bytes"]
    assert keys(client) == sorted([PARTITION + "_manifest.json", detail["key"]])


def test_postgres_native_schema_is_stable_between_runs_and_when_empty(
    s3, postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, client, _ = s3
    first = pg_operator(monkeypatch, postgres, query="SELECT * FROM typed").execute(context())
    again = pg_operator(monkeypatch, postgres, query="SELECT * FROM typed").execute(context(2))
    empty = pg_operator(monkeypatch, postgres, query="SELECT * FROM typed WHERE false", on_empty="allow")
    assert again["schema"] == first["schema"] and again["schema_drift"] == {}
    result = empty.execute(context(3))  # an empty extract keeps its declared types: no drift either
    assert result["rows"] == 0 and result["schema"] == first["schema"] and result["schema_drift"] == {}
    assert manifest(client)["row_count"] == 0


def test_postgres_native_three_reruns_replace_the_partition(s3, postgres, monkeypatch: pytest.MonkeyPatch) -> None:
    _, client, _ = s3
    for attempt in range(1, 4):
        pg_operator(monkeypatch, postgres).execute(context(attempt))
        m = manifest(client)
        assert m["try_number"] == attempt and m["row_count"] == read_rows(client, m) == 5000
        assert len(keys(client)) == 2  # one data file + the manifest: old files are gone


def test_postgres_native_incremental_picks_up_only_new_rows(s3, postgres, monkeypatch: pytest.MonkeyPatch) -> None:
    _, client, _ = s3
    pg_exec(postgres, "CREATE TABLE events AS SELECT * FROM orders WHERE order_id <= 3000")
    monkeypatch.setenv("AIRFLOW_CONN_PG_TEST", json.dumps(postgres.connection_json()))
    run = {
        "conn_id": "pg_test",
        "query": "SELECT * FROM events",
        "incremental_column": "updated_at",
        "incremental_initial": "1970-01-01",
    }
    first = run_incremental("2026-11-20", **run)
    assert first["rows"] == 3000 and first["watermark"]["high"] == "2026-11-03 02:00:00"  # 3000 minutes
    pg_exec(postgres, "INSERT INTO events SELECT * FROM orders WHERE order_id > 3000 AND order_id <= 3100")
    second = run_incremental("2026-11-21", **run)
    assert second["rows"] == 100 and second["watermark"]["low"] == "2026-11-03 02:00:00"
    assert second["watermark"]["high"] == "2026-11-03 03:40:00"
    m = json.loads(client.get_object(Bucket=BUCKET, Key=partition_for("2026-11-21") + "_manifest.json")["Body"].read())
    assert (
        m["source"]["query"].endswith("WHERE updated_at > '2026-11-03 02:00:00'")
        and m["watermark"] == second["watermark"]
    )
    ids = landed_table(client, m).column("order_id").to_pylist()
    assert sorted(ids) == list(range(3001, 3101))
    third = run_incremental("2026-11-22", **run)
    assert third["rows"] == 0 and third["watermark"]["high"] == "2026-11-03 03:40:00"  # nothing new: kept


def test_postgres_dbapi_engine_streams_with_a_server_side_cursor(s3, postgres, monkeypatch: pytest.MonkeyPatch) -> None:
    _, client, _ = s3
    result = pg_operator(monkeypatch, postgres, incremental_column="updated_at", engine="dbapi").execute(context())
    m = manifest(client)
    assert result["rows"] == read_rows(client, m) == 5000 and m["source"]["engine"] == "dbapi"
    assert {c["name"]: c["type"] for c in m["schema"]}["updated_at"].startswith("timestamp")
    assert m["watermark"]["high"] == "2026-11-04 11:20:00"  # 5000 minutes after 2026-11-01


@pytest.mark.parametrize("engine", ["auto", "dbapi"])
def test_postgres_bad_credentials_name_the_source_and_the_step(
    s3, postgres, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    with pytest.raises(
        AirflowFailException, match=r"^\[connect source 'orders' \(connection 'pg_test'\)\].*password authentication"
    ) as info:
        pg_operator(monkeypatch, postgres, password="wrong-secret", engine=engine).execute(context())
    assert "wrong-secret" not in str(info.value) and info.value.kind == "source_auth_failed"


def test_postgres_unreachable_names_the_source_and_the_step(s3, postgres, monkeypatch: pytest.MonkeyPatch) -> None:
    op = pg_operator(monkeypatch, postgres)
    monkeypatch.setenv("AIRFLOW_CONN_PG_TEST", json.dumps(postgres.connection_json() | {"port": free_port()}))
    with pytest.raises(StepError, match=r"^\[connect source 'orders' \(connection 'pg_test'\)\].*Connection refused"):
        op.execute(context())


def test_postgres_query_error_names_the_step(s3, postgres, monkeypatch: pytest.MonkeyPatch) -> None:
    _, client, _ = s3
    before = keys(client)  # (moto keeps objects across tests of one session)
    with pytest.raises(
        AirflowFailException, match=r"^\[extract source 'orders'.*column \"nope\" does not exist"
    ) as info:
        pg_operator(monkeypatch, postgres, query="SELECT nope FROM orders").execute(context())
    assert "run it by hand" in info.value.hint and keys(client) == before  # nothing landed


def test_duckdb_attach_errors_never_show_the_password(postgres) -> None:
    from types import SimpleNamespace as Conn

    from medallion.bronze.pg_extract import open_duckdb

    conn = Conn(
        conn_type="postgres",
        host="127.0.0.1",
        port=postgres.port,
        schema=postgres.database,
        login=postgres.user,
        password="not-the-password",
        extra_dejson={"application_name": "medallion test"},
    )
    with pytest.raises(Exception, match="password authentication failed") as info:
        open_duckdb(conn)
    assert "not-the-password" not in str(info.value)
    with open_duckdb(Conn(**{**vars(conn), "password": postgres.password})) as duck:
        assert duck.execute("SELECT * FROM postgres_query('medallion_src', 'SELECT 41 + 1')").fetchone() == (42,)


def test_native_engine_is_chosen_by_connection_type_and_never_gets_the_password_in_its_dsn() -> None:
    from types import SimpleNamespace as Conn

    from medallion.bronze.pg_extract import libpq_dsn, supports

    pg = Conn(
        conn_type="postgres",
        host="db.internal",
        port=5433,
        schema="shop",
        login="etl",
        password="s3cret",
        extra_dejson={"sslmode": "require", "cursor": "dictcursor", "application_name": "medallion bronze"},
    )
    assert supports(pg)
    assert not supports(Conn(**{**vars(pg), "extra_dejson": {"iam": True}}))  # IAM tokens: only the hook mints them
    assert not supports(Conn(**{**vars(pg), "conn_type": "mysql"}))
    assert libpq_dsn(pg) == (
        "host=db.internal port=5433 dbname=shop user=etl connect_timeout=30 sslmode=require "
        "application_name='medallion bronze'"
    )
