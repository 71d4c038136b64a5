"""Checks that need more than one file: the project as a whole, seen by `validate` and the loader.

Per-file validation (pydantic) cannot see duplicate ids, assets nobody produces, cycles
between pipelines, notebooks or dbt selectors that resolve to nothing, connections missing
from airflow_settings.yaml, or secrets pasted into YAML.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from medallion import paths
from medallion.errors import MedallionError, Problem
from medallion.spec.docs_url import RUNBOOK_PATH, docs_url_missing
from medallion.spec.load import MergedDoc, PathKey, dotted
from medallion.spec.models import PipelineSpec
from medallion.spec.notebook_cases import spec_cases
from medallion.spec.ownership import TableOwner, assign_owners, misplaced_contracts, produced_tables

SELECTOR_HINT = (
    "dbt selector syntax as cosmos renders it: path:models/<folder> (a whole directory, not a prefix), tag:<tag>, "
    "a model name, fqn:<project>.<folder>.<model>, config.materialized:<m>, with +/@ graph operators; "
    "`make manifest` after adding models"
)


@dataclass
class LoadedSpec:
    path: Path
    spec: PipelineSpec
    doc: MergedDoc


@dataclass
class ProjectReport:
    """Problems per spec file after per-file and cross-pipeline checks."""

    problems: dict[Path, list[Problem]] = field(default_factory=dict)
    gold: dict[Path, Any] = field(default_factory=dict)  # spec → its resolved gold selection
    owners: dict[str, TableOwner] = field(default_factory=dict)  # table → producing pipeline

    def add(self, path: Path, problem: Problem) -> None:
        self.problems.setdefault(path, []).append(problem)

    def errors(self, path: Path) -> list[Problem]:
        return [p for p in self.problems.get(path, []) if p.severity == "error"]


def _problem(
    item: LoadedSpec, at: PathKey, field_name: str, message: str, hint: str, severity: str = "error"
) -> Problem:
    pos = item.doc.position(at)
    return Problem(pos.file, pos.line, pos.column, field_name, message, hint, severity)


class GoldSelector(Protocol):
    """Resolves a gold selection the way the gold task group renders it (``medallion.gold.selection``).

    Passed in, so this package does not import the gold layer; raises FileNotFoundError without a manifest.
    """

    def __call__(self, project_dir: Path, select: Sequence[str], exclude: Sequence[str]) -> Any: ...


def check_project(
    items: Iterable[LoadedSpec], known_connections: set[str] | None, select_gold: GoldSelector | None = None
) -> ProjectReport:
    """Cross-pipeline problems; ``known_connections`` None skips the connection check, ``select_gold``
    None the gold selections (and so gold tables in ownership)."""
    report = ProjectReport()
    items = list(items)
    _duplicate_ids(items, report)
    _notebooks_exist(items, report)
    _notebook_tests(items, report)
    if select_gold is not None:
        _gold_selections(items, select_gold, report)
    _one_owner_per_table(items, report)
    _asset_triggers(items, report)
    if known_connections is not None:
        _connections_known(items, known_connections, report)
    _docs_url_set(items, report)
    return report


def _docs_url_set(items: list[LoadedSpec], report: ProjectReport) -> None:
    """Once per project (at the first spec): alerts cannot link the runbook until docs_url is set."""
    item = next((i for i in items if not i.spec.alerts.runbook and docs_url_missing(i.spec.alerts.docs_url)), None)
    if item is None:
        return
    value = item.spec.alerts.docs_url
    report.add(
        item.path,
        _problem(
            item,
            ("alerts", "docs_url"),
            "alerts.docs_url",
            f"{'is still the placeholder ' + repr(value) if value else 'is not set'}: alerts name the runbook "
            f"as the file {RUNBOOK_PATH}#<class> instead of a link",
            "set alerts.docs_url in dag_configs/defaults.yaml to where this repository can be read in a browser, "
            "e.g. https://github.com/<org>/<repo>/blob/main",
            severity="warning",
        ),
    )


def _duplicate_ids(items: list[LoadedSpec], report: ProjectReport) -> None:
    first: dict[str, LoadedSpec] = {}
    for item in items:
        other = first.setdefault(item.spec.id, item)
        if other is not item:
            report.add(
                item.path,
                _problem(
                    item,
                    ("id",),
                    "id",
                    f"pipeline id {item.spec.id!r} is already used by {other.path}",
                    "give one of the two pipelines another `id:` (or file name)",
                ),
            )


def _notebooks_exist(items: list[LoadedSpec], report: ProjectReport) -> None:
    for item in items:
        for i, nb in enumerate(item.spec.silver.notebooks if item.spec.silver else []):
            if not paths.resolve(nb.path).is_file():
                report.add(
                    item.path,
                    _problem(
                        item,
                        ("silver", "notebooks", i, "path"),
                        f"silver.notebooks[{i}].path",
                        f"notebook {nb.path!r} does not exist",
                        "give the repository path of a .py notebook source file",
                    ),
                )


def _notebook_tests(items: list[LoadedSpec], report: ProjectReport) -> None:
    """Notebook test cases: tests files and fixtures readable, fixture columns within the contracts."""
    for item in items:

        def position(key: PathKey, doc: MergedDoc = item.doc) -> tuple[str, int, int]:
            pos = doc.position(key)
            return pos.file, pos.line, pos.column

        for problem in spec_cases(item.spec, position)[1]:
            report.add(item.path, problem)


def _gold_selections(items: list[LoadedSpec], select_gold: GoldSelector, report: ProjectReport) -> None:
    """Each spec's gold selection as cosmos renders it; a selector that selects nothing is an error."""
    for item in items:
        gold = item.spec.gold
        if gold is None:
            continue
        try:
            selection = select_gold(paths.resolve(gold.project_dir), gold.select, gold.exclude)
        except MedallionError as exc:  # no manifest: a warning (validate before `make manifest`); unreadable: error
            missing = isinstance(exc, FileNotFoundError)
            report.add(
                item.path,
                _problem(
                    item,
                    ("gold",),
                    "gold",
                    f"{exc}: the gold selection and its tables were not checked" if missing else str(exc),
                    "run `make manifest` (dbt parse)",
                    severity="warning" if missing else "error",
                ),
            )
            continue
        report.gold[item.path] = selection
        for found in selection.problems:
            at = ("gold", found.field, found.index) if found.index >= 0 else ("gold", found.field)
            report.add(item.path, _problem(item, at, dotted(at), found.message, SELECTOR_HINT, found.severity))


