"""Notebook unit tests: the diff, both engines on the example cases, a broken dedup caught, and the preflight's
one-time Databricks run (request shape and results) against the Jobs API emulator."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from medallion.cli import main as cli
from medallion.silver.notebook_diff import compare_table
from medallion.silver.notebook_tests import run_on_engine
from medallion.spec.load import SpecLoader
from medallion.spec.notebook_cases import Fixture, spec_cases

ROOT = Path(__file__).resolve().parents[3]
ORDERS_NB = "include/notebooks/sales/orders_silver.py"
CONN_ID = "databricks_nbtests"  # not in the session's settings file, so the environment variable is used
DEDUP_ORDER = 'orderBy(F.col("updated_at").desc())'


def fixture(rows: list[dict], types: dict[str, str]) -> Fixture:
    return Fixture(list(rows[0]), types, rows, "t.yaml:1", declared=list(types))


def test_diff_reads_expected_to_actual_ignores_order_and_checks_types() -> None:
    expected = fixture(
        [{"id": 1, "status": "paid", "amount": "10.00"}, {"id": 2, "status": "placed", "amount": "4.50"}],
        {"id": "bigint", "status": "string", "amount": "decimal(14,2)"},
    )
    actual_types = {"id": "bigint", "status": "string", "amount": "decimal(14,2)", "extra": "int"}
    same = [{"id": 2, "status": "placed", "amount": "4.5", "extra": 0}, {"id": 1, "status": "paid", "amount": 10}]
    assert compare_table("silver.t", expected, ["id", "status", "amount"], ["id"], actual_types, same) == []
    other = [{"id": 1, "status": "shipped", "amount": 10}, {"id": 3, "status": "placed", "amount": 1}]
    diff = compare_table("silver.t", expected, ["id", "status", "amount"], ["id"], actual_types, other)
    assert diff[0] == "silver.t: expected 2 row(s), got 2"
    assert "  row id=1: status: 'paid' → 'shipped'" in diff
    assert "  missing row: {id: 2, status: 'placed', amount: 4.50}" in diff
    assert "  unexpected row: {id: 3, status: 'placed', amount: 1.00}" in diff
    retyped = compare_table("silver.t", expected, ["id"], ["id"], {**actual_types, "id": "int"}, same)
    assert retyped == ["column id: type bigint → int"]


def broken_project(tmp_path: Path) -> Path:
    """A copy of the example with the orders dedup keeping the oldest version instead of the latest."""
    shutil.copytree(ROOT / "dag_configs", tmp_path / "dag_configs")
    shutil.copytree(ROOT / "include/notebooks", tmp_path / "include/notebooks")
    notebook = tmp_path / ORDERS_NB
    text = notebook.read_text()
    assert DEDUP_ORDER in text
    notebook.write_text(text.replace(DEDUP_ORDER, 'orderBy(F.col("updated_at").asc())'))
    return tmp_path


def example_cases(root: Path, notebook: str | None = None) -> list:
    spec = SpecLoader(root / "dag_configs").load(root / "dag_configs/sales/orders.yaml")
    cases, problems = spec_cases(spec, notebooks=[notebook] if notebook else None)
    assert not problems
    return cases


def test_medallion_test_passes_the_examples_on_the_emulator_engine(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["test", "sales_orders", "--engine", "local"]) == 0
    out = capsys.readouterr().out
    assert "sales_orders::orders::keeps_latest_version_of_each_order [local] PASSED" in out
    assert "6 passed, 0 failed" in out


@pytest.mark.parametrize("engine", ["local", pytest.param("spark", marks=pytest.mark.slow)])
def test_a_broken_dedup_fails_its_case_with_the_diff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    root = broken_project(tmp_path)
    monkeypatch.setenv("MEDALLION_PROJECT_DIR", str(root))
    results = {r.case.split("::")[-1]: r for r in run_on_engine(engine, example_cases(root, "orders"), root)}
    dedup = results["keeps_latest_version_of_each_order"]
    assert dedup.status == "failed" and results["casts_and_cleans_dirty_text"].ok
    row = "  row order_id=1: quantity: 2 → 1; status: 'shipped' → 'placed'; amount: 10.00 → 5.00; "
    assert row in "\n".join(dedup.diff)


@pytest.mark.slow
def test_medallion_test_passes_the_examples_on_real_spark(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["test", "--engine", "spark"]) == 0
    assert "6 passed, 0 failed" in capsys.readouterr().out


@pytest.fixture
def emulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The example project copied (dedup broken) and the Jobs API emulator serving it."""
    from medallion.local.databricks import DatabricksEmulator

    root = broken_project(tmp_path / "repo")
    monkeypatch.setenv("MEDALLION_PROJECT_DIR", str(root))
    emu = DatabricksEmulator(project_dir=root, lakehouse_path=tmp_path / "lakehouse.duckdb")
    emu.start()
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", emu.connection_json("local-emulator-token"))
    try:
        yield root, emu
    finally:
        emu.stop()


