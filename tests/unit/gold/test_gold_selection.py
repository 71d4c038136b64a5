"""Gold selection: our answer (validate, loader, docs, ownership) is what cosmos renders.

A small dbt project is parsed by real dbt in a temporary folder (the example has too few models
for graph operators); every case builds the real ``DbtTaskGroup`` through the factory and
compares its model tasks with ``select_gold``, and both with the models a person expects.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from medallion.gold.selection import rendered_models, select_gold
from medallion.spec.load import SpecLoader
from medallion.spec.models import Gold

ROOT = Path(__file__).resolve().parents[3]

MODELS = {
    "tpch/stg_lineitem.sql": "{{ config(tags=['staging']) }}\nselect 1 as l_orderkey, 2 as l_quantity",
    "tpch/orders_summary.sql": "{{ config(tags=['nightly']) }}\n"
    "select l_orderkey, count(*) as count_order from {{ ref('stg_lineitem') }} group by 1",
    "tpch/marts/revenue.sql": "{{ config(materialized='view') }}\nselect * from {{ ref('orders_summary') }}",
    "other/helper.sql": "{{ config(materialized='ephemeral') }}\nselect 1 as x",
    "other/unrelated.sql": "select * from {{ ref('helper') }}",
}


@pytest.fixture(scope="module")
def dbt_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dbt project ``mini`` with the manifest built by ``dbt parse`` (as `make manifest` does)."""
    project = tmp_path_factory.mktemp("dbt") / "mini"
    for name, sql in MODELS.items():
        (project / "models" / name).parent.mkdir(parents=True, exist_ok=True)
        (project / "models" / name).write_text(sql + "\n")
    (project / "dbt_project.yml").write_text(
        "name: mini\nversion: '1.0.0'\nconfig-version: 2\nprofile: mini\nmodel-paths: [models]\n"
        "models:\n  mini:\n    +materialized: table\n"
    )
    (project / "profiles.yml").write_text(
        textwrap.dedent("""\
            mini:
              target: parse
              outputs:
                parse: {type: duckdb, path: ":memory:", schema: gold}
            """)
    )
    dbt = Path(sys.executable).with_name("dbt")
    subprocess.run([str(dbt), "parse", "--profiles-dir", ".", "--target", "parse", "-q"], cwd=project, check=True)
    assert (project / "target" / "manifest.json").is_file()
    return project


def rendered(project: Path, select: list[str], exclude: list[str]) -> set[str]:
    """Model names of the tasks the factory's cosmos ``DbtTaskGroup`` renders for this selection."""
    from airflow.sdk import DAG

    from medallion.gold.dbt import build_gold_group

    spec = SpecLoader(ROOT / "dag_configs").load(ROOT / "dag_configs/sales/orders.yaml")
    spec = spec.model_copy(update={"gold": Gold(select=select, exclude=exclude, project_dir=str(project))})
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with DAG("selection", schedule=None, start_date=start, auto_register=False) as dag:
        build_gold_group(spec)
    return {uid.rsplit(".", 1)[1] for uid in rendered_models(dag.tasks)}


ALL_TPCH = {"stg_lineitem", "orders_summary", "revenue"}


@pytest.mark.parametrize(
    ("select", "exclude", "expected"),
    [
        (["path:models/tpch"], [], ALL_TPCH),  # a directory, with its subdirectories
        (["path:models/tpch/marts"], [], {"revenue"}),
        (["tag:nightly"], [], {"orders_summary"}),
        (["fqn:mini.tpch.marts.revenue"], [], {"revenue"}),
        (["orders_summary"], [], {"orders_summary"}),  # a bare model name
        (["+revenue"], [], ALL_TPCH),  # ancestors
        (["stg_lineitem+"], [], ALL_TPCH),  # descendants
        (["1+revenue"], [], {"orders_summary", "revenue"}),  # one generation up
        (["@orders_summary"], [], ALL_TPCH),  # descendants and their ancestors
        (["config.materialized:view"], [], {"revenue"}),
        (["path:models/tpch"], ["tag:staging"], {"orders_summary", "revenue"}),
        (["tag:nightly", "revenue"], [], {"orders_summary", "revenue"}),  # a union
        (["path:models/other"], [], {"unrelated"}),  # cosmos renders no task for the ephemeral helper
    ],
)
def test_our_selection_is_what_cosmos_renders(dbt_project: Path, select: list, exclude: list, expected: set) -> None:
    ours = select_gold(dbt_project, select, exclude)
    assert not ours.problems
    assert {m.name for m in ours.models} == expected
    assert rendered(dbt_project, select, exclude) == expected


