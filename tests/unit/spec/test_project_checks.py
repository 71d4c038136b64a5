"""Cross-pipeline checks, shared by `medallion validate` and the DAG loader."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from medallion.cli import main as cli
from medallion.factory.loader import load_dags
from medallion.gold.selection import select_gold
from medallion.spec.project import load_project

ROOT = Path(__file__).resolve().parents[3]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def messages(configs: Path, name: str, severity: str = "error") -> list[str]:
    project = load_project(configs, connections={"shop_db"}, select_gold=select_gold)
    return [f"{p.field}: {p.message}" for p in project.problems((configs / name).resolve()) if p.severity == severity]


def test_project_specs_are_clean() -> None:
    project = load_project(ROOT / "dag_configs", connections={"shop_db"}, select_gold=select_gold)
    assert {p.name for p in project.files} == {"orders.yaml", "customer_segments.yaml"}
    # The one expected finding: the shipped defaults keep the docs_url placeholder (a real deployment sets
    # where its repository is read; we never invent a URL), and validate says so once, at defaults.yaml.
    found = [p for f in project.files for p in project.problems(f)]
    expected = [("defaults.yaml", "alerts.docs_url", "warning")]
    assert [(Path(p.file).name, p.field, p.severity) for p in found] == expected, found


def test_trigger_on_unknown_asset_with_did_you_mean(configs: Path) -> None:
    edit(configs / "marketing/customer_segments.yaml", "triggers: [sales_orders.gold]", "triggers: [sales_order.gold]")
    assert messages(configs, "marketing/customer_segments.yaml") == [
        "triggers[0]: no pipeline publishes 'sales_order.gold'"
    ]
    dags = load_dags(configs)
    assert "invalid__marketing_customer_segments" in dags and "sales_orders" in dags


def test_cycle_between_pipelines(configs: Path) -> None:
    edit(configs / "sales/orders.yaml", "tier: 1", "tier: 1\ntriggers: [marketing_customer_segments.gold]")
    found = messages(configs, "sales/orders.yaml")
    assert any("cycle" in m and "marketing_customer_segments" in m for m in found), found


def test_missing_notebook_and_unmatched_dbt_selector(configs: Path) -> None:
    edit(configs / "sales/orders.yaml", "orders_silver.py", "orders_silverr.py")
    edit(configs / "sales/orders.yaml", '["path:models/sales"]', '["path:models/sale", "tag:nope", "daily_revenue"]')
    found = messages(configs, "sales/orders.yaml")
    assert "silver.notebooks[1].path: notebook 'include/notebooks/sales/orders_silverr.py' does not exist" in found
    assert "gold.select[1]: dbt selector 'tag:nope' matches no node of the dbt project" in found
    # path: is a directory, as cosmos (and dbt) match it, never a string prefix of models/sales
    assert "gold.select[0]: dbt selector 'path:models/sale' matches no node of the dbt project" in found
    assert not any("gold.select[2]" in m for m in found)  # a bare model name


def test_unknown_connection_is_a_warning(configs: Path) -> None:
    edit(configs / "sales/orders.yaml", "conn_id: shop_db", "conn_id: shop_replica")
    assert messages(configs, "sales/orders.yaml") == []
    assert messages(configs, "sales/orders.yaml", "warning") == [
        "bronze.sources[0].conn_id: connection 'shop_replica' is not in airflow_settings.yaml"
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("start_date: 2026-11-01", "start_date: 2026-11-01\nschedule: '61 * * * *'", "not a valid cron expression"),
        ("start_date: 2026-11-01", "start_date: '{{ macros.ds_add(ds, -1) }}'", "is not a date"),
        ("conn_id: shop_db", "conn_id: shop_db\n      password: hunter2", "literal secret"),
        ("SELECT customer_id", "SELECT 'xoxb-1234567890-abcdefghij' AS t, customer_id", "looks like a credential"),
    ],
)
def test_single_spec_rules(configs: Path, old: str, new: str, expected: str) -> None:
    edit(configs / "sales/orders.yaml", old, new)
    found = messages(configs, "sales/orders.yaml")
    assert any(expected in m for m in found), found


def test_secret_hint_names_connections(configs: Path, capsys: pytest.CaptureFixture) -> None:
    edit(configs / "sales/orders.yaml", "conn_id: shop_db", "conn_id: shop_db\n      token: abc")
    assert cli(["validate", str(configs / "sales/orders.yaml")]) == 1
    err = capsys.readouterr().err
    assert "bronze.sources[0].token: key 'token' holds a literal secret" in err
    assert "store them in an Airflow connection" in err


def test_duplicate_ids_flag_the_second_file(configs: Path) -> None:
    shutil.copy(configs / "sales/orders.yaml", configs / "sales/zz.yaml")
    edit(configs / "sales/zz.yaml", "tier: 1", "id: sales_orders\ntier: 1")
    assert any("already used" in m for m in messages(configs, "sales/zz.yaml"))
    assert messages(configs, "sales/orders.yaml") == []
