"""Property-based: mangled YAML never raises out of `validate` or the loader, never costs a good DAG."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from hostile_specs import HOSTILE, alias_bomb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medallion.errors import SpecError
from medallion.factory.loader import load_dags
from medallion.gold.selection import select_gold
from medallion.spec.load import SpecLoader
from medallion.spec.project import load_project

ROOT = Path(__file__).resolve().parents[3]
GOOD = (ROOT / "dag_configs/sales/orders.yaml").read_text()
LINES = GOOD.splitlines(keepends=True)
SNIPPETS = [
    ": ",
    "- ",
    "\t",
    "[",
    "{",
    "}",
    "'",
    '"',
    "&a",
    "*a",
    "!!python/object:os.system",
    "~",
    "\x00",
    "null",
    "12",
    "true",
    "  ",
    "\n",
    "#",
    "kind: http",
    "2026-13-45",
    "é",
    "---\n",
    "...",
]


@st.composite
def mangled(draw: st.DrawFn) -> str:
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["delete", "duplicate", "insert", "swap", "truncate"]))
        i = draw(st.integers(0, len(lines) - 1)) if lines else 0
        if not lines:
            break
        if op == "delete":
            lines.pop(i)
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "insert":
            line = lines[i]
            at = draw(st.integers(0, len(line)))
            lines[i] = line[:at] + draw(st.sampled_from(SNIPPETS) | st.text(max_size=5)) + line[at:]
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
    return "".join(lines)


def project_with(text: str) -> Path:
    root = Path(tempfile.mkdtemp(prefix="medallion-fuzz-")) / "dag_configs"
    shutil.copytree(ROOT / "dag_configs", root)
    # after orders.yaml in file order: a mangled copy that still claims the example's tables is the second
    # producer of them (refused), never the first
    (root / "sales/zz_fuzzed.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    return root


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mangled())
def test_validate_never_raises_and_keeps_good_specs(text: str) -> None:
    root = project_with(text)
    try:
        project = load_project(root, connections=None, select_gold=select_gold)
        good = (root / "sales/orders.yaml").resolve()
        assert good in project.valid
        fuzzed = (root / "sales/zz_fuzzed.yaml").resolve()
        for problem in project.problems(fuzzed):
            assert problem.line >= 1 and problem.column >= 1 and problem.message
    finally:
        shutil.rmtree(root.parent, ignore_errors=True)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mangled())
def test_loader_never_raises_and_keeps_good_dags(text: str) -> None:
    root = project_with(text)
    try:
        dags = load_dags(root)
        good = {"sales_orders", "marketing_customer_segments"}
        assert good <= set(dags)
        assert set(dags) - good in ({"sales_zz_fuzzed"}, {"invalid__sales_zz_fuzzed"})
    finally:
        shutil.rmtree(root.parent, ignore_errors=True)


@st.composite
def hostile(draw: st.DrawFn) -> tuple[str, str | None]:
    """Alias bombs of any shape, deep nesting, and known hostile texts spliced into a (mangled) good spec;
    with what the refusal must say (None where only *a* refusal or a valid spec is certain)."""
    kind = draw(st.sampled_from(["bomb", "deep", "spliced"]))
    if kind == "bomb":
        levels, width = draw(st.integers(2, 40)), draw(st.integers(2, 12))
        expanded = width**levels > 50_000 or width * (levels - 1) > 100  # over the value or the alias limit
        return alias_bomb(levels=levels, width=width), "alias" if expanded else ""
    if kind == "deep":
        opener, closer = draw(st.sampled_from([("[", "]"), ("{a: ", "}"), ("[{b: ", "}]")]))
        depth = draw(st.integers(20, 20_000))
        text = "description: x\nbronze: " + opener * depth + "1" + closer * draw(st.integers(0, depth)) + "\n"
        return text, "nested more than" if depth * opener.count("[") + depth * opener.count("{") > 32 else ""
    lines = draw(mangled()).splitlines(keepends=True)
    text, _ = draw(st.sampled_from(sorted(HOSTILE.values())))
    at = draw(st.integers(0, len(lines)))
    return "".join(lines[:at]) + text + "".join(lines[at:]), None


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile())
def test_hostile_specs_are_refused_quickly_and_cost_only_themselves(case: tuple[str, str | None]) -> None:
    text, refusal = case
    root = project_with(text)
    try:
        fuzzed = (root / "sales/zz_fuzzed.yaml").resolve()
        started = time.perf_counter()
        try:
            SpecLoader(root).load(fuzzed)
        except SpecError as exc:
            problems = exc.problems
        else:
            problems = []
        assert time.perf_counter() - started < 2.0
        if refusal is not None:  # bombs and deep nesting are never accepted; over a limit, the limit says so
            assert problems, "a hostile spec was accepted"
            assert refusal in " ".join(p.message for p in problems), [p.message for p in problems]
        for problem in problems:
            assert problem.line >= 1 and problem.column >= 1 and problem.message
        project = load_project(root, connections=None, select_gold=select_gold)
        assert (root / "sales/orders.yaml").resolve() in project.valid
    finally:
        shutil.rmtree(root.parent, ignore_errors=True)
