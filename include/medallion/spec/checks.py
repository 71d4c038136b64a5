"""Checks that need more than one file: the project as a whole, seen by `validate` and the loader.

Per-file validation (pydantic) cannot see duplicate ids, assets nobody produces, cycles
between pipelines, notebooks or dbt selectors that resolve to nothing, connections missing
from airflow_settings.yaml, or secrets pasted into YAML.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from medallion import paths
from medallion.errors import Problem
from medallion.spec.load import MergedDoc, PathKey, dotted
from medallion.spec.models import PipelineSpec

_SECRET_KEY = re.compile(r"(?i)^(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)$")
_SECRET_VALUE = re.compile(
    r"xox[abposr]-[A-Za-z0-9-]{10,}|dapi[0-9a-f]{20,}|AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY"
    r"|(?i:password\s*=\s*[^\s;'\"{]+)|://[^:/@\s]+:[^@/\s{]+@"
)
SECRET_HINT = "never put credentials in a spec: store them in an Airflow connection and reference its conn_id"


@dataclass
class LoadedSpec:
    path: Path
    spec: PipelineSpec
    doc: MergedDoc


@dataclass
class ProjectReport:
    """Problems per spec file after per-file and cross-pipeline checks."""

    problems: dict[Path, list[Problem]] = field(default_factory=dict)

    def add(self, path: Path, problem: Problem) -> None:
        self.problems.setdefault(path, []).append(problem)

    def errors(self, path: Path) -> list[Problem]:
        return [p for p in self.problems.get(path, []) if p.severity == "error"]


def _problem(
    item: LoadedSpec, at: PathKey, field_name: str, message: str, hint: str, severity: str = "error"
) -> Problem:
    pos = item.doc.position(at)
    return Problem(pos.file, pos.line, pos.column, field_name, message, hint, severity)


def find_secrets(doc: MergedDoc, file: str) -> list[Problem]:
    """Password/token-like keys with a value, or values that look like credentials."""
    found: list[Problem] = []

    def walk(node: Any, at: PathKey) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if _SECRET_KEY.match(str(key)) and value not in (None, ""):
                    found.append(_secret(doc, (*at, key), f"key {key!r} holds a literal secret"))
                else:
                    walk(value, (*at, key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, (*at, i))
        elif isinstance(node, str) and _SECRET_VALUE.search(node):
            found.append(_secret(doc, at, "this value looks like a credential"))

    walk(doc.data, ())
    return found


def _secret(doc: MergedDoc, at: PathKey, message: str) -> Problem:
    pos = doc.position(at)
    return Problem(pos.file, pos.line, pos.column, dotted(at), message, SECRET_HINT)


def check_project(items: Iterable[LoadedSpec], known_connections: set[str] | None) -> ProjectReport:
    """Cross-pipeline problems; ``known_connections`` None skips the connection check."""
    report = ProjectReport()
    items = list(items)
    _duplicate_ids(items, report)
    _notebooks_exist(items, report)
    _dbt_selectors_match(items, report)
    _asset_triggers(items, report)
    if known_connections is not None:
        _connections_known(items, known_connections, report)
    return report


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


@cache
def _manifest_nodes(manifest: Path, mtime: float) -> list[dict[str, Any]]:
    data = json.loads(manifest.read_text(encoding="utf-8"))
    return [n for n in data.get("nodes", {}).values() if n.get("resource_type") == "model"]


def selector_matches(selector: str, nodes: list[dict[str, Any]]) -> list[str]:
    """Models a dbt selector selects (path:, tag:, fqn, name; graph operators +/@ ignored)."""
    method, _, value = selector.strip("+@").rpartition(":")
    value = value.rstrip("/")
    out = []
    for node in nodes:
        if method == "tag":
            hit = value in node.get("tags", [])
        elif method == "path":
            hit = node.get("original_file_path", "").startswith(value)
        elif method == "fqn" or (not method and "." in value):
            hit = ".".join(node.get("fqn", [])).startswith(value)
        elif not method:
            hit = node.get("name") == value
        else:
            hit = True  # config:, source: … are not checked here
        if hit:
            out.append(node["name"])
    return out


def _dbt_selectors_match(items: list[LoadedSpec], report: ProjectReport) -> None:
    from medallion.gold.dbt import manifest_path

    for item in items:
        gold = item.spec.gold
        if gold is None:
            continue
        manifest = manifest_path(paths.resolve(gold.project_dir))
        if not manifest.is_file():
            report.add(
                item.path,
                _problem(
                    item,
                    ("gold",),
                    "gold",
                    f"dbt manifest {manifest} is missing, selectors were not checked",
                    "run `make manifest` (dbt parse)",
                    severity="warning",
                ),
            )
            continue
        nodes = _manifest_nodes(manifest, manifest.stat().st_mtime)
        for i, selector in enumerate(gold.select):
            if not selector_matches(selector, nodes):
                report.add(
                    item.path,
                    _problem(
                        item,
                        ("gold", "select", i),
                        f"gold.select[{i}]",
                        f"dbt selector {selector!r} matches no model in {manifest.relative_to(paths.project_root())}"
                        if manifest.is_relative_to(paths.project_root())
                        else f"dbt selector {selector!r} matches no model",
                        "use path:models/<domain>, tag:<tag> or a model name; rebuild the manifest after adding models",
                    ),
                )


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
