"""Contracts are enforced as written: declared types against the table's actual types.

The gates run for real (QualityGateOperator, GE, the test overlay's DuckDB lakehouse, reports in
moto S3); the Databricks side is the SQL text and the type mapping, as a unit test.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest

from medallion import duck
from medallion.failures import classify
from medallion.quality.contract import contract_expectations, layer_contracts
from medallion.quality.contract_types import actual_type, describe_sql, violations
from medallion.quality.operator import ContractViolation, QualityGateOperator
from medallion.spec.load import SpecLoader
from medallion.spec.models import Contract, TableCheck

try:
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # pragma: no cover
    from airflow.exceptions import AirflowFailException

ROOT = Path(__file__).resolve().parents[3]
SALES = SpecLoader(ROOT / "dag_configs").load(ROOT / "dag_configs/sales/orders.yaml")
MARKETING = SpecLoader(ROOT / "dag_configs").load(ROOT / "dag_configs/marketing/customer_segments.yaml")

LINEITEM = Contract(
    table="silver.orders",
    columns=[
        {"name": "l_orderkey", "type": "bigint", "nullable": False},
        {"name": "l_quantity", "type": "int"},  # the table has decimal(15,2)
        {"name": "count_order", "type": "string"},  # the table has bigint
        {"name": "l_extendedprice", "type": "decimal(15,2)"},
        {"name": "l_shipdate", "type": "date"},
        {"name": "l_comment", "type": "string"},  # missing from the table
    ],
)


def write(lakehouse: str, sql: str) -> None:
    con = duck.connect(lakehouse, create_schemas=True)
    try:
        con.execute(sql)
    finally:
        con.close()


LINEITEM_SQL = """
    CREATE OR REPLACE TABLE {table} AS
    SELECT range::BIGINT AS l_orderkey, (range % 50 + 1)::DECIMAL(15,2) AS l_quantity,
           range::BIGINT AS count_order, (range * 1.5)::DECIMAL(15,2) AS l_extendedprice,
           DATE '2026-11-20' AS l_shipdate
    FROM range(20)
