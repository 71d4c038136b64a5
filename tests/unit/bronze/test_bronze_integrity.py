"""The bronze verify step checks every landed file against its manifest before anything reads it.

Real parts: both sources of the example pipeline land from a SQLite shop through the bronze
operator into moto S3 (the overlay's ``aws_lake``), then the real ``bronze.verify`` step runs and
hands the real bronze gate the files it validates (Great Expectations on DuckDB). Corruption is
done to the objects in moto, as another writer (or a person) would do it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException

from medallion import layout
from medallion.alerts.notifier import build_failure_alert
from medallion.bronze.operator import LandSqlSourceOperator
from medallion.bronze.verify import BronzeVerifyOperator
from medallion.failures import classify, load_catalog
from medallion.quality.contract import layer_checks
from medallion.quality.operator import QualityGateOperator
from medallion.spec.load import SpecLoader

ROOT = Path(__file__).resolve().parents[3]
SPEC = SpecLoader(ROOT / "dag_configs").load(ROOT / "dag_configs/sales/orders.yaml")
DS = "2026-11-20"
QUERIES = {
    "orders": "SELECT order_id, customer_id, quantity FROM orders",
    "customers": "SELECT customer_id, email FROM customers",
}


def context(task_id: str, handed: dict | None = None) -> dict:
    """A task's context; ``handed`` is what ``xcom_pull`` returns (the step before the task)."""
    ti = SimpleNamespace(
        dag_id=SPEC.id, task_id=task_id, try_number=1, xcom_push=lambda **_: None, xcom_pull=lambda **_: handed
    )
    return {"ti": ti, "run_id": f"manual__{DS}", "ds": DS}


