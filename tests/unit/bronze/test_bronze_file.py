"""File sources (CSV, JSON lines, parquet) landed through the commit protocol, read from a local
folder, an S3 prefix on the local S3 server, and a real OpenSSH SFTP server the tests start."""

from __future__ import annotations

import decimal
import gzip
import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from airflow.sdk.exceptions import AirflowFailException
from pydantic import ValidationError

from medallion.bronze.file_extract import glob_match
from medallion.bronze.operator import LandFileSourceOperator
from medallion.errors import StepError
from medallion.local.sftp import SSHD, SftpServer, sshd_available
from medallion.spec.models import FileSource

DS = "2026-11-20"
ORDERS_CSV = "order_id;amount;sold_at;note\n1;10.50;2026-11-20 08:00:00;first\n2;3.25;2026-11-20 09:30:00;\n"
MORE_CSV = 'order_id;amount;sold_at;note\n3;7.00;2026-11-20 10:00:00;"semi;colon"\n'
ORDER_TYPES = {"order_id": "bigint", "amount": "decimal(12,2)", "sold_at": "timestamp"}


def partition(ds: str = DS) -> str:
    return f"bronze/shop/orders/ds={ds}/"


def context(ds: str = DS, try_number: int = 1) -> dict:
    ti = SimpleNamespace(
        dag_id="shop_files", task_id="bronze.extract_orders", try_number=try_number, xcom_push=lambda **_: None
    )
    return {"ti": ti, "run_id": f"manual__{ds}", "ds": ds, "ds_nodash": ds.replace("-", "")}


def operator(bucket: str, **kwargs) -> LandFileSourceOperator:
    args = {"storage": "local", "conn_id": None, "format": "csv", "pattern": "*"} | kwargs
    return LandFileSourceOperator(
        task_id="extract_orders",
        source_name="orders",
        bucket=bucket,
        aws_conn_id="aws_test",
        partition_key=partition("{{ ds }}"),
        batch_rows=1000,
        **args,
    )


def land(lake: SimpleNamespace, ds: str = DS, try_number: int = 1, **kwargs) -> dict:
    op = operator(lake.bucket, **kwargs)
    ctx = context(ds, try_number)
    op.render_template_fields(ctx)
    return op.execute(ctx)


def manifest(lake: SimpleNamespace, ds: str = DS) -> dict:
    return json.loads(lake.client.get_object(Bucket=lake.bucket, Key=partition(ds) + "_manifest.json")["Body"].read())


def landed(lake: SimpleNamespace, m: dict) -> pa.Table:
    return pa.concat_tables(
        pq.read_table(io.BytesIO(lake.client.get_object(Bucket=lake.bucket, Key=f.split("/", 3)[3])["Body"].read()))
        for f in m["files"]
    )


def keys(lake: SimpleNamespace, ds: str = DS) -> list[str]:
    return sorted(
        o["Key"] for o in lake.client.list_objects_v2(Bucket=lake.bucket, Prefix=partition(ds)).get("Contents", [])
    )


@pytest.fixture(autouse=True)
def file_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Local file sources read only inside MEDALLION_FILE_ROOTS: here, the test's own folder."""
    monkeypatch.setenv("MEDALLION_FILE_ROOTS", str(tmp_path))


@pytest.fixture
def orders_dir(tmp_path: Path) -> Path:
    """``<tmp>/in/2026-11-20``: two semicolon CSVs (one gzipped) and a file the pattern skips."""
    folder = tmp_path / "in" / DS
    folder.mkdir(parents=True)
    (folder / "orders_a.csv").write_text(ORDERS_CSV)
    (folder / "orders_b.csv.gz").write_bytes(gzip.compress(MORE_CSV.encode()))
    (folder / "README.txt").write_text("not data")
    return folder


