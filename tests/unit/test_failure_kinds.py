"""Errors as types: every failure kind the code names is a key of ``alerts/hints.yaml``, every class
there tells on-call what to do, and every exception the factory raises is a ``MedallionError``.

The kinds are read from the source with ``ast`` (nothing is imported, so a module that does not
import cleanly right now cannot hide a kind): ``kind=`` arguments, exceptions' ``kind = ...``,
``catalog.classes["..."]`` look-ups and the string returns of ``*_kind`` functions, whether written
as a literal, a ``FailureKind`` member or a module constant bound to one of those.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from medallion.errors import FailureKind, GateFailed, MedallionError
from medallion.failures import CATALOG, classify

PACKAGE = Path(__file__).resolve().parents[2] / "include" / "medallion"
#: the local runtime stands apart: its emulators answer with their own protocol errors
OUTSIDE = ("local",)
#: control-flow signals, not errors: derive from BaseException so that notebook code cannot catch them
SIGNALS = {
    "_NotebookExit": "dbutils.notebook.exit ends a notebook; a notebook's `except Exception` must not swallow it"
}
#: exception bases of other libraries a factory error may add next to ``MedallionError``
EXTERNAL_BASES = {
    "Exception",
    "BaseException",
    "AirflowFailException",
    "AirflowException",
    "ValueError",
    "FileNotFoundError",
    "RuntimeError",
    "OSError",
    "KeyError",
    "TypeError",
    "LookupError",
}


def _catalog() -> dict:
    return yaml.safe_load(CATALOG.read_text(encoding="utf-8"))


def _known_kinds() -> set[str]:
    raw = _catalog()
    return set(raw["classes"]) | set(raw.get("families") or {})


def _modules() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if p.relative_to(PACKAGE).parts[0] not in OUTSIDE]


def _value(node: ast.expr | None, constants: dict[str, str]) -> str | None:
    """The kind an expression names, when it can be told without running the code."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "FailureKind":
        return FailureKind[node.attr].value
    name = _name(node) if node is not None else None
    return constants.get(name) if name else None


def _constants(trees: dict[str, ast.Module]) -> dict[str, str]:
    """Module-level ``NAME = "kind"`` / ``NAME = FailureKind.X`` bindings of the package (``steps.LAKE``)."""
    found: dict[str, str] = {}
    for tree in trees.values():
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                value = _value(node.value, {})
                if value is not None and node.targets[0].id.isupper():
                    found[node.targets[0].id] = value
    return found


def _name(node: ast.expr) -> str | None:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None


def _exception_classes(trees: dict[str, ast.Module]) -> dict[str, tuple[str, list[str]]]:
    """Class name → (``file:line``, base names) of every class in the package."""
    classes = {}
    for file, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = [
                    b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else "?"
                    for b in node.bases
                ]
                if isinstance(node.bases[0] if node.bases else None, ast.Call):  # class X(fail_exception_type())
                    bases = ["AirflowFailException"]
                classes[node.name] = (f"{file}:{node.lineno}", bases)
    return classes


def _ancestors(classes: dict[str, tuple[str, list[str]]], name: str, seen: frozenset[str] = frozenset()) -> set[str]:
    if name in seen or name not in classes:
        return {name}
    found = {name}
    for base in classes[name][1]:
        found |= _ancestors(classes, base, seen | {name})
    return found


def _errors(classes: dict[str, tuple[str, list[str]]]) -> set[str]:
    """The exception classes among ``classes`` (an operator's ``kind`` is a source kind, not a failure)."""
    return {name for name in classes if _ancestors(classes, name) & EXTERNAL_BASES}


def kinds_used(trees: dict[str, ast.Module]) -> dict[str, set[str]]:
    """Kind → the ``file:line`` places that name it."""
    constants = _constants(trees)
    errors = _errors(_exception_classes(trees))
    used: dict[str, set[str]] = {}

    def note(node: ast.expr | None, where: str, *, literal_only: bool = False) -> None:
        value = _value(node, {} if literal_only else constants)
        if value:
            used.setdefault(value, set()).add(where)

    for file, tree in trees.items():
        for node in ast.walk(tree):
            where = f"{file}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg == "kind":
                        note(kw.value, where)
            elif isinstance(node, ast.ClassDef) and node.name in errors:
                for stmt in node.body:
                    target = stmt.targets[0] if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 else None
                    if isinstance(stmt, ast.AnnAssign):
                        target = stmt.target
                    if isinstance(target, ast.Name) and target.id == "kind":
                        note(stmt.value, f"{file}:{stmt.lineno}")
            elif isinstance(node, ast.Subscript) and _name(node.value) == "classes":  # catalog.classes["x"]
                note(node.slice, where, literal_only=True)
            elif isinstance(node, ast.FunctionDef) and node.name.endswith("_kind"):
                for ret in ast.walk(node):
                    if isinstance(ret, ast.Return):
                        note(ret.value, f"{file}:{ret.lineno}", literal_only=True)
    return used


