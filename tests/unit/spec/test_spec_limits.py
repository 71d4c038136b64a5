"""Hostile specs cost only themselves: size, value, alias and depth limits are checked before the YAML is
composed, and a time budget bounds the rest; each is a positioned problem with a hint."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hostile_specs import HOSTILE, alias_bomb, write_large_spec

from medallion.cli import main as cli
from medallion.errors import SpecError
from medallion.spec.limits import SpecLimits
from medallion.spec.load import SpecLoader

ROOT = Path(__file__).resolve().parents[3]


def problems_of(configs: Path, spec: Path, limits: SpecLimits | None = None) -> list:
    with pytest.raises(SpecError) as info:
        SpecLoader(configs, limits).load(spec)
    return info.value.problems


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_yaml_is_refused_quickly_at_its_line(configs: Path, name: str) -> None:
    text, message = HOSTILE[name]
    spec = configs / "sales" / f"{name}.yaml"
    spec.write_text(text)
    started = time.perf_counter()
    problems = problems_of(configs, spec)
    assert time.perf_counter() - started < 2.0  # ~0.2 s for 60,000 values on an idle machine, else ~0.01 s
    (problem,) = problems
    assert message in problem.message, problem
    assert problem.file == str(spec.resolve()) and problem.line > 1 and problem.column >= 1
    assert "MEDALLION_SPEC_" in problem.hint or "alias" in problem.hint
    assert len(problem.field) <= 61


def test_bomb_error_names_the_line_and_field_where_the_expansion_crosses_the_limit(configs: Path) -> None:
    spec = configs / "sales/bomb.yaml"
    spec.write_text(alias_bomb())
    (problem,) = problems_of(configs, spec)
    line = spec.read_text().splitlines()[problem.line - 1]
    assert line.startswith("a4: &a4 [") and problem.field.startswith("a4[")
    assert problem.message == "aliases expand this document to more than 50,000 values"


def test_oversized_file_is_refused_without_reading_it_whole(configs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = write_large_spec(configs / "sales/huge.yaml", megabytes=20)
    with spec.open("rb") as stream:
        crossing_line = stream.read(1_000_000).count(b"\n") + 1
    reads: list[int] = []
    real_open = open

    class Counting:
        """The big file's stream, recording how much each read asks for."""

        def __init__(self, stream):
            self.stream = stream

        def read(self, n: int = -1):
            reads.append(n)
            return self.stream.read(n)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.stream.close()

    def counting_open(file, *args, **kwargs):
        stream = real_open(file, *args, **kwargs)
        return Counting(stream) if str(file) == str(spec.resolve()) else stream

    monkeypatch.setattr("builtins.open", counting_open)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"{self} read whole"))
    (problem,) = problems_of(configs, spec)
    assert reads and all(0 < n <= 1_000_001 for n in reads), reads
    assert "the file is 20.0 MB; a spec may be at most 1.0 MB" in problem.message
    assert problem.line == crossing_line and problem.field == ""
    assert "MEDALLION_SPEC_MAX_BYTES" in problem.hint


def test_oversized_defaults_file_is_a_problem_of_that_file(configs: Path) -> None:
    defaults = configs / "sales/defaults.yaml"
    defaults.write_text(defaults.read_text() + "# " + "x" * 2_000_000 + "\n")
    problems = problems_of(configs, configs / "sales/orders.yaml")
    assert any(p.file == str(defaults.resolve()) and "a spec may be at most" in p.message for p in problems)


def test_time_budget_is_a_positioned_problem(configs: Path) -> None:
    spec = configs / "sales/orders.yaml"
    (problem,) = problems_of(configs, spec, SpecLimits(seconds=0.0))
    assert problem.message.startswith("the spec took more than 0 s to load (stopped while ")
    assert problem.file == str(spec.resolve()) and problem.line >= 1
    assert "MEDALLION_SPEC_SECONDS" in problem.hint


def test_limits_come_from_the_environment(configs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDALLION_SPEC_MAX_DEPTH", "3")
    monkeypatch.setenv("MEDALLION_SPEC_SECONDS", "2.5")
    assert SpecLimits.from_env() == SpecLimits(max_depth=3, seconds=2.5)
    problems = problems_of(configs, configs / "sales/orders.yaml")  # quality.silver[0].expectations[…]
    assert any("nested more than 3 levels deep" in p.message for p in problems)


def test_ordinary_anchors_and_merge_keys_still_work(configs: Path) -> None:
    spec = configs / "sales/orders.yaml"
    spec.write_text(
        spec.read_text().replace(
            "        - type: expect_column_values_to_be_unique\n          column: customer_id\n",
            "        - &unique_customer\n          type: expect_column_values_to_be_unique\n"
            "          column: customer_id\n        - <<: *unique_customer\n          severity: warning\n",
        )
    )
    loaded = SpecLoader(configs).load(spec)
    assert [e.severity.value for e in loaded.quality.bronze[1].expectations] == ["critical", "warning"]


def test_validate_answers_on_the_bomb_in_under_a_second(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The reported case: 7 min 46 s and a MemoryError before the limits."""
    root = tmp_path / "dag_configs"
    (root / "sales").mkdir(parents=True)
    (root / "defaults.yaml").write_text((ROOT / "dag_configs/defaults.yaml").read_text())
    bomb = root / "sales/lol.yaml"
    bomb.write_text(alias_bomb())
    started = time.perf_counter()
    assert cli(["validate", str(bomb)]) == 1
    assert time.perf_counter() - started < 1.0
    err = capsys.readouterr().err
    assert "lol.yaml:6:35: error: a4[5]: aliases expand this document to more than 50,000 values" in err
    assert "1 spec(s) checked: 0 valid, 1 invalid" in err