def test_local_csv_with_explicit_types_lands_partition_and_manifest(s3_lake, orders_dir: Path) -> None:
    result = land(
        s3_lake,
        path=str(orders_dir.parent) + "/{{ ds }}",
        pattern="orders_*.csv*",
        csv={"delimiter": ";"},
        columns=ORDER_TYPES,
    )
    m = manifest(s3_lake)
    table = landed(s3_lake, m)
    assert result["rows"] == m["row_count"] == table.num_rows == 3
    assert table.column("order_id").to_pylist() == [1, 2, 3]
    assert table.column("amount").to_pylist() == [
        decimal.Decimal("10.50"),
        decimal.Decimal("3.25"),
        decimal.Decimal("7.00"),
    ]
    assert table.column("note").to_pylist() == ["first", None, "semi;colon"]  # quoted delimiter, empty → null
    assert {c["name"]: c["type"] for c in m["schema"]} == {
        "order_id": "int64",
        "amount": "decimal128(12, 2)",
        "sold_at": "timestamp[us]",
        "note": "string",
    }
    source = m["source"]
    assert source | {"source_files": None} == {
        "name": "orders",
        "kind": "file",
        "conn_id": None,
        "storage": "local",
        "path": f"{orders_dir}",
        "pattern": "orders_*.csv*",
        "format": "csv",
        "source_files": None,
    }
    files = source["source_files"]
    assert [(Path(f["uri"]).name, f["rows"]) for f in files] == [("orders_a.csv", 2), ("orders_b.csv.gz", 1)]
    assert [f["bytes"] for f in files] == [(orders_dir / n).stat().st_size for n in ("orders_a.csv", "orders_b.csv.gz")]
    assert all(f["modified"] for f in files)
    assert m["logical_date"] == DS and m["bytes"] > 0 and len(m["checksum"]) == 64


def test_three_reruns_replace_the_partition_without_duplicates(s3_lake, orders_dir: Path) -> None:
    for attempt in (1, 2, 3):
        land(
            s3_lake,
            try_number=attempt,
            path=str(orders_dir),
            pattern="*.csv*",
            csv={"delimiter": ";"},
            columns=ORDER_TYPES,
        )
        m = manifest(s3_lake)
        assert m["try_number"] == attempt
        assert keys(s3_lake) == sorted([partition() + "_manifest.json", *(f.split("/", 3)[3] for f in m["files"])])
        assert landed(s3_lake, m).column("order_id").to_pylist() == [1, 2, 3]


def test_jsonl_from_an_s3_prefix_picks_the_run_dates_files(s3_lake) -> None:
    rows = [{"id": 1, "price": "1.50", "tags": ["a"]}, {"id": 2, "price": 2, "tags": []}]
    body = "\n".join(json.dumps(r) for r in rows) + "\n"
    s3_lake.client.put_object(Bucket=s3_lake.bucket, Key=f"landing/events/{DS}/part-1.jsonl", Body=body.encode())
    s3_lake.client.put_object(
        Bucket=s3_lake.bucket,
        Key=f"landing/events/{DS}/part-2.jsonl.gz",
        Body=gzip.compress(b'{"id": 3, "price": 9.99}\n'),
    )
    s3_lake.client.put_object(Bucket=s3_lake.bucket, Key="landing/events/2026-11-19/part-1.jsonl", Body=b'{"id": 99}\n')
    result = land(
        s3_lake,
        storage="s3",
        conn_id=s3_lake.conn_id,
        format="jsonl",
        path=f"s3://{s3_lake.bucket}/landing/events/{{{{ ds }}}}/",
        pattern="*.jsonl*",
        columns={"price": "decimal(10,2)"},
    )
    m = manifest(s3_lake)
    table = landed(s3_lake, m).sort_by("id")
    assert result["rows"] == 3
    assert table.column("id").to_pylist() == [1, 2, 3]
    assert table.column("price").to_pylist() == [decimal.Decimal(v) for v in ("1.50", "2.00", "9.99")]
    assert table.column("tags").to_pylist() == [["a"], [], None]  # absent in the second file → null
    files = m["source"]["source_files"]
    assert [f["uri"] for f in files] == [
        f"s3://{s3_lake.bucket}/landing/events/{DS}/part-1.jsonl",
        f"s3://{s3_lake.bucket}/landing/events/{DS}/part-2.jsonl.gz",
    ]
    head = s3_lake.client.head_object(Bucket=s3_lake.bucket, Key=f"landing/events/{DS}/part-1.jsonl")
    assert files[0]["etag"] == head["ETag"].strip('"') and files[0]["bytes"] == head["ContentLength"]