@pytest.fixture(scope="module")
def trees() -> dict[str, ast.Module]:
    return {str(p.relative_to(PACKAGE)): ast.parse(p.read_text(encoding="utf-8"), str(p)) for p in _modules()}


def test_every_failure_kind_member_is_in_hints_yaml() -> None:
    missing = sorted(k.value for k in FailureKind if k.value not in _known_kinds())
    assert not missing, f"add these kinds to {CATALOG} (classes or families): {missing}"


def test_every_kind_the_code_names_is_in_hints_yaml(trees: dict[str, ast.Module]) -> None:
    used = kinds_used(trees)
    # the scan sees the gates', bronze steps' and dbt's kinds (else it would pass by finding nothing)
    expected = {"gate_infra", "contract_violation", "lake", "source_query", "dbt_test_failure", "schema_drift"}
    assert expected <= set(used), sorted(used)
    unknown = {kind: sorted(places) for kind, places in used.items() if kind not in _known_kinds()}
    assert not unknown, f"these kinds are not classes or families in {CATALOG}: {unknown}"


def test_the_scan_reports_a_kind_missing_from_hints_yaml() -> None:
    code = (
        'LAKE = "lake"\nTYPO = "lake_typo"\n'
        "class Broken(Exception):\n    kind = FailureKind.LAKE\n"
        'def f():\n    run_step("x", "y", "", g, kind=TYPO)\n    raise E(kind="nope")\n'
        'def failure_kind(x):\n    return "dbt_tset_failure"\n'
        'hint = load_catalog().classes["schema_drfit"].hint\n'
    )
    used = kinds_used({"snippet.py": ast.parse(code)})
    assert set(used) == {"lake", "lake_typo", "nope", "dbt_tset_failure", "schema_drfit"}
    assert used["lake_typo"] == {"snippet.py:6"} and not {"lake_typo", "nope"} <= _known_kinds()


def test_every_class_in_hints_yaml_has_a_title_a_hint_and_a_retry_policy() -> None:
    raw = _catalog()
    broken = {
        name: [key for key in ("title", "hint") if not str(cls.get(key) or "").strip()]
        + ([] if isinstance(cls.get("retry"), bool) else ["retry"])
        for name, cls in raw["classes"].items()
    }
    broken = {name: keys for name, keys in broken.items() if keys}
    assert not broken, f"complete these classes in {CATALOG}: {broken}"
    for family, members in (raw.get("families") or {}).items():
        assert members and set(members) <= set(raw["classes"]), family


def test_every_exception_the_factory_defines_is_a_medallion_error(trees: dict[str, ast.Module]) -> None:
    classes = _exception_classes(trees)
    errors = _errors(classes)
    assert {"QualityGateFailed", "DbtTestsFailed", "ContractViolation", "BronzeCorrupt", "StepError"} <= errors
    outside = {
        classes[n][0]: n
        for n in sorted(errors - {"MedallionError"} - set(SIGNALS))
        if "MedallionError" not in _ancestors(classes, n)
    }
    assert not outside, f"derive these from medallion.errors.MedallionError: {outside}"


def test_a_gate_failure_is_recognised_by_its_type() -> None:
    from medallion.bronze.verify import BronzeCorrupt
    from medallion.quality.operator import ContractViolation, QualityGateFailed

    report = {"critical_failed": 1}
    assert classify(QualityGateFailed("2 critical expectations failed", report), "silver").name == "quality_gate_failed"
    assert classify(ContractViolation("amount declared int", report), "silver").name == "contract_violation"
    assert classify(BronzeCorrupt("changed", target="t", hint="h"), "bronze").name == "bronze_corrupt"
    assert issubclass(QualityGateFailed, GateFailed) and issubclass(BronzeCorrupt, MedallionError)

    reported = Exception("critical")  # a report attribute alone does not make a gate failure
    reported.report = report  # type: ignore[attr-defined]
    assert classify(reported, None).name != "quality_gate_failed"
