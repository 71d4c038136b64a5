"""Loader isolation: a broken spec next to good ones never costs the good ones their DAG."""

from __future__ import annotations

from pathlib import Path

import pytest

from medallion.factory.loader import load_dags
from medallion.factory.placeholder import INVALID_TAG

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def configs(configs: Path) -> Path:
    """The project's specs plus a second good pipeline, a broken one and an unreadable one."""
    target = configs
    good = (target / "sales/orders.yaml").read_text()
    # a second good pipeline: its own silver tables (one producer per table) and no gold
    returns = good.replace("silver.orders", "silver.returns").replace("silver.customers", "silver.return_customers")
    returns = returns.replace('gold:\n  select: ["path:models/sales"]\n', "").split("\n  gold:\n    - table:")[0]
    # the orders notebook's cases file expects silver.orders, a table this copy does not produce
    returns = returns.replace("      tests_file: include/notebooks/sales/orders_silver.tests.yaml\n", "")
    (target / "sales/returns.yaml").write_text(returns + "\n")
    (target / "sales/broken.yaml").write_text(good.replace("conn_id: shop_db", "conn_idd: shop_db", 1))
    (target / "sales/garbage.yaml").write_text("bronze: [unclosed\n")
    return target


def test_good_dags_load_and_bad_specs_become_placeholders(configs: Path) -> None:
    dags = load_dags(configs)
    assert {"sales_orders", "sales_returns"} <= set(dags)
    assert {"invalid__sales_broken", "invalid__sales_garbage"} <= set(dags)
    placeholder = dags["invalid__sales_broken"]
    assert INVALID_TAG in placeholder.tags
    assert "broken.yaml:" in placeholder.doc_md and "bronze.sources[0].conn_idd" in placeholder.doc_md
    assert "did you mean 'conn_id'" in placeholder.doc_md
    assert list(placeholder.task_dict) == ["spec_error"]
    good = dags["sales_orders"]
    assert {"bronze_gate", "silver_gate", "gold_gate", "silver.launch"} <= set(good.task_dict)
    assert {"domain:sales", "layer:bronze", "layer:silver", "layer:gold", "tier:1"} <= set(good.tags)
    assert good.owner_links == {"Sales Data Team": "mailto:sales-data@example.com"}


def test_placeholder_task_fails_with_the_message(configs: Path) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    task = load_dags(configs)["invalid__sales_garbage"].task_dict["spec_error"]
    with pytest.raises(AirflowFailException, match=r"garbage.yaml:\d+:\d+: error: .*invalid YAML"):
        task.execute({})


def test_airflow_dagbag_has_zero_import_errors(configs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real DagBag over the real dags/ loader file: every DAG present, no import error."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("MEDALLION_CONFIG_DIR", str(configs))
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    assert {"sales_orders", "sales_returns", "invalid__sales_broken", "invalid__sales_garbage"} <= set(bag.dag_ids)


def test_hostile_specs_cost_only_themselves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An alias bomb and a 20 MB spec beside 200 good specs: the real DagBag over dags/ imports every good
    DAG and one placeholder per bad file, well inside Airflow's default dagbag_import_timeout (30 s)."""
    import shutil
    import time

    from airflow.dag_processing.dagbag import DagBag
    from hostile_specs import alias_bomb, good_spec, write_large_spec

    root = tmp_path / "dag_configs"
    shutil.copytree(ROOT / "dag_configs", root)
    (root / "load").mkdir()
    for i in range(200):
        (root / f"load/p{i:03d}.yaml").write_text(good_spec(i))
    (root / "load/lol.yaml").write_text(alias_bomb())
    write_large_spec(root / "load/huge.yaml", megabytes=20)
    monkeypatch.setenv("MEDALLION_CONFIG_DIR", str(root))
    started = time.perf_counter()
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    elapsed = time.perf_counter() - started
    assert bag.import_errors == {}
    good = {f"load_p{i:03d}" for i in range(200)} | {"sales_orders", "marketing_customer_segments"}
    assert set(bag.dag_ids) == good | {"invalid__load_lol", "invalid__load_huge"}
    assert "aliases expand this document" in bag.dags["invalid__load_lol"].doc_md
    huge = bag.dags["invalid__load_huge"].doc_md
    assert "a spec may be at most 1.0 MB" in huge and len(huge) < 5_000  # not a 20 MB doc_md
    print(f"DagBag of 202 DAGs and 2 hostile specs: {elapsed:.1f} s")
    assert elapsed < 15, f"{elapsed:.1f} s: too close to the 30 s import timeout"


def test_duplicate_ids_keep_the_first_and_flag_the_second(configs: Path) -> None:
    text = (configs / "sales/orders.yaml").read_text()
    (configs / "sales/zz_copy.yaml").write_text("id: sales_orders\n" + text)
    dags = load_dags(configs)
    assert "sales_orders" in dags
    assert "already used" in dags["invalid__sales_zz_copy"].doc_md


def test_parse_time_imports_stay_light() -> None:
    """Building DAGs must not import Great Expectations or run dbt."""
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path; import airflow; from medallion.factory.loader import load_dags;"
        f"d = load_dags(Path({str(ROOT / 'dag_configs')!r})); assert 'sales_orders' in d;"
        "heavy = ('great_expectations', 'dbt.cli.main', 'sqlframe', 'duckdb', 'pyarrow');"
        "heavy = [m for m in heavy if m in sys.modules];"
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]


def test_an_unreadable_dbt_manifest_costs_only_the_pipelines_that_render_it(configs: Path, tmp_path: Path) -> None:
    """A truncated manifest makes cosmos raise: the gold pipeline reading it becomes a placeholder
    naming the manifest; pipelines reading another manifest (or none) keep their DAGs."""
    import shutil

    project = tmp_path / "dbt_broken"
    shutil.copytree(ROOT / "dbt_project", project, ignore=shutil.ignore_patterns("logs"))
    manifest = project / "target/manifest.json"
    manifest.write_text(manifest.read_text()[:5000])
    spec = configs / "sales/orders.yaml"
    text = spec.read_text()
    assert '  select: ["path:models/sales"]\n' in text
    spec.write_text(
        text.replace(
            '  select: ["path:models/sales"]\n', f'  select: ["path:models/sales"]\n  project_dir: {project}\n'
        )
    )
    dags = load_dags(configs)
    assert "invalid__medallion_loader" not in dags
    assert {"sales_returns", "marketing_customer_segments"} <= set(dags)
    doc = dags["invalid__sales_orders"].doc_md
    assert "cannot be loaded by cosmos" in doc and str(manifest) in doc and "make manifest" in doc