def test_parquet_files_in_nested_folders(s3_lake, tmp_path: Path) -> None:
    (tmp_path / "a" / "z").mkdir(parents=True)
    pq.write_table(pa.table({"id": [1, 2], "city": ["Lisbon", "Porto"]}), tmp_path / "a" / "one.parquet")
    pq.write_table(pa.table({"id": pa.array([3], pa.int32())}), tmp_path / "a" / "z" / "two.parquet")
    pq.write_table(pa.table({"id": [100]}), tmp_path / "top.parquet")  # outside a/
    land(s3_lake, format="parquet", path=str(tmp_path), pattern="a/**/*.parquet")
    m = manifest(s3_lake)
    table = landed(s3_lake, m)
    assert table.to_pylist() == [
        {"id": 1, "city": "Lisbon"},
        {"id": 2, "city": "Porto"},
        {"id": 3, "city": None},  # int32 widened to the first file's int64; missing column → null
    ]
    assert [Path(f["uri"]).name for f in m["source"]["source_files"]] == ["one.parquet", "two.parquet"]


def test_csv_without_header_takes_names_from_columns(s3_lake, tmp_path: Path) -> None:
    (tmp_path / "x.tsv").write_text("1\tLisbon\n2\tPorto\n")
    land(
        s3_lake,
        path=str(tmp_path / "x.tsv"),
        csv={"delimiter": "\t", "header": False},
        columns={"id": "int32", "city": "text"},
    )
    table = landed(s3_lake, manifest(s3_lake))
    assert table.schema == pa.schema([("id", pa.int32()), ("city", pa.string())])
    assert table.num_rows == 2


@pytest.mark.parametrize("on_empty", ["warn", "allow"])
def test_no_matching_file_is_an_explicit_empty_extract(s3_lake, tmp_path: Path, on_empty: str) -> None:
    result = land(s3_lake, path=str(tmp_path / "missing" / "{{ ds }}"), on_empty=on_empty, columns=ORDER_TYPES)
    m = manifest(s3_lake)
    assert result["rows"] == m["row_count"] == 0 and m["source"]["source_files"] == []
    assert [c["name"] for c in m["schema"]] == list(ORDER_TYPES)


def test_no_matching_file_fails_by_default(s3_lake, orders_dir: Path) -> None:
    with pytest.raises(AirflowFailException) as caught:
        land(s3_lake, path=str(orders_dir), pattern="*.parquet")
    assert caught.value.kind == "empty_extract" and "returned no rows" in str(caught.value)
    assert keys(s3_lake) == []


def test_unparseable_file_names_the_step_and_the_file(s3_lake, orders_dir: Path) -> None:
    (orders_dir / "orders_c.csv").write_text("order_id;amount;sold_at;note\nnot-a-number;1;2026-11-20 10:00:00;x\n")
    bad = orders_dir / "orders_c.csv"
    with pytest.raises(
        AirflowFailException, match=rf"^\[read source 'orders' \(local files\) {bad}\] ArrowInvalid: .*int64"
    ) as caught:
        land(s3_lake, path=str(orders_dir), pattern="*.csv*", csv={"delimiter": ";"}, columns=ORDER_TYPES)
    assert caught.value.kind == "source_file_unreadable"  # a bad file stays bad: not retried
    assert keys(s3_lake) == []  # nothing committed


def test_files_that_disagree_on_columns_fail_naming_the_file(s3_lake, tmp_path: Path) -> None:
    (tmp_path / "1.csv").write_text("id,name\n1,a\n")
    (tmp_path / "2.csv").write_text("id,name,surprise\n2,b,c\n")
    with pytest.raises(AirflowFailException, match=r"^\[read source 'orders' \(local files\) .*2\.csv\].*'surprise'"):
        land(s3_lake, path=str(tmp_path))


def test_unreachable_s3_is_a_list_error(s3_lake, monkeypatch: pytest.MonkeyPatch) -> None:
    from medallion.local.service import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DOWN",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "k",
                "password": "s",
                "extra": {
                    "region_name": "us-east-1",
                    "endpoint_url": endpoint,
                    "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 2},
                },
            }
        ),
    )
    with pytest.raises(
        StepError, match=r"^\[list files source 'orders' \(connection 'aws_down'\) s3://src/in/ \(\*\)\]"
    ):
        land(s3_lake, storage="s3", conn_id="aws_down", path="s3://src/in/")