@pytest.fixture
def landed(lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """The example pipeline's two bronze sources committed for ``DS``; ``.manifest(source)``, ``.client``."""
    client, _ = lake
    db = tmp_path / "shop.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE orders (order_id INTEGER, customer_id INTEGER, quantity INTEGER)")
    con.executemany("INSERT INTO orders VALUES (?, ?, ?)", [(i, i % 300, 1 + i % 4) for i in range(1500)])
    con.execute("CREATE TABLE customers (customer_id INTEGER, email TEXT)")
    con.executemany("INSERT INTO customers VALUES (?, ?)", [(i, f"c{i}@shop.test") for i in range(300)])
    con.commit()
    con.close()
    monkeypatch.setenv("AIRFLOW_CONN_SHOP_TEST", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    report = layout.quality_report_key(SPEC, "bronze", DS, "report", "json")
    client.delete_objects(Bucket=SPEC.lake.bucket, Delete={"Objects": [{"Key": report}]})  # moto outlives tests
    for source in SPEC.bronze.sources:
        LandSqlSourceOperator(
            task_id=f"extract_{source.name}",
            source_name=source.name,
            conn_id="shop_test",
            query=QUERIES[source.name],
            bucket=SPEC.lake.bucket,
            partition_key=layout.bronze_partition_key(SPEC, source.name, DS),
            batch_rows=500,
        ).execute(context(f"bronze.extract_{source.name}"))

    def manifest(source: str) -> dict:
        key = layout.bronze_partition_key(SPEC, source, DS) + "_manifest.json"
        return json.loads(client.get_object(Bucket=SPEC.lake.bucket, Key=key)["Body"].read())

    return SimpleNamespace(client=client, manifest=manifest)


def verify() -> dict:
    return BronzeVerifyOperator(task_id="verify", spec=SPEC).execute(context("bronze.verify"))


def gate(handed: dict) -> dict:
    op = QualityGateOperator(
        task_id="bronze_gate",
        spec=SPEC,
        layer="bronze",
        checks=layer_checks(SPEC, "bronze"),
        inputs_from="bronze.verify",
    )
    return op.execute(context("bronze_gate", handed))


def report_exists(client) -> bool:
    key = layout.quality_report_key(SPEC, "bronze", DS, "report", "json")
    return client.list_objects_v2(Bucket=SPEC.lake.bucket, Prefix=key).get("KeyCount", 0) > 0


def test_the_manifest_records_size_and_etag_as_s3_reports_them(landed) -> None:
    for source in ("orders", "customers"):
        (detail,) = landed.manifest(source)["file_details"]
        head = landed.client.head_object(Bucket=SPEC.lake.bucket, Key=detail["key"])
        assert detail["bytes"] == head["ContentLength"] > 0 and detail["etag"] == head["ETag"].strip('"')


def test_an_intact_partition_passes_verify_and_the_gate_validates_the_files_it_lists(landed) -> None:
    handed = verify()
    for source in ("orders", "customers"):
        assert handed[source]["files"] == landed.manifest(source)["files"]
        assert handed[source]["schema_drift"] == {}
    report = gate(handed)
    assert report["status"] in {"passed", "warning"} and report["critical_failures"] == 0
    orders = next(t for t in report["tables"] if t["table"] == "orders")
    assert "read_parquet(['s3://" in orders["query"]  # the files verify listed, nothing read from a manifest


def test_schema_drift_found_by_the_extract_is_a_warning_in_the_gate_report(landed) -> None:
    key = layout.bronze_partition_key(SPEC, "customers", DS) + "_manifest.json"
    drift = {"added": [{"name": "phone", "type": "string"}]}  # as the extract records it (test_bronze_landing)
    body = json.dumps(landed.manifest("customers") | {"schema_drift": drift})
    landed.client.put_object(Bucket=SPEC.lake.bucket, Key=key, Body=body.encode())
    handed = verify()
    assert handed["customers"]["schema_drift"] == drift and handed["orders"]["schema_drift"] == {}
    report = gate(handed)
    drift = next(t for t in report["tables"] if t["table"] == "customers" and t["query"] == "manifest schema")
    (outcome,) = drift["outcomes"]
    assert outcome["expectation"] == "schema_drift" and outcome["severity"] == "warning" and not outcome["success"]
    assert report["status"] == "warning" and report["critical_failures"] == 0


def truncate(client, key: str) -> None:
    body = client.get_object(Bucket=SPEC.lake.bucket, Key=key)["Body"].read()
    client.put_object(Bucket=SPEC.lake.bucket, Key=key, Body=body[: len(body) // 2])


def rewrite_same_size(client, key: str) -> None:
    body = client.get_object(Bucket=SPEC.lake.bucket, Key=key)["Body"].read()
    client.put_object(Bucket=SPEC.lake.bucket, Key=key, Body=body[:-8] + b"\0" * 8)


def delete(client, key: str) -> None:
    client.delete_object(Bucket=SPEC.lake.bucket, Key=key)


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (truncate, r"part-\w+-00000\.parquet: \d+ bytes, the manifest recorded \d+"),
        (rewrite_same_size, r"part-\w+-00000\.parquet: ETag \w+, the manifest recorded \w+ \(rewritten"),
        (delete, r"part-\w+-00000\.parquet: missing"),
    ],
)
def test_a_damaged_file_fails_bronze_verify_as_bronze_corrupt_without_retry(
    landed, damage: Callable[[object, str], None], says: str
) -> None:
    (detail,) = landed.manifest("orders")["file_details"]
    damage(landed.client, detail["key"])
    with pytest.raises(AirflowFailException, match=says) as info:
        verify()
    exc = info.value
    assert classify(exc, "bronze").name == "bronze_corrupt" and not load_catalog().classes["bronze_corrupt"].retry
    assert f"s3://{SPEC.lake.bucket}/{layout.bronze_partition_key(SPEC, 'orders', DS)}" in str(exc)
    assert not report_exists(landed.client)  # stopped before the gate (or silver) read the data
    alert = build_failure_alert(SPEC, context("bronze.verify") | {"exception": exc, "task": SimpleNamespace(retries=2)})
    assert alert.failure_class == "bronze_corrupt" and alert.title == "Bronze partition corrupt"
    assert "re-run the extract of 'orders' for 2026-11-20" in alert.hint
    assert rf"--task-regex '^bronze\.extract_orders$' -s {DS} -e {DS} --downstream" in alert.hint


def test_verify_follows_every_extract_and_silver_runs_only_after_the_bronze_gate() -> None:
    from medallion.factory.loader import load_dags

    dag = load_dags(ROOT / "dag_configs")[SPEC.dag_id]
    extracts = {f"bronze.extract_{s.name}" for s in SPEC.bronze.sources}
    assert dag.get_task("bronze.verify").upstream_task_ids == extracts
    gate = dag.get_task("bronze_gate")
    assert gate.upstream_task_ids == {"bronze.verify"} and gate.inputs_from == "bronze.verify"
    after_gate = gate.get_flat_relative_ids(upstream=False)
    silver = {t for t in dag.task_ids if t.startswith("silver.")}
    assert silver and silver <= after_gate