"""


def gate(spec, layer: str, checks: list[TableCheck], contracts: list[Contract], ds: str = "2026-11-20") -> dict:
    op = QualityGateOperator(task_id=f"{layer}_gate", spec=spec, layer=layer, checks=checks, contracts=contracts)
    ti = SimpleNamespace(dag_id=spec.id, task_id=f"{layer}_gate", try_number=1, xcom_push=lambda **_: None)
    start = dt.datetime.fromisoformat(ds).replace(tzinfo=dt.UTC)
    context = {
        "ds": ds,
        "run_id": f"scheduled__{ds}",
        "ti": ti,
        "logical_date": start,
        "data_interval_start": start,
        "data_interval_end": start + dt.timedelta(days=1),
        "params": {},
    }
    return op.execute(context)


def test_a_retyped_or_missing_column_fails_the_silver_gate_as_a_contract_violation(lake) -> None:
    _, lakehouse = lake
    write(lakehouse, LINEITEM_SQL.format(table="staging.sales_orders__orders"))
    rows = {"type": "expect_table_row_count_to_be_between", "min_value": 1}
    check = TableCheck(table="silver.orders", expectations=[rows])
    with pytest.raises(ContractViolation) as failed:
        gate(SALES, "silver", [check], [LINEITEM])
    exc = failed.value
    assert isinstance(exc, AirflowFailException)  # critical: never retried
    message = str(exc)
    assert "silver.orders.l_quantity declared int, table has DECIMAL(15,2)" in message
    assert "silver.orders.count_order declared string, table has BIGINT" in message
    assert "silver.orders.l_comment declared string, table has missing from the table" in message
    assert "l_extendedprice" not in message and "l_shipdate" not in message and "l_orderkey" not in message
    cls = classify(exc, "silver")
    assert (cls.name, cls.title, cls.retry) == ("contract_violation", "Data contract violated", False)
    table = exc.report["tables"][0]
    assert exc.report["status"] == "failed" and exc.report["infra_errors"] == 0 and table["contract_violations"] == 3
    assert {o["kwargs"]["column"]: o["observed"] for o in table["outcomes"]} == {
        "l_quantity": "DECIMAL(15,2)",
        "count_order": "BIGINT",
        "l_comment": "missing from the table",
    }


def test_a_contract_as_written_passes_and_the_suite_runs(lake) -> None:
    _, lakehouse = lake
    write(lakehouse, LINEITEM_SQL.format(table="staging.sales_orders__orders"))
    # a passing silver gate may publish every output of the pipeline: stage the other one too
    write(lakehouse, "CREATE OR REPLACE TABLE staging.sales_orders__customers AS SELECT 1::BIGINT AS customer_id")
    exact = Contract(
        table="silver.orders",
        primary_key=["l_orderkey"],
        columns=[
            {"name": "l_orderkey", "type": "long", "nullable": False},  # an alias of bigint
            {"name": "l_quantity", "type": "numeric(15, 2)"},
            {"name": "count_order", "type": "bigint"},
            {"name": "l_shipdate", "type": "date"},
        ],
    )
    derived = TableCheck(table="silver.orders", expectations=contract_expectations(exact))
    report = gate(SALES, "silver", [derived], [exact])
    orders = report["tables"][0]
    assert report["status"] == "passed" and "contract_violations" not in orders, orders
    assert any(o["expectation"] == "expect_column_values_to_be_unique" for o in orders["outcomes"])


def test_gold_contracts_are_checked_by_the_gold_gate(lake) -> None:
    _, lakehouse = lake
    write(
        lakehouse,
        """CREATE OR REPLACE TABLE gold.customer_segments AS
           SELECT range::BIGINT AS customer_id, 'c' || range || '@example.com' AS email, 'vip' AS segment,
                  (range * 10)::DOUBLE AS lifetime_value
           FROM range(5)""",
    )
    assert layer_contracts(MARKETING, "silver") == [] and len(layer_contracts(MARKETING, "gold")) == 1
    assert layer_contracts(SALES, "gold") == [] and len(layer_contracts(SALES, "silver")) == 2
    check = TableCheck(table="gold.customer_segments", expectations=[{"type": "expect_table_row_count_to_be_between"}])
    with pytest.raises(ContractViolation, match=r"lifetime_value declared decimal\(18,2\), table has DOUBLE"):
        gate(MARKETING, "gold", [check], layer_contracts(MARKETING, "gold"))


def test_the_dag_gives_each_gate_the_contracts_of_its_layer() -> None:
    from medallion.factory.loader import load_dags

    sales = load_dags(ROOT / "dag_configs")["sales_orders"]
    assert set(sales.get_task("silver_gate").contracts) == {"silver.orders", "silver.customers"}
    assert sales.get_task("gold_gate").contracts == {} and sales.get_task("bronze_gate").contracts == {}


@pytest.mark.parametrize(
    ("engine", "declared", "actual", "same"),
    [
        ("duckdb", "int", "INTEGER", True),
        ("duckdb", "integer", "INTEGER", True),
        ("duckdb", "int", "DECIMAL(15,2)", False),
        ("duckdb", "int", "BIGINT", False),  # no widening
        ("duckdb", "bigint", "BIGINT", True),
        ("duckdb", "string", "BIGINT", False),
        ("duckdb", "string", "VARCHAR", True),
        ("duckdb", "decimal(12,2)", "DECIMAL(12,2)", True),
        ("duckdb", "decimal(12,2)", "DECIMAL(14,2)", False),
        ("duckdb", "timestamp", "TIMESTAMP WITH TIME ZONE", True),
        ("duckdb", "timestamp", "TIMESTAMP", True),
        ("duckdb", "date", "TIMESTAMP", False),
        ("duckdb", "double", "FLOAT", False),
        ("databricks", "int", "int", True),
        ("databricks", "int", "decimal(15,2)", False),
        ("databricks", "string", "bigint", False),
        ("databricks", "bigint", "bigint", True),
        ("databricks", "long", "bigint", True),
        ("databricks", "string", "string", True),
        ("databricks", "string", "varchar(20)", True),  # Databricks stores varchar(n) as string
        ("databricks", "decimal(18,2)", "decimal(18,2)", True),
        ("databricks", "decimal(18,2)", "decimal(38,2)", False),
        ("databricks", "timestamp", "timestamp", True),
        ("databricks", "timestamp", "timestamp_ntz", False),
        ("databricks", "date", "date", True),
        ("databricks", "boolean", "boolean", True),
    ],
)
def test_type_equivalence_per_engine(engine: str, declared: str, actual: str, same: bool) -> None:
    assert (violations(engine, {"c": declared}, [("c", actual)]) == []) is same


def test_databricks_statement_and_unknown_types() -> None:
    query = "SELECT * FROM staging.sales_orders__orders"
    assert describe_sql("databricks", query) == f"DESCRIBE QUERY {query}"
    assert describe_sql("duckdb", query) == f"DESCRIBE {query}"
    assert actual_type("databricks", "DECIMAL(15, 2)") == "decimal(15,2)"
    assert actual_type("duckdb", "HUGEINT") == "HUGEINT"  # unmapped: compared (and reported) as written
    with pytest.raises(ValueError, match="unknown contract type 'intt'"):
        Contract(table="silver.orders", columns=[{"name": "a", "type": "intt"}])
