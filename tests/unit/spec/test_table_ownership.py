"""One producing pipeline per table: validate names both producers; docs and assets name the owner."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from medallion.cli import main as cli
from medallion.factory.loader import load_dags
from medallion.gold.selection import select_gold
from medallion.spec.project import load_project


def errors(configs: Path, name: str) -> list[str]:
    project = load_project(configs, connections={"shop_db"}, select_gold=select_gold)
    return [p.format() for p in project.problems((configs / name).resolve()) if p.severity == "error"]


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_a_copied_gold_pipeline_is_rejected_naming_both_files(configs: Path, capsys: pytest.CaptureFixture) -> None:
    original = configs / "marketing/customer_segments.yaml"
    shutil.copy(original, configs / "marketing/segments_copy.yaml")
    assert cli(["validate", str(configs)]) == 1
    err = capsys.readouterr().err
    select_line = line_of(original, "select:")
    assert (
        f"segments_copy.yaml:{select_line}:" in err
        and "gold.select[0]: table gold.customer_segments is already produced by pipeline "
        f"'marketing_customer_segments' at {original.resolve()}:{select_line}:"
        in err
    ), err
    # the copy's contract names a table it may not produce: it belongs with the producer
    assert "contracts[0].table: contract on gold.customer_segments, which this pipeline does not produce" in err
    assert errors(configs, "marketing/customer_segments.yaml") == []  # the first producer keeps its table
    dags = load_dags(configs)
    assert "marketing_customer_segments" in dags and "invalid__marketing_segments_copy" in dags


def test_a_second_producer_of_a_silver_table_is_rejected(configs: Path) -> None:
    orders = configs / "sales/orders.yaml"
    (configs / "sales/replay.yaml").write_text(
        orders.read_text()
        .replace("outputs: [silver.customers]", "outputs: [silver.customers_replay]")
        .replace("- table: silver.customers\n", "- table: silver.customers_replay\n")  # its tests' expectations
        # the gold part of the copy is dropped, so only the silver output collides
        .split("\ngold:\n")[0]
        .replace("contracts:\n  - table: silver.orders", "contracts:\n  - table: silver.customers_replay")
        .replace("  - table: silver.customers\n    primary_key", "  - table: silver.customers_replay\n    primary_key")
    )
    found = errors(configs, "sales/replay.yaml")
    at = f"{orders.resolve()}:{line_of(orders, 'outputs: [silver.orders]')}:"
    assert len(found) == 1 and "silver.notebooks[1].outputs[0]: table silver.orders is already produced by " in found[0]
    assert f"pipeline 'sales_orders' at {at}" in found[0] and "replay.yaml" in found[0]


def test_a_contract_on_another_pipelines_table(configs: Path) -> None:
    path = configs / "marketing/customer_segments.yaml"
    old = "  - table: gold.customer_segments\n    primary_key"
    path.write_text(path.read_text().replace(old, "  - table: silver.orders\n    primary_key"))
    found = errors(configs, "marketing/customer_segments.yaml")
    assert len(found) == 1 and "contract on silver.orders, which this pipeline does not produce: pipeline " in found[0]
    assert "'sales_orders' produces it (" in found[0]


def test_docs_and_assets_name_the_owner(configs: Path) -> None:
    dags = load_dags(configs)
    marketing, sales = dags["marketing_customer_segments"], dags["sales_orders"]
    assert "- reads `gold.customer_lifetime_value` (owned by pipeline `sales_orders`)" in marketing.doc_md
    assert "| `gold.customer_segments` | dbt model `customer_segments` |" in marketing.doc_md
    assert "| `silver.orders` | silver notebook `orders` |" in sales.doc_md
    outlets = {a.name: a for t in sales.tasks for a in t.outlets if a.name.startswith(("silver.", "gold."))}
    assert set(outlets) == {"silver.orders", "silver.customers", "gold.daily_revenue", "gold.customer_lifetime_value"}
    assert outlets["gold.daily_revenue"].extra["owner_pipeline"] == "sales_orders"
    gold_publish = sales.get_task("gold_publish").outlets[1:]
    assert gold_publish == [outlets["gold.customer_lifetime_value"], outlets["gold.daily_revenue"]]
