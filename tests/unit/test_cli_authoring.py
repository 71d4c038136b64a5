"""`medallion new`, `explain` and `schema`: authoring helpers that must stay in sync with the models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medallion.cli import main as cli
from medallion.spec.reference import spec_reference_markdown
from medallion.spec.schema import schema_text

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schema_is_in_sync() -> None:
    assert (ROOT / "dag_configs/schema.json").read_text() == schema_text(), "run `make schema`"


def test_committed_spec_reference_is_in_sync() -> None:
    reference = spec_reference_markdown()
    assert (ROOT / "docs/spec-reference.md").read_text() == reference, "run `make schema`"
    assert "## PipelineSpec (a spec file)" in reference and "| `owners` | list of [Owner](#owner) | yes |" in reference
    assert "## SqlSource" in reference and "## Expectation" in reference


def test_every_spec_declares_the_schema_for_editors() -> None:
    for spec in (ROOT / "dag_configs").rglob("*.yaml"):
        first = spec.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), spec
        target = (spec.parent / first.split("=", 1)[1]).resolve()
        assert target == (ROOT / "dag_configs/schema.json").resolve(), spec


def test_schema_command_prints_json(capsys: pytest.CaptureFixture) -> None:
    assert cli(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "bronze" in schema["properties"] and schema["additionalProperties"] is False


def test_explain_names_the_origin_of_each_value(capsys: pytest.CaptureFixture) -> None:
    assert cli(["explain", "sales_orders"]) == 0
    out = capsys.readouterr().out
    assert "bucket: medallion-lake  # org defaults (dag_configs/defaults.yaml:" in out
    assert "slack_channel: '#sales-data-alerts'  # domain defaults (dag_configs/sales/defaults.yaml:" in out
    assert "schedule: '@daily'  # org defaults (dag_configs/defaults.yaml:" in out
    assert "tier: 1  # pipeline (dag_configs/sales/orders.yaml:" in out
    assert "domain: sales  # derived from the file path" in out


def test_explain_prints_yaml_that_loads_back_to_the_merged_data(configs: Path) -> None:
    """Values YAML would misread unquoted (#…, @…, yes, on, dates, multi-line text) survive a round trip,
    and every value line names the file it came from."""
    import yaml

    from medallion.spec.explain import explain
    from medallion.spec.load import SpecLoader

    spec = configs / "sales/orders.yaml"
    spec.write_text(
        spec.read_text()
        + "tags: ['yes', 'on', '# not a comment', '@here', '2026-01-01', '', 'a: b', \"it's\"]\n"
        + "x_extra:\n  'on': {}\n  matrix: [[1, 2], []]\n  text: \"line one\\nline two\"\n  when: 2026-11-01\n"
    )
    doc, problems = SpecLoader(configs).merged(spec)
    assert doc is not None and not problems
    out = explain(doc, configs)
    assert yaml.safe_load(out) == doc.data
    files = {"dag_configs/defaults.yaml", "dag_configs/sales/defaults.yaml", "dag_configs/sales/orders.yaml"}
    for line in out.splitlines():
        if not line.rstrip().endswith(":"):  # every value line, not the headers of nested mappings
            comment = line.rsplit("  # ", 1)[-1]
            assert any(f"({f}:" in comment for f in files), line
    assert "  # domain defaults (dag_configs/sales/defaults.yaml:" in next(
        line for line in out.splitlines() if line.lstrip().startswith("slack_channel:")
    )


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy = tmp_path / "project"
    for part in ("dag_configs", "include/notebooks", "dbt_project"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("target", "logs"))
    shutil.copy(ROOT / "airflow_settings.yaml", copy / "airflow_settings.yaml")
    monkeypatch.setenv("MEDALLION_PROJECT_DIR", str(copy))
    return copy


def test_new_scaffolds_files_that_validate(project: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli(["new", "finance/invoices"]) == 0
    for rel in (
        "dag_configs/finance/invoices.yaml",
        "include/notebooks/finance/invoices_silver.py",
        "dbt_project/models/finance/invoices_daily.sql",
        "dbt_project/target/manifest.json",
    ):
        assert (project / rel).is_file(), rel
    assert cli(["validate", str(project / "dag_configs")]) == 0
    assert "3 valid, 0 invalid" in capsys.readouterr().out
    assert cli(["new", "finance/invoices"]) == 1  # never overwrites
    assert cli(["new", "Finance"]) == 1


def test_lint_command(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli(["lint"]) == 0
    bad = tmp_path / "bad.py"
    bad.write_text("# Databricks notebook source\ndf = spark.range(3).selectExpr('id * 2 AS x')\n")
    assert cli(["lint", str(bad)]) == 1
    assert f"{bad}:2:" in capsys.readouterr().err
    bad.write_text("# Databricks notebook source\nshout = F.udf(lambda s: s.upper())\nspark.udf.register('s', shout)\n")
    assert cli(["lint", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:2:11: udf: Python UDF (`F.udf`) does not run on sqlframe" in err
    assert f"{bad}:3:7: udf: UDF registration (`spark.udf`) does not run on sqlframe" in err
    assert "udf: udf:" not in err
