"""Volume anomaly detection through the real gate operator: GE on DuckDB, history in S3 (moto)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from medallion import duck
from medallion.quality.operator import QualityGateOperator
from medallion.quality.volume import row_counts_from_reports, volume_bounds
from medallion.spec.load import SpecLoader
from medallion.spec.models import TableCheck

ROOT = Path(__file__).resolve().parents[3]
SPEC = SpecLoader(ROOT / "dag_configs").load(ROOT / "dag_configs/sales/orders.yaml")


def test_bounds_and_history_filtering() -> None:
    assert volume_bounds([100, 110, 90], 0.5) == (50, 150)
    ok = {"outcomes": [{"expectation": "expect_table_row_count_to_be_between", "success": True, "observed": 7}]}
    bad = {"outcomes": [{"expectation": "expect_table_row_count_to_be_between", "success": False, "observed": 70}]}
    reports = [
        {"status": "passed", "tables": [{"table": "t", **ok}]},
        {"status": "warning", "tables": [{"table": "t", **bad}]},
        {"status": "failed", "tables": [{"table": "t", **ok}]},
    ]
    assert row_counts_from_reports(reports, "t") == [7]


def gate_run(lakehouse: str, ds: str, rows: int) -> dict:
    con = duck.connect(lakehouse, create_schemas=True)
    con.execute(f"CREATE OR REPLACE TABLE gold.volume_probe AS SELECT range AS id FROM range({rows})")
    con.close()
    check = TableCheck(table="gold.volume_probe", volume={"min_history": 3, "tolerance": 0.5})
    op = QualityGateOperator(task_id="gold_gate", spec=SPEC, layer="gold", checks=[check])
    ti = SimpleNamespace(dag_id=SPEC.id, task_id="gold_gate", try_number=1, xcom_push=lambda **_: None)
    return op.execute({"ds": ds, "run_id": f"manual__{ds}", "ti": ti})


def test_volume_learns_then_flags_an_anomaly_as_a_warning(lake) -> None:
    client, lakehouse = lake
    for day, rows in zip(("01", "02", "03"), (100, 110, 90), strict=True):
        report = gate_run(lakehouse, f"2026-11-{day}", rows)
        assert report["status"] == "passed" and "learning" in report["tables"][0]["outcomes"][0]["hint"]
    spike = gate_run(lakehouse, "2026-11-04", 400)  # far above the 100-row average
    outcome = spike["tables"][0]["outcomes"][0]
    assert spike["status"] == "warning" and not outcome["success"] and outcome["observed"] == 400
    assert outcome["kwargs"] == {"min_value": 50, "max_value": 150} and "averaged 100 rows" in outcome["hint"]
    normal = gate_run(lakehouse, "2026-11-05", 105)  # the spike did not enter the baseline
    assert normal["status"] == "passed"
    stored = json.loads(
        client.get_object(Bucket=SPEC.lake.bucket, Key="quality/sales/sales_orders/gold/ds=2026-11-04/report.json")[
            "Body"
        ].read()
    )
    assert stored["status"] == "warning"