@pytest.mark.integration
def test_preflight_runs_the_cases_as_one_databricks_run_and_fails_on_the_broken_case(emulated) -> None:
    from medallion.failures import classify
    from medallion.silver.preflight import NotebookLintOperator, NotebookTestsFailed
    from medallion.silver.test_run import RUNNER_NOTEBOOK, submit_request

    root, _ = emulated
    spec = SpecLoader(root / "dag_configs").load(root / "dag_configs/sales/orders.yaml")
    body = submit_request(spec, example_cases(root), "medallion_test_x")
    [task] = body["tasks"]
    assert task["notebook_task"]["notebook_path"] == "/Workspace/medallion/" + RUNNER_NOTEBOOK.removesuffix(".py")
    assert task["new_cluster"]["num_workers"] == 0 and "environments" not in body
    operator = NotebookLintOperator(
        task_id="silver_preflight", notebooks=[ORDERS_NB], spec=spec, databricks_conn_id=CONN_ID
    )
    with pytest.raises(NotebookTestsFailed) as err:
        operator.execute({"ts_nodash": "20261120T000000"})
    message = str(err.value)
    assert message.startswith("1 of 6 notebook unit test(s) failed:")
    assert "sales_orders::orders::keeps_latest_version_of_each_order [databricks]" in message
    assert "quantity: 2 → 1; status: 'shipped' → 'placed'" in message
    assert classify(err.value, "silver").name == "notebook_unit_test_failed"
    assert not classify(err.value, "silver").retry


def test_the_emulator_gives_sparks_answers_where_duckdb_differs(tmp_path: Path) -> None:
    """Found by the fidelity test: decimal rounding of doubles, fractions cast to whole numbers, slashed dates."""
    from medallion.silver.notebook_tests import sqlframe_session

    with sqlframe_session(tmp_path / "cast.duckdb") as (spark, builtins_):
        F = builtins_["__import__"]("pyspark.sql", fromlist=["functions"]).functions
        df = spark.createDataFrame([(17.615, "3.335", 7, " +12 ", " 2026-1-5 ", "2026-11-20T10:00:00")], list("dsiwab"))
        casts = [F.col(c).cast("decimal(12,2)").alias(c) for c in "dsi"]
        row = df.select(*casts, F.col("w").cast("bigint"), F.to_date("a"), F.to_date("b")).collect()[0]
        assert [float(v) for v in row[:3]] == [17.62, 3.34, 7.0]  # 17.61 in plain DuckDB
        assert list(row[3:]) == [12, dt.date(2026, 1, 5), dt.date(2026, 11, 20)]
        for column in (F.lit("12.5").cast("int"), F.lit("1e3").cast("bigint"), F.to_date(F.lit("2026/11/20"))):
            with pytest.raises(Exception, match="CAST_INVALID_INPUT"):  # Spark raises; plain DuckDB read them
                df.select(column).collect()
        with pytest.raises(Exception, match='invalid date field format: "soon"'):  # neither reads it: DuckDB's words
            df.select(F.to_date(F.lit("soon"))).collect()
