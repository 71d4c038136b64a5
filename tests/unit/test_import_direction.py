"""Imports go one way (README "Import direction"): every module's imports, read with ``ast``
(imports inside functions too), checked against the package rule; a forbidden one fails naming file:line.

- ``spec`` is at the bottom: no other medallion package, and no import cycle between its modules;
- the layers, ``quality``, ``alerts`` and ``engines`` use ``spec``, ``engines`` and the shared
  top-level modules, not each other;
- only ``factory`` (the DAG builder) wires them together; nothing but the CLI imports ``local``.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "include" / "medallion"
PACKAGES = {p.name for p in PACKAGE.iterdir() if p.is_dir() and any(p.glob("*.py"))}
#: May import spec, engines and shared top-level modules only.
LEAVES = {"bronze", "silver", "gold", "quality", "alerts", "engines", "catalog"}
ENTRY_POINTS = {"cli.py"}  # the command line starts everything, local runtime included

#: Known back-edges still to remove: (importing file or package, imported module) → why it is still here.
ALLOWED: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    file: str  # relative to include/medallion
    line: int
    module: str  # the imported medallion module, e.g. medallion.gold.results

    @property
    def package(self) -> str | None:
        """The package of the importing file (None for a top-level module)."""
        parts = self.file.split("/")
        return parts[0] if len(parts) > 1 else None

    @property
    def target(self) -> str:
        """The imported package or top-level module name."""
        return self.module.split(".")[1] if "." in self.module else ""

    def __str__(self) -> str:
        return f"include/medallion/{self.file}:{self.line}: imports {self.module}"


def imports() -> Iterator[Import]:
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # `from medallion import duck` imports the module medallion.duck
                names = [f"medallion.{a.name}" for a in node.names] if node.module == "medallion" else [node.module]
            elif isinstance(node, ast.ImportFrom):
                raise AssertionError(f"include/medallion/{rel}:{node.lineno}: use absolute imports (medallion.…)")
            else:
                continue
            for name in names:
                if name.startswith("medallion."):
                    yield Import(rel, node.lineno, name)


def _covers(key: tuple[str, str], imp: Import) -> bool:
    where, module = key
    return imp.module == module and (imp.file == where or imp.file.startswith(where + "/"))


def allowed(imp: Import) -> bool:
    return any(_covers(key, imp) for key in ALLOWED)


def forbidden(imp: Import) -> str | None:
    """Why ``imp`` breaks the rule, or None."""
    source, target = imp.package, imp.target
    if target == source or allowed(imp):
        return None
    if target == "local" and source != "local" and imp.file not in ENTRY_POINTS:
        return "nothing imports the local runtime but the CLI"
    if source == "spec" and target in PACKAGES:
        return "spec sits at the bottom and imports no other medallion package"
    if source in LEAVES and target in PACKAGES - {"spec", "engines"}:
        return f"{source} may import spec, engines and shared top-level modules; factory/ wires packages together"
    if source is None and imp.file not in ENTRY_POINTS and target in PACKAGES - {"spec", "engines"}:
        return "a shared top-level module imports no layer package (layers import it)"
    return None


def test_imports_go_one_way() -> None:
    problems = [f"{imp}: {why}" for imp in imports() if (why := forbidden(imp))]
    assert not problems, "forbidden imports (README 'Import direction'):\n" + "\n".join(problems)


def test_allowed_exceptions_still_exist() -> None:
    """An exception that no longer occurs comes off the list, so the list only shrinks."""
    found = list(imports())
    unused = [key for key in ALLOWED if not any(_covers(key, imp) for imp in found)]
    assert not unused, f"remove from ALLOWED: {unused}"


def test_spec_modules_form_no_import_cycle() -> None:
    graph: dict[str, set[str]] = {}
    lines: dict[tuple[str, str], int] = {}
    for imp in imports():
        if imp.package == "spec" and imp.target == "spec":
            module = imp.file.removesuffix(".py").replace("/", ".")
            target = ".".join(imp.module.split(".")[1:3])
            if target != module and (PACKAGE / (target.replace(".", "/") + ".py")).is_file():
                graph.setdefault(module, set()).add(target)
                lines.setdefault((module, target), imp.line)
    cycles = []
    for start in sorted(graph):
        stack = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in sorted(graph.get(node, ())):
                if nxt == start:
                    cycles.append([*trail, start])
                elif nxt not in trail and nxt > start:  # report each cycle once, from its smallest module
                    stack.append((nxt, [*trail, nxt]))
    at = lambda a, b: f"{a} (include/medallion/{a.replace('.', '/')}.py:{lines[(a, b)]})"  # noqa: E731
    described = [" → ".join(at(a, b) for a, b in itertools.pairwise(c)) for c in cycles]
    assert not cycles, "import cycles inside spec:\n" + "\n".join(described)


def test_the_rule_catches_a_back_edge() -> None:
    """The checker itself: a function-level import of another layer is found with its line."""
    assert forbidden(Import("gold/dbt.py", 69, "medallion.alerts.message"))
    assert forbidden(Import("spec/checks.py", 50, "medallion.gold.dbt"))
    assert forbidden(Import("quality/gate.py", 1, "medallion.bronze.landing"))
    assert forbidden(Import("engines/duckdb.py", 1, "medallion.quality.publish"))
    assert forbidden(Import("errors.py", 1, "medallion.local.runtime"))
    assert forbidden(Import("catalog/app.py", 1, "medallion.gold.selection"))  # the plugin passes it in
    assert not forbidden(Import("factory/dag.py", 1, "medallion.alerts.notifier"))
    assert not forbidden(Import("quality/publish.py", 1, "medallion.engines"))
    tree = ast.parse("def f():\n    from medallion.alerts import notifier\n")
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom))
    assert node.lineno == 2
