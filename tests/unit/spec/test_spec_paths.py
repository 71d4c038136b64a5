"""Paths stay inside their roots, and column names are names: each a positioned error with a hint, and
nothing outside the repository (or the allowed file roots) is ever read."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from medallion.cli import main as cli
from medallion.errors import Problem, SpecError
from medallion.spec.load import SpecLoader

ROOT = Path(__file__).resolve().parents[3]
SECRET = "root:x:0:0:SENTINEL-NOT-TO-BE-READ"

#: Paths opened while a test watches (an audit hook cannot be removed, so it records only on demand).
_opened: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if _opened is not None and event == "open" and isinstance(args[0], str | Path):
        _opened.append(str(args[0]))


sys.addaudithook(_audit)


@pytest.fixture
def opened() -> Iterator[list[str]]:
    """Every file path the process opens during the test."""
    global _opened
    _opened = []
    try:
        yield _opened
    finally:
        _opened = None


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project (specs, notebooks, dbt) with a secret file beside it, outside the repository."""
    copy = tmp_path / "project"
    for part in ("dag_configs", "include/notebooks", "dbt_project"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("logs"))
    shutil.copy(ROOT / "airflow_settings.yaml", copy / "airflow_settings.yaml")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside/secret.py").write_text(SECRET + "\n")
    monkeypatch.setenv("MEDALLION_PROJECT_DIR", str(copy))
    return copy


def spec_with(configs: Path, old: str, new: str) -> tuple[Path, int]:
    """The example spec with ``old`` replaced by ``new``; the line where ``new`` starts."""
    spec = configs / "sales/orders.yaml"
    text = spec.read_text()
    assert old in text, old
    text = text.replace(old, new, 1)
    spec.write_text(text)
    return spec, text[: text.index(new)].count("\n") + 1


def problems_of(configs: Path, spec: Path) -> list[Problem]:
    from medallion.gold.selection import select_gold
    from medallion.spec.project import load_project

    return load_project(configs, connections=None, select_gold=select_gold).problems(spec.resolve())


@pytest.mark.parametrize("escape", ["../outside/secret.py", "../../../../../../../../etc/passwd"])
def test_notebook_path_outside_the_repository_is_refused_and_never_read(
    project: Path, escape: str, opened: list[str], capsys: pytest.CaptureFixture
) -> None:
    """Regression: `../../../etc/passwd` passed validate, and the preflight lint sent its first line to Slack."""
    from medallion.factory.loader import load_dags
    from medallion.silver.preflight import NotebookLintFailed, NotebookLintOperator

    configs = project / "dag_configs"
    spec, line = spec_with(configs, "path: include/notebooks/sales/customers_silver.py", f"path: {escape}")
    assert cli(["validate", str(spec)]) == 1
    err = capsys.readouterr().err
    assert f"orders.yaml:{line}:" in err and "silver.notebooks[0].path: " in err
    assert f"'{escape}' climbs out of its folder with '..'" in err
    assert "hint: write the path from its root without '..' segments" in err

    dags = load_dags(configs)
    assert "sales_orders" not in dags and "climbs out of its folder" in dags["invalid__sales_orders"].doc_md

    lint = NotebookLintOperator(task_id="silver_preflight", notebooks=[escape])
    with pytest.raises(NotebookLintFailed, match="outside the repository, not read") as failed:
        lint.execute({})
    assert "SENTINEL" not in str(failed.value) and "root:x" not in str(failed.value)
    secret = {str((project.parent / "outside/secret.py").resolve()), "/etc/passwd"}
    assert not [p for p in opened if str(Path(p).resolve()) in secret or p.endswith(escape)], opened


def test_a_symlink_out_of_the_repository_does_not_count_as_inside(project: Path, opened: list[str]) -> None:
    configs = project / "dag_configs"
    link = project / "include/notebooks/sales/linked.py"
    link.symlink_to(project.parent / "outside/secret.py")
    spec, line = spec_with(
        configs, "path: include/notebooks/sales/customers_silver.py", "path: include/notebooks/sales/linked.py"
    )
    (problem,) = [p for p in problems_of(configs, spec) if p.field == "silver.notebooks[0].path"]
    assert problem.line == line and "resolves outside the repository" in problem.message
    assert "symlink" in problem.hint
    from medallion.silver.preflight import NotebookLintFailed, NotebookLintOperator

    with pytest.raises(NotebookLintFailed, match="outside the repository"):
        NotebookLintOperator(task_id="lint", notebooks=["include/notebooks/sales/linked.py"]).execute({})
    assert not [p for p in opened if "secret.py" in p or p.endswith("linked.py")], opened


SQL_FILE_SOURCE = """    - kind: sql
      name: customers
      conn_id: shop_db
      query: SELECT customer_id, email, country, signup_date FROM customers"""


def file_source(path: str, extra: str = "") -> str:
    return f"    - kind: file\n      name: customers\n      path: {path}\n      format: csv\n{extra}"