def _one_owner_per_table(items: list[LoadedSpec], report: ProjectReport) -> None:
    produced = []
    for item in items:
        produced.append((item, produced_tables(item, report.gold.get(item.path))))
    report.owners, duplicates = assign_owners(produced)
    for item, problem in duplicates:
        report.add(item.path, problem)
    for item in items:
        gold_known = item.spec.gold is None or item.path in report.gold
        for problem in misplaced_contracts(item, report.owners, gold_known):
            report.add(item.path, problem)


def _asset_triggers(items: list[LoadedSpec], report: ProjectReport) -> None:
    layers = {item.spec.id: _layers(item.spec) for item in items}
    graph: dict[str, set[str]] = {}
    for item in items:
        for i, ref in enumerate(item.spec.triggers):
            pipeline, layer = ref.split(".")
            graph.setdefault(item.spec.id, set()).add(pipeline)
            if pipeline not in layers or layer not in layers[pipeline]:
                known = sorted(f"{p}.{layer_}" for p, ls in layers.items() for layer_ in ls)
                import difflib

                close = difflib.get_close_matches(ref, known, n=1)
                report.add(
                    item.path,
                    _problem(
                        item,
                        ("triggers", i),
                        f"triggers[{i}]",
                        f"no pipeline publishes {ref!r}",
                        f"did you mean {close[0]!r}?"
                        if close
                        else "name <pipeline id>.<bronze|silver|gold> of a pipeline",
                    ),
                )
    for cycle in _cycles(graph):
        for item in items:
            if item.spec.id in cycle:
                report.add(
                    item.path,
                    _problem(
                        item,
                        ("triggers",),
                        "triggers",
                        f"pipelines trigger each other in a cycle: {' → '.join(cycle)}",
                        "remove one trigger so the dependency between pipelines is one-way",
                    ),
                )


def _layers(spec: PipelineSpec) -> set[str]:
    return {layer for layer in ("bronze", "silver", "gold") if getattr(spec, layer) is not None}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return cycles


def _connections_known(items: list[LoadedSpec], known: set[str], report: ProjectReport) -> None:
    for item in items:
        for i, src in enumerate(item.spec.bronze.sources if item.spec.bronze else []):
            if src.conn_id is not None and src.conn_id not in known:
                report.add(
                    item.path,
                    _problem(
                        item,
                        ("bronze", "sources", i, "conn_id"),
                        f"bronze.sources[{i}].conn_id",
                        f"connection {src.conn_id!r} is not in airflow_settings.yaml",
                        "add it there (placeholders only) and to the production secrets backend",
                        severity="warning",
                    ),
                )
