"""Spec validation: good specs pass; bad ones fail with file, line, field and a hint."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from medallion.cli import main as cli
from medallion.errors import SpecError
from medallion.spec.load import SpecLoader

ROOT = Path(__file__).resolve().parents[3]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def problems_of(configs: Path, spec: Path) -> list:
    with pytest.raises(SpecError) as info:
        SpecLoader(configs).load(spec)
    return info.value.problems


def test_example_spec_is_valid_and_merges_defaults() -> None:
    spec = SpecLoader(ROOT / "dag_configs").load(ROOT / "dag_configs/sales/orders.yaml")
    assert spec.id == "sales_orders"
    assert spec.domain == "sales"  # from the folder
    assert spec.lake.bucket == "medallion-lake"  # org defaults
    assert spec.alerts.slack_channel == "#sales-data-alerts"  # domain defaults
    assert spec.alerts.docs_url  # org defaults merged key by key with domain alerts
    assert [s.name for s in spec.bronze.sources] == ["orders", "customers"]


def test_unknown_key_points_at_line_with_did_you_mean(configs: Path) -> None:
    spec = configs / "sales/orders.yaml"
    text = spec.read_text().replace(
        "      conn_id: shop_db\n      query: >-", "      conn_id: shop_db\n      querry: >-", 1
    )
    spec.write_text(text)
    problems = problems_of(configs, spec)
    unknown = next(p for p in problems if "unknown key" in p.message)
    line_no = next(i for i, line in enumerate(text.splitlines(), 1) if "querry" in line)
    assert (unknown.file, unknown.line, unknown.field) == (str(spec), line_no, "bronze.sources[0].querry")
    assert "did you mean 'query'" in unknown.hint
    missing = next(p for p in problems if "missing" in p.message)
    assert missing.field == "bronze.sources[0].query"


def test_enum_typo_and_wrong_type(configs: Path) -> None:
    spec = write(
        configs / "sales/bad.yaml",
        """
        description: x
        start_date: 2026-11-01
        catchup: sometimes
        bronze:
          sources:
            - kind: sql
              name: orders
              conn_id: shop_db
              query: select 1
              on_empty: fial
        """,
    )
    problems = {p.field: p for p in problems_of(configs, spec)}
    assert problems["bronze.sources[0].on_empty"].line == 10
    assert "did you mean 'fail'" in problems["bronze.sources[0].on_empty"].hint
    assert problems["catchup"].line == 3
    assert "true or false" in problems["catchup"].hint


def test_error_in_domain_defaults_points_at_defaults_file(configs: Path) -> None:
    defaults = configs / "sales/defaults.yaml"
    defaults.write_text(defaults.read_text() + "retires: 3\n")
    problems = problems_of(configs, configs / "sales/orders.yaml")
    assert problems[0].file == str(defaults.resolve())
    assert problems[0].field == "retires"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("- just\n- a list\n", "not a mapping"),
        ("description: [unclosed\n", "invalid YAML"),
        ("description: a\ndescription: b\n", "duplicate key"),
        ("start_date: yesterday\n", "not a date"),
        ("description: x\nstart_date: 2026-02-30\n", "day is out of range"),
        ("description: x\n? [a, b]\n: c\n", "keys must be plain"),
    ],
)
def test_unreadable_documents_are_positioned_problems(configs: Path, text: str, message: str) -> None:
    spec = configs / "sales/broken.yaml"
    spec.write_text(text)
    problems = problems_of(configs, spec)
    assert any(message in p.message for p in problems), problems
    assert all(p.file == str(spec.resolve()) and p.line >= 1 for p in problems)
    if text.startswith("description: x\n"):  # the problem is on line 2, not the top of the file
        assert [p.line for p in problems if message in p.message] == [2], problems


def test_cli_validate_reports_every_error_and_exits_nonzero(configs: Path, capsys: pytest.CaptureFixture) -> None:
    write(configs / "sales/one.yaml", "description: x\nstart_date: 2026-11-01\nbronze: {sources: []}\nfoo: 1\n")
    write(configs / "sales/two.yaml", "- nope\n")
    assert cli(["validate", str(configs)]) == 1
    err = capsys.readouterr().err
    assert "one.yaml:4:1: error: foo: unknown key 'foo'" in err
    assert "one.yaml:3:10: error: bronze.sources" in err
    assert "two.yaml:1:1: error" in err
    assert "4 spec(s) checked: 2 valid, 2 invalid" in err


def test_cli_validate_passes_on_project_specs(capsys: pytest.CaptureFixture) -> None:
    assert cli(["validate", str(ROOT / "dag_configs")]) == 0
    assert "0 invalid" in capsys.readouterr().out


def test_a_bad_spec_never_leaks_into_shared_defaults(configs: Path) -> None:
    """Regression (found by the fuzzer): merging used to write into the cached defaults document."""
    from medallion.gold.selection import select_gold
    from medallion.spec.project import load_project

    text = (configs / "sales/orders.yaml").read_text()
    (configs / "sales/aaa.yaml").write_text(text.replace("gold:\n  select:", "  select:"))
    project = load_project(configs, connections=None, select_gold=select_gold)
    assert not project.problems((configs / "sales/orders.yaml").resolve())
    assert project.problems((configs / "sales/aaa.yaml").resolve())


@pytest.mark.parametrize("target", ["sales", "marketing", "sales/orders.yaml"])
def test_cli_validate_of_a_domain_folder_or_one_file_merges_the_defaults_above(
    configs: Path, target: str, capsys: pytest.CaptureFixture
) -> None:
    assert cli(["validate", str(configs / target)]) == 0, capsys.readouterr().err
    assert "1 spec(s) checked: 1 valid, 0 invalid" in capsys.readouterr().out


def test_cli_validate_of_a_domain_folder_reports_only_its_own_specs(
    configs: Path, capsys: pytest.CaptureFixture
) -> None:
    write(configs / "sales/bad.yaml", "description: x\nstart_date: 2026-11-01\nfoo: 1\n")
    write(configs / "marketing/bad.yaml", "description: x\nstart_date: 2026-11-01\nbar: 1\n")
    assert cli(["validate", str(configs / "sales")]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml:3:1: error: foo: unknown key 'foo'" in err and "bar" not in err
    assert "missing" not in err  # owners, lake… come from the defaults above the folder
    assert "2 spec(s) checked: 1 valid, 1 invalid" in err
