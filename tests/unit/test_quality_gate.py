"""Quality gates with real Great Expectations on a real DuckDB lakehouse file."""

from __future__ import annotations

from pathlib import Path

import pytest

from medallion import duck
from medallion.quality.contract import contract_expectations, layer_checks, pii_columns
from medallion.quality.engine import duckdb_target
from medallion.quality.gate import REDACTED, run_table_check
from medallion.spec.load import SpecLoader
from medallion.spec.models import Contract, TableCheck

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lakehouse(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("lh") / "lakehouse.duckdb"
    con = duck.connect(path, create_schemas=True)
    con.execute("""
        CREATE TABLE silver.people AS
        SELECT range AS id, 'p' || range || '@example.com' AS email,
               CASE WHEN range % 100 = 0 THEN NULL ELSE range * 2 END AS score,
               CASE WHEN range < 3 THEN 'unknown' ELSE 'active' END AS status
        FROM range(1000)
    """)
    con.close()
    return str(path)


def check(*expectations: dict, table: str = "silver.people") -> TableCheck:
    return TableCheck(table=table, expectations=list(expectations))


def run(lakehouse: str, chk: TableCheck, **kwargs) -> dict:
    result = run_table_check(
        duckdb_target(lakehouse), chk, f"SELECT * FROM {chk.table}", layer="silver", suite_name="t", **kwargs
    )
    return result.to_dict()


def test_severity_semantics(lakehouse: str) -> None:
    report = run(
        lakehouse,
        check(
            {"type": "expect_column_values_to_be_unique", "column": "id"},
            {"type": "expect_column_values_to_not_be_null", "column": "score", "severity": "critical"},
            {
                "type": "expect_column_values_to_be_in_set",
                "column": "status",
                "value_set": ["active"],
                "severity": "warning",
                "hint": "new status",
            },
            {"type": "expect_column_values_to_match_regex", "column": "email", "regex": "^p[0-9]+@example\\.com$"},
        ),
    )
    outcomes = report["outcomes"]
    assert [o["success"] for o in outcomes] == [True, False, False, True]
    assert outcomes[1]["unexpected_count"] == 10 and outcomes[2]["samples"] == ["unknown"] * 3
    assert outcomes[2]["hint"] == "new status"
    assert (report["critical_failures"], report["warnings"], report["infra_errors"], report["passed"]) == (
        1,
        1,
        0,
        False,
    )


def test_engine_errors_are_infrastructure_not_bad_data(lakehouse: str) -> None:
    report = run(lakehouse, check({"type": "expect_column_values_to_not_be_null", "column": "nope"}))
    assert report["infra_errors"] == 1 and report["critical_failures"] == 0
    assert report["outcomes"][0]["error"]


def test_contract_derived_expectations_and_pii_redaction(lakehouse: str) -> None:
    contract = Contract(
        table="silver.people",
        primary_key=["id"],
        columns=[
            {"name": "id", "type": "bigint", "nullable": False},
            {"name": "email", "type": "string", "nullable": False, "pii": True},
            {"name": "score", "type": "bigint", "nullable": False},
            {"name": "missing_col", "type": "string"},
        ],
    )
    exps = contract_expectations(contract)
    assert [e.type for e in exps].count("expect_column_to_exist") == 4
    report = run(
        lakehouse,
        TableCheck(
            table="silver.people",
            expectations=[*exps, {"type": "expect_column_values_to_match_regex", "column": "email", "regex": "^x"}],
        ),
        pii={"email"},
    )
    failed = {(o["expectation"], o["kwargs"].get("column")) for o in report["outcomes"] if not o["success"]}
    assert failed == {
        ("expect_column_to_exist", "missing_col"),
        ("expect_column_values_to_not_be_null", "score"),
        ("expect_column_values_to_match_regex", "email"),
    }
    email = next(o for o in report["outcomes"] if o["expectation"] == "expect_column_values_to_match_regex")
    assert email["samples"] and set(email["samples"]) == {REDACTED}


def test_example_spec_layers_get_contract_checks() -> None:
    spec = SpecLoader(ROOT / "dag_configs").load(ROOT / "dag_configs/sales/orders.yaml")
    silver = {c.table: c for c in layer_checks(spec, "silver")}
    orders_types = [e.type for e in silver["silver.orders"].expectations]
    assert orders_types.count("expect_column_values_to_be_unique") == 1  # explicit and contract key merged
    assert "silver.customers" in silver and pii_columns(spec, "silver.customers") == {"email"}


def test_identical_expectations_are_evaluated_once_and_reported_for_each(lakehouse: str) -> None:
    same = {"type": "expect_column_values_to_be_unique", "column": "id"}
    report = run(lakehouse, check(same, {**same, "severity": "warning"}))
    assert [o["success"] for o in report["outcomes"]] == [True, True] and report["infra_errors"] == 0