@pytest.fixture(scope="module")
def sftp() -> Iterator[SftpServer]:
    if not sshd_available():
        pytest.skip(f"OpenSSH server ({SSHD}) is not installed: the SFTP tests need a real sshd")
    with SftpServer() as server:
        yield server


def test_csv_over_sftp(s3_lake, sftp: SftpServer, orders_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SFTP_TEST", json.dumps(sftp.connection_json()))
    land(
        s3_lake,
        storage="sftp",
        conn_id="sftp_test",
        path=str(orders_dir.parent / "{{ ds }}"),
        pattern="*.csv*",
        csv={"delimiter": ";"},
        columns=ORDER_TYPES,
    )
    m = manifest(s3_lake)
    assert landed(s3_lake, m).column("order_id").to_pylist() == [1, 2, 3]
    files = m["source"]["source_files"]
    assert [f["uri"] for f in files] == [
        f"sftp://127.0.0.1{orders_dir}/{n}" for n in ("orders_a.csv", "orders_b.csv.gz")
    ]
    assert files[0]["bytes"] == len(ORDERS_CSV) and files[0]["rows"] == 2
    assert m["source"]["conn_id"] == "sftp_test" and m["source"]["storage"] == "sftp"


def test_sftp_rejected_key_is_a_connect_error(
    s3_lake, sftp: SftpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    monkeypatch.setenv("AIRFLOW_CONN_SFTP_TEST", json.dumps(sftp.connection_json(key_file=stranger)))
    # a rejected key does not get better by retrying: the class fails without retry, the message unchanged
    with pytest.raises(
        AirflowFailException, match=r"^\[connect source 'orders' \(connection 'sftp_test'\)\] .*Authentication"
    ) as info:
        land(s3_lake, storage="sftp", conn_id="sftp_test", path="/tmp")
    assert info.value.kind == "source_auth_failed"


def test_glob_patterns() -> None:
    assert glob_match("*.csv", "a.csv") and not glob_match("*.csv", "sub/a.csv")
    assert glob_match("**/*.csv", "a.csv") and glob_match("**/*.csv", "x/y/a.csv")
    assert glob_match("orders_2026112?.csv.gz", "orders_20261120.csv.gz")
    assert not glob_match("orders.csv", "orders_csv")  # the dot is literal


def test_spec_file_source_validation() -> None:
    base = {"kind": "file", "name": "orders", "format": "csv"}
    assert FileSource(**base, path="s3://b/in/", conn_id="aws_lake").storage == "s3"
    assert FileSource(**base, path="/data/in").storage == "local"
    for bad, message in [
        ({"path": "s3://b/in/"}, "needs conn_id"),
        ({"path": "/data", "conn_id": "x"}, "takes no conn_id"),
        ({"path": "/data", "storage": "s3", "conn_id": "x"}, "s3://bucket"),
        ({"path": "/data", "csv": {"delimiter": ";;"}}, "at most 1 character"),
        ({"path": "/data", "columns": {"a": "bigintt"}}, "should match pattern"),
        ({"path": "/data", "delimiter": ";"}, "Extra inputs are not permitted"),
    ]:
        with pytest.raises(ValidationError, match=message):
            FileSource(**base | bad)
    with pytest.raises(ValidationError, match="format: csv only"):
        FileSource(**base | {"format": "jsonl", "path": "/d", "csv": {}})


def test_file_source_in_a_spec_builds_the_file_task(dag_with_customers_source) -> None:
    dag = dag_with_customers_source(
        """    - kind: file
      name: customers
      conn_id: aws_lake
      path: "s3://partner-drop/customers/{{ ds }}/"
      pattern: "*.csv.gz"
      format: csv
      csv: {delimiter: ";"}
      columns: {customer_id: bigint, signup_date: date}""",
    )
    task = dag.task_dict["bronze.extract_customers"]
    assert isinstance(task, LandFileSourceOperator)
    assert (task.storage, task.format, task.csv["delimiter"], task.columns) == (
        "s3",
        "csv",
        ";",
        {"customer_id": "bigint", "signup_date": "date"},
    )
    assert {"path", "pattern"} <= set(task.template_fields)
    assert "csv files `*.csv.gz` in s3 `s3://partner-drop/customers/{{ ds }}/` on connection `aws_lake`" in dag.doc_md
