"""Quality gates with real Great Expectations on a real DuckDB lakehouse file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from medallion import duck
from medallion.errors import SpecError
from medallion.quality import quarantine
from medallion.quality.contract import contract_expectations, layer_checks, pii_columns
from medallion.quality.engine import duckdb_target
from medallion.quality.freshness import with_freshness_expectation
from medallion.quality.gate import REDACTED, run_table_check
from medallion.quality.params import render_check
from medallion.spec.load import SpecLoader
from medallion.spec.models import Contract, TableCheck

ROOT = Path(__file__).resolve().parents[3]


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


def test_regex_searches_on_duckdb_as_great_expectations_does_elsewhere(lakehouse: str) -> None:
    """GE's regex semantics are re.search (Databricks: regexp_like); DuckDB's ``~`` would be a full match."""
    report = run(
        lakehouse, check({"type": "expect_column_values_to_match_regex", "column": "email", "regex": "@example"})
    )
    assert report["outcomes"][0]["success"] and report["outcomes"][0]["unexpected_count"] == 0


def test_quarantine_predicates_count_what_great_expectations_counts(lakehouse: str) -> None:
    con = duck.connect(lakehouse)
    con.execute("""
        CREATE OR REPLACE TABLE silver.pairs AS
        SELECT range % 7 AS a, range % 5 AS b, CASE WHEN range % 9 = 0 THEN NULL ELSE 'x' || (range % 4) END AS c
        FROM range(60)
    """)
    con.close()
    people = check(
        {"type": "expect_column_values_to_not_be_null", "column": "score"},
        {"type": "expect_column_values_to_be_in_set", "column": "status", "value_set": ["active"]},
        {"type": "expect_column_values_to_be_between", "column": "score", "min_value": 10, "max_value": 1000},
        {"type": "expect_column_values_to_match_regex", "column": "email", "regex": "[13]@"},
        {"type": "expect_column_values_to_be_unique", "column": "id"},
    )
    pairs = check(
        {"type": "expect_compound_columns_to_be_unique", "column_list": ["a", "b"]},
        {"type": "expect_column_values_to_be_unique", "column": "c"},
        {"type": "expect_column_values_to_be_in_set", "column": "c", "value_set": ["x0", "x'1"]},
        table="silver.pairs",
    )
    for chk in (people, pairs):
        quarantined = chk.model_copy(
            update={"expectations": [e.model_copy(update={"quarantine": True}) for e in chk.expectations]}
        )
        plan = quarantine.plan(quarantined, chk.table, "quarantine.unused", "duckdb")
        con = duck.connect(lakehouse, read_only=True)
        total, failing, *per_rule = con.execute(plan.count_sql()).fetchone()
        kept = con.execute(f"SELECT COUNT(*) FROM {chk.table} WHERE {plan.keep}").fetchone()[0]
        con.close()
        outcomes = run(lakehouse, chk)["outcomes"]
        ge_counts = [o["unexpected_count"] for o in outcomes]
        assert all(len(o["samples"]) == min(o["unexpected_count"], 5) for o in outcomes)  # fetched by the engine
        assert per_rule == ge_counts and all(ge_counts[:-1]), chk.table
        assert kept == total - failing and 0 < failing < total
        after = run(lakehouse, chk.model_copy(update={"table": f"(SELECT * FROM {chk.table} WHERE {plan.keep})"}))
        assert [o["unexpected_count"] for o in after["outcomes"]] == [0] * len(ge_counts)
    assert set(outcomes[0]["samples"][0]) == {"a", "b"} and outcomes[2]["samples"][0] in {"x1", "x2", "x3"}


def test_freshness_against_the_end_of_the_data_interval(lakehouse: str) -> None:
    con = duck.connect(lakehouse)
    con.execute("""
        CREATE OR REPLACE TABLE silver.events AS
        SELECT range AS id, TIMESTAMP '2026-11-04 00:00:00' + range * INTERVAL 1 HOUR AS updated_at FROM range(24)
    """)  # newest: 2026-11-04 23:00
    con.close()
    declared = TableCheck(table="silver.events", freshness={"column": "updated_at"})

    def gate(end: str) -> dict:
        context = {"data_interval_end": dt.datetime.fromisoformat(end).replace(tzinfo=dt.UTC)}
        return run(lakehouse, with_freshness_expectation(declared, 26, context))

    fresh = gate("2026-11-05T00:00:00")
    assert fresh["passed"] and fresh["outcomes"][0]["kwargs"]["min_value"] == "2026-11-03 22:00:00"
    stale = gate("2026-11-07T00:00:00")  # 49 h after the newest event
    outcome = stale["outcomes"][0]
    assert (stale["warnings"], stale["critical_failures"]) == (1, 0) and outcome["name"] == "freshness"
    assert outcome["observed"] == "2026-11-04T23:00:00" and "Stale data" in outcome["hint"]
    assert "2026-11-05 22:00:00 UTC (26 h before the end of the run's data interval" in outcome["hint"]


def test_run_parameters_are_rendered_by_the_gate_task(lakehouse: str) -> None:
    from medallion.quality.operator import QualityGateOperator

    spec = SpecLoader(ROOT / "dag_configs").load(ROOT / "dag_configs/sales/orders.yaml")
    with pytest.raises(ValueError, match="unknown template variable 'params_max'"):
        check({"type": "expect_column_values_to_be_between", "column": "score", "max_value": "{{ params_max }}"})
    declared = check(
        {"type": "expect_column_values_to_be_between", "column": "score", "max_value": "{{ ds_nodash[-3:] }}"},
        {"type": "expect_column_values_to_be_in_set", "column": "status", "value_set": ["{{ run_id[:6] }}", "unknown"]},
    )
    op = QualityGateOperator(task_id="silver_gate", spec=spec, layer="silver", checks=[declared])
    context = {"ds": "2026-11-05", "ds_nodash": "20261105", "run_id": "active__2026-11-05"}
    rendered = render_check(declared, lambda text: op.render_template(text, context))
    assert [e.ge_kwargs() for e in rendered.expectations] == [
        {"column": "score", "max_value": 105},
        {"column": "status", "value_set": ["active", "unknown"]},
    ]
    outcomes = run(lakehouse, rendered)["outcomes"]  # scores above 105 are out of range; statuses all known
    assert (outcomes[0]["unexpected_count"], outcomes[1]["success"]) == (990 - 52, True)


def test_unknown_run_parameter_is_a_spec_error_with_its_line(configs: Path) -> None:
    path = configs / "sales/orders.yaml"
    text = path.read_text().replace("          min_value: 0\n", "          min_value: '{{ data_interval_stat }}'\n", 1)
    path.write_text(text)
    with pytest.raises(SpecError) as err:
        SpecLoader(configs).load(path)
    problem = err.value.problems[0]
    line = text.splitlines().index("          min_value: '{{ data_interval_stat }}'") + 1
    assert (Path(problem.file), problem.line) == (
        path.resolve(),
        line,
    ) and "did you mean 'data_interval_start'" in problem.message


def test_quarantine_rules_only_in_silver_and_only_row_level(configs: Path) -> None:
    path = configs / "sales/orders.yaml"
    path.write_text(path.read_text().replace("          mostly: 0.99\n", "          quarantine: true\n", 1))
    with pytest.raises(SpecError) as err:
        SpecLoader(configs).load(path)
    assert "quarantine works on silver only" in str(err.value)
    with pytest.raises(ValueError, match="checks the table as a whole"):
        check({"type": "expect_table_row_count_to_be_between", "min_value": 1, "quarantine": True})