@pytest.mark.parametrize(
    ("old", "new", "field", "message", "hint"),
    [
        (
            "path: include/notebooks/sales/customers_silver.py",
            "path: /etc/passwd",
            "silver.notebooks[0].path",
            "'/etc/passwd' is not a path inside the repository",
            "from the repository root",
        ),
        (
            "path: include/notebooks/sales/customers_silver.py",
            "path: include//notebooks/./x.py",
            "silver.notebooks[0].path",
            "has empty, '.' or backslash segments",
            "from the repository root",
        ),
        (
            'select: ["path:models/sales"]',
            'select: ["path:models/sales"]\n  project_dir: dbt_project/../../etc',
            "gold.project_dir",
            "climbs out of its folder with '..'",
            "without '..' segments",
        ),
        (
            "start_date: 2026-11-01",
            "lake:\n  bucket: medallion-lake\n  prefix: ../../escape/..\nstart_date: 2026-11-01",
            "lake.prefix",
            "lake prefix '../../escape/..' must be plain folder names",
            "IAM scope",
        ),
        (
            "start_date: 2026-11-01",
            "lake:\n  bucket: medallion-lake\n  prefix: team//sales\nstart_date: 2026-11-01",
            "lake.prefix",
            "must be plain folder names",
            "IAM scope",
        ),
        (
            SQL_FILE_SOURCE,
            file_source("s3://medallion-lake/../../bronze/", "      conn_id: aws_lake\n"),
            "bronze.sources[1].path",
            "has '..', '.' or empty segments in its key",
            "no '..' or '//'",
        ),
        (
            SQL_FILE_SOURCE,
            file_source("s3://drop//in/", "      conn_id: aws_lake\n"),
            "bronze.sources[1].path",
            "has '..', '.' or empty segments in its key",
            "no '..' or '//'",
        ),
        (
            SQL_FILE_SOURCE,
            file_source("../../../../etc/"),
            "bronze.sources[1].path",
            "'../../../../etc/' climbs out of its folder with '..'",
            "without '..' segments",
        ),
        (
            SQL_FILE_SOURCE,
            file_source("data/in/", "      columns: {'id; drop table x': bigint}\n"),
            "bronze.sources[1].columns.id; drop table x",
            "is not a column name",
            "a column name",
        ),
        (
            "          column: order_id\n        - type: expect_column_values_to_not_be_null\n"
            "          column: customer_id",
            '          column: "order_id) OR 1=1 --"\n        - type: expect_column_values_to_not_be_null\n'
            "          column: customer_id",
            "quality.bronze[0].expectations[1].column",
            "is not a column name",
            "a column name",
        ),
        (
            "      - {name: order_id, type: bigint, nullable: false}",
            "      - {name: order_id, type: 'bigint) ; DROP TABLE x --', nullable: false}",
            "contracts[0].columns[0].type",
            "unknown contract type",
            "fix the value",
        ),
        (
            "    primary_key: [order_id]",
            "    primary_key: ['order_id, 1']",
            "contracts[0].primary_key[0]",
            "is not a column name",
            "a column name",
        ),
    ],
)
def test_paths_and_column_names_are_positioned_errors_with_a_hint(
    configs: Path, old: str, new: str, field: str, message: str, hint: str
) -> None:
    spec, line = spec_with(configs, old, new)
    with pytest.raises(SpecError) as info:
        SpecLoader(configs).load(spec)
    found = [p for p in info.value.problems if p.field == field]
    assert found, info.value.problems
    (problem,) = found
    assert message in problem.message and hint in problem.hint, problem
    assert problem.file == str(spec.resolve())
    assert line <= problem.line <= line + new.count("\n"), (problem, line)


def test_local_file_sources_read_only_inside_the_allowed_roots(
    configs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    spec, line = spec_with(configs, SQL_FILE_SOURCE, file_source(f"{drop}/{{{{ ds }}}}/"))
    (problem,) = [p for p in problems_of(configs, spec) if p.field == "bronze.sources[1].path"]
    assert problem.line == line + 2 and "is outside the folders file sources may read" in problem.message
    assert str(ROOT / "data") in problem.message and "MEDALLION_FILE_ROOTS" in problem.hint

    monkeypatch.setenv("MEDALLION_FILE_ROOTS", str(drop))
    assert not [p for p in problems_of(configs, spec) if p.field == "bronze.sources[1].path"]

    monkeypatch.delenv("MEDALLION_FILE_ROOTS")
    spec, _ = spec_with(configs, f"path: {drop}/{{{{ ds }}}}/", "path: data/drop/{{ ds }}/")  # the project's data/
    assert not [p for p in problems_of(configs, spec) if p.field == "bronze.sources[1].path"]


def test_a_rendered_local_path_is_checked_again_before_anything_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opened: list[str]
) -> None:
    """A template can render what validate could not see: the store refuses before listing a folder."""
    from medallion.bronze.file_extract import LocalStore

    allowed = tmp_path / "drop"
    (allowed / "2026-11-20").mkdir(parents=True)
    (allowed / "2026-11-20/a.csv").write_text("id\n1\n")
    (tmp_path / "outside.csv").write_text(SECRET + "\n")
    monkeypatch.setenv("MEDALLION_FILE_ROOTS", str(allowed))
    assert [f.key for f in LocalStore().list(f"{allowed}/2026-11-20", "*.csv")] == [str(allowed / "2026-11-20/a.csv")]
    opened.clear()
    with pytest.raises(PermissionError, match=r"outside the folders file sources may read .*MEDALLION_FILE_ROOTS"):
        LocalStore().list(f"{allowed}/2026-11-20/../../outside.csv", "*")
    assert not [p for p in opened if "outside" in p], opened
