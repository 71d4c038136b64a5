"""DAG integrity as the Astro CLI's project template checks it, adapted to the factory.

The template (``tests/dags/test_dag_example.py`` and ``.astro/test_dag_integrity_default.py`` of
``astro dev init``) parses ``dags/`` with Airflow's ``DagBag`` and wants no import errors, tags on
every DAG and retries >= 2. The factory never raises on a bad spec: it shows an ``invalid__…``
placeholder DAG instead, so "no import errors" alone would pass with every pipeline broken. Here
each spec must yield its own DAG, and no DAG may exist without a spec.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from medallion.factory.placeholder import placeholder_dag_id
from medallion.spec.load import spec_files

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "dag_configs"
#: the template's minimum; failures a retry cannot fix (code, data, spec) fail at once by class (hints.yaml)
MIN_RETRIES = 2


def parse_dags_folder(config_dir: Path) -> Any:
    """Airflow's own parse of ``dags/`` (what the DAG processor does), its loader pointed at ``config_dir``."""
    from airflow.dag_processing.dagbag import DagBag

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDALLION_CONFIG_DIR", str(config_dir))
        return DagBag(dag_folder=ROOT / "dags")


def expected_dag_ids(config_dir: Path) -> dict[Path, str | None]:
    """Spec file → the DAG id its spec declares (None when the spec does not validate)."""
    from medallion.spec.project import load_project

    project = load_project(config_dir, select_gold=None)  # the declared ids only
    return {path: (project.valid[path].spec.dag_id if path in project.valid else None) for path in project.files}


def spec_problems(bag: Any, spec: Path, dag_id: str | None, config_dir: Path) -> list[str]:
    """What keeps ``spec`` from a healthy DAG: a placeholder in its place, no DAG, no tags, too few retries."""
    rel = spec.relative_to(config_dir)
    placeholder = placeholder_dag_id(spec, config_dir)
    if placeholder in bag.dags:
        return [f"{rel} yields the placeholder DAG {placeholder}:\n{bag.dags[placeholder].doc_md}"]
    if dag_id is None or dag_id not in bag.dags:
        return [f"{rel} yields no DAG (expected {dag_id!r}; parsed: {sorted(bag.dags)})"]
    dag, problems = bag.dags[dag_id], []
    if not dag.tags:
        problems.append(f"{rel}: DAG {dag_id} has no tags")
    retries = (dag.default_args or {}).get("retries")
    if retries is None or retries < MIN_RETRIES:
        problems.append(f"{rel}: DAG {dag_id} retries tasks {retries!r} times; the template wants >= {MIN_RETRIES}")
    return problems


@pytest.fixture(scope="module")
def bag() -> Any:
    return parse_dags_folder(CONFIGS)


@pytest.fixture(scope="module")
def expected() -> dict[Path, str | None]:
    return expected_dag_ids(CONFIGS)


def test_dags_folder_imports_without_errors(bag: Any) -> None:
    assert not bag.import_errors, "\n".join(f"{path}:\n{error}" for path, error in bag.import_errors.items())


@pytest.mark.parametrize("spec", spec_files(CONFIGS), ids=lambda p: str(p.relative_to(CONFIGS)))
def test_spec_yields_a_tagged_dag_with_retries(bag: Any, expected: dict[Path, str | None], spec: Path) -> None:
    assert spec_problems(bag, spec.resolve(), expected.get(spec.resolve()), CONFIGS.resolve()) == []


def test_every_dag_comes_from_a_spec(bag: Any, expected: dict[Path, str | None]) -> None:
    assert set(bag.dags) == {dag_id for dag_id in expected.values() if dag_id}


def test_a_broken_spec_fails_the_check_although_nothing_fails_to_import(tmp_path: Path) -> None:
    configs = tmp_path / "dag_configs"
    shutil.copytree(CONFIGS, configs)
    broken = configs / "sales" / "returns.yaml"
    broken.write_text("description: a pipeline with no owners, sources or schedule\n", encoding="utf-8")
    bag = parse_dags_folder(configs)
    expected = expected_dag_ids(configs)
    assert not bag.import_errors  # the factory keeps the file importable…
    problems = spec_problems(bag, broken.resolve(), expected[broken.resolve()], configs.resolve())
    assert len(problems) == 1 and problems[0].startswith("sales/returns.yaml yields the placeholder DAG")
    assert "sales/returns.yaml" in problems[0].split("\n", 1)[1]  # … and the placeholder names the file
    for spec, dag_id in expected.items():  # … while the good specs still yield theirs
        if spec != broken.resolve():
            assert spec_problems(bag, spec, dag_id, configs.resolve()) == []
