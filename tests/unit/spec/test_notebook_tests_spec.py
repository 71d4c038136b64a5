"""Notebook test cases in the spec: models, tests files, fixtures checked against the contracts at file:line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from medallion.spec.notebook_cases import coerce, spec_cases
from medallion.spec.notebook_tests import Expect, Given, NotebookTestCase
from medallion.spec.project import load_project

ROOT = Path(__file__).resolve().parents[3]


def problems(configs: Path) -> list[str]:
    project = load_project(configs, connections={"shop_db"}, select_gold=None)
    found = [p for f in project.files for p in project.problems(f) if p.severity == "error"]
    return [f"{Path(p.file).name}:{p.line}: {p.field}: {p.message}" for p in found]


def test_models_reject_unknown_keys_and_need_one_origin() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        NotebookTestCase.model_validate({"name": "a", "expect": [{"table": "silver.x", "rows": []}], "gvien": []})
    with pytest.raises(ValidationError, match="exactly one of them"):
        Expect.model_validate({"table": "silver.x", "rows": [], "file": "x.csv"})
    with pytest.raises(ValidationError, match="exactly one of `source:`"):
        Given.model_validate({"rows": [{"a": 1}]})
    with pytest.raises(ValidationError, match="unknown contract type"):
        Given.model_validate({"source": "s", "rows": [], "columns": {"a": "integr"}})


def test_coerce_types_values_and_refuses_what_is_not_one() -> None:
    assert str(coerce("3.333", "decimal(12,2)")) == "3.33"
    assert coerce(" 7 ", "bigint") == 7
    assert str(coerce("2026-11-20T06:00:00+01:00", "timestamp")) == "2026-11-20 05:00:00"
    with pytest.raises(ValueError):
        coerce("abc", "int")
    with pytest.raises(ValueError):
        coerce(1.5, "int")


def test_example_cases_resolve_with_contract_types() -> None:
    project = load_project(ROOT / "dag_configs", select_gold=None)
    spec = next(i.spec for i in project.valid.values() if i.spec.id == "sales_orders")
    cases, found = spec_cases(spec)
    assert not found
    by_notebook = {n: [c for c in cases if c.notebook == n] for n in ("customers", "orders")}
    assert all(len(v) >= 3 for v in by_notebook.values())
    dedup = next(c for c in cases if c.name == "keeps_latest_version_of_each_order")
    assert dedup.expect["silver.orders"].types["amount"] == "decimal(14,2)"  # from the contract
    assert dedup.primary_keys["silver.orders"] == ["order_id"]
    assert dedup.origin.endswith("orders_silver.tests.yaml:4")


def test_fixture_column_outside_the_contract_is_an_error_at_its_line(tmp_path: Path) -> None:
    configs = tmp_path / "dag_configs"
    shutil.copytree(ROOT / "dag_configs", configs)
    spec = configs / "sales/orders.yaml"
    text = spec.read_text()
    old = "                - {customer_id: 3, email: cy@example.com, country: null, signup_date: null}\n"
    at = text.rindex(old)  # the expected row (the given row above it is bronze: no contract)
    spec.write_text(text[:at] + old.replace("country:", "contry:") + text[at + len(old) :])
    line = text[:at].count("\n") + 1
    [message] = problems(configs)
    assert (
        message.startswith(f"orders.yaml:{line}: ")
        and "['contry'] are not columns of the contract of silver.customers" in message
    )


def test_tests_file_problems_point_into_that_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "dag_configs", repo / "dag_configs")
    shutil.copytree(ROOT / "include/notebooks", repo / "include/notebooks")
    monkeypatch.setenv("MEDALLION_PROJECT_DIR", str(repo))
    tests_file = repo / "include/notebooks/sales/orders_silver.tests.yaml"
    tests_file.write_text(
        tests_file.read_text().replace("quantity: 3, status: placed, amount:", "quantity: x3, status: placed, amount:")
    )
    expected = repo / "include/notebooks/sales/fixtures/orders_dirty_expected.csv"
    found = problems(repo / "dag_configs")
    assert any(m.startswith("orders_silver.tests.yaml:") and "'x3' is not a int" in m for m in found), found
    expected.unlink()
    assert any("orders_dirty_expected.csv" in m and "cannot be read" in m for m in problems(repo / "dag_configs"))