def test_tables_come_from_table_producing_models(dbt_project: Path) -> None:
    assert select_gold(dbt_project, ["path:models/other"]).tables == ["gold.unrelated"]
    assert select_gold(dbt_project, ["path:models/other"]).reads == ()  # an ephemeral ref is no table
    assert select_gold(dbt_project, ["revenue"]).reads == ("gold.orders_summary",)  # what the docs name an owner for
    only_ephemeral = select_gold(dbt_project, ["helper"])
    assert not only_ephemeral.models and only_ephemeral.problems[0].message.startswith("the gold selection builds no")


@pytest.mark.parametrize(
    ("select", "exclude", "problem"),
    [
        (["path:models/tpc"], [], ("select", 0, "dbt selector 'path:models/tpc' matches no node of the dbt project")),
        (["tag:nightly", "tag:nigthly"], [], ("select", 1, "dbt selector 'tag:nigthly' matches no node")),
        (["bogus:x"], [], ("select", 0, "dbt selector 'bogus:x' is invalid")),
        (["tag:nightly"], ["tag:nightly"], ("select", -1, "the gold selection builds no dbt model")),
    ],
)
def test_selections_that_build_nothing_are_problems(dbt_project: Path, select: list, exclude: list, problem) -> None:
    problems = select_gold(dbt_project, select, exclude).problems
    found = [(p.field, p.index, p.message) for p in problems if p.severity == "error"]
    assert any(f[:2] == problem[:2] and f[2].startswith(problem[2]) for f in found), found


def test_a_prefix_is_not_a_directory_for_cosmos_either(dbt_project: Path) -> None:
    """The issue's case: `path:models/tpc` next to models/tpch renders no task, so validate must say so."""
    assert rendered(dbt_project, ["path:models/tpc"], []) == set()
    assert not select_gold(dbt_project, ["path:models/tpc"]).models


def test_an_exclude_that_matches_nothing_is_a_warning(dbt_project: Path) -> None:
    problems = select_gold(dbt_project, ["path:models/tpch"], ["tag:stagin"]).problems
    assert [(p.field, p.index, p.severity) for p in problems] == [("exclude", 0, "warning")]


TPCH_SPEC = """\
description: TPC-H revenue marts.
owners: [{name: TPC Team, email: tpc@example.com}]
start_date: 2026-11-01
gold:
  select: ["path:models/tpc"]
  project_dir: {project}
"""


def test_validate_and_loader_reject_a_selection_that_builds_nothing(
    configs: Path, dbt_project: Path, capsys: pytest.CaptureFixture
) -> None:
    from medallion.cli import main as cli
    from medallion.factory.loader import load_dags

    spec = configs / "tpch" / "orders.yaml"
    spec.parent.mkdir()
    spec.write_text(TPCH_SPEC.replace("{project}", str(dbt_project)))
    assert cli(["validate", str(configs)]) == 1
    err = capsys.readouterr().err
    assert f"{spec}:5:" in err or "tpch/orders.yaml:5:" in err, err
    assert "gold.select[0]: dbt selector 'path:models/tpc' matches no node of the dbt project" in err
    dags = load_dags(configs)
    assert "tpch_orders" not in dags and "invalid__tpch_orders" in dags  # a placeholder, never an empty group
    assert "path:models/tpc" in dags["invalid__tpch_orders"].doc_md
    assert {"sales_orders", "marketing_customer_segments"} <= set(dags)

    spec.write_text(TPCH_SPEC.replace("{project}", str(dbt_project)).replace("models/tpc", "models/tpch"))
    dags = load_dags(configs)
    models = {uid.rsplit(".", 1)[1] for uid in rendered_models(dags["tpch_orders"].tasks)}
    assert models == ALL_TPCH
    assert "| `gold.revenue` | dbt model `revenue` |" in dags["tpch_orders"].doc_md


def test_answers_are_kept_per_manifest_version_so_validate_skips_cosmos(dbt_project: Path) -> None:
    import json
    import os

    cache = dbt_project / "target" / "medallion_selection.json"
    first = select_gold(dbt_project, ["tag:nightly"], ["revenue"])
    assert json.dumps([["tag:nightly"], ["revenue"]]) in json.loads(cache.read_text())["answers"]
    probe = (
        "import sys; from pathlib import Path; from medallion.gold.selection import select_gold; "
        f"s = select_gold(Path({str(dbt_project)!r}), ['tag:nightly'], ['revenue']); "
        "print([m.name for m in s.models], 'airflow' in sys.modules, 'cosmos' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[-2] == "['orders_summary'] False False"  # answered from the cache, no cosmos import
    assert [m.name for m in first.models] == ["orders_summary"]

    manifest = dbt_project / "target" / "manifest.json"
    stat = manifest.stat()
    os.utime(manifest, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a rebuilt manifest
    assert select_gold(dbt_project, ["tag:nightly"], ["revenue"]) == first
    assert json.loads(cache.read_text())["version"].startswith(f"{stat.st_mtime_ns + 1_000_000}:")
