"""A spec's gold selection as cosmos renders it: cosmos's own selector on the nodes cosmos loads.

`validate`, the loader, the DAG docs and table ownership all ask this module which dbt models a
pipeline builds, so none of them can disagree with the tasks the ``DbtTaskGroup`` renders (a
hand-written matcher once took ``path:models/tpc`` for a prefix of ``models/tpch``: valid spec,
zero tasks). The manifest is decoded once per process and manifest version (path, mtime).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from medallion import paths
from medallion.errors import MedallionError
from medallion.gold.dbt import manifest_path

# Node types that become tables when dbt builds them (an ephemeral model does not).
_TABLE_TYPES = {"model", "seed", "snapshot"}
GOLD_SCHEMA = "gold"


@dataclass(frozen=True)
class GoldModel:
    """One dbt node a pipeline builds, and the published table it produces."""

    unique_id: str
    name: str
    resource_type: str
    file: str  # the node's path in the dbt project, e.g. models/sales/daily_revenue.sql
    table: str | None  # gold.<alias>; None for an ephemeral model (cosmos renders no task for it)
    depends_on: tuple[str, ...]


@dataclass(frozen=True)
class SelectionProblem:
    field: str  # "select" or "exclude"
    index: int  # the item in that list; -1 for the selection as a whole
    message: str
    severity: str = "error"


@dataclass(frozen=True)
class GoldSelection:
    """What ``select``/``exclude`` resolve to, what each select item matches, and what is wrong."""

    models: tuple[GoldModel, ...]
    item_matches: tuple[frozenset[str], ...] = ()  # unique ids per select item (before exclude)
    problems: tuple[SelectionProblem, ...] = ()
    reads: tuple[str, ...] = ()  # tables of models outside the selection that its models ref

    @property
    def tables(self) -> list[str]:
        return [m.table for m in self.models if m.table]


class ManifestMissing(MedallionError, FileNotFoundError):
    """The dbt manifest cosmos renders from does not exist (run `make manifest`)."""


class ManifestUnreadable(MedallionError):
    """The dbt manifest exists but cosmos cannot load it (truncated, another dbt version…)."""


def spec_selection(spec: Any) -> GoldSelection | None:
    """The selection of a spec's ``gold`` section (``select``/``exclude``); None without gold.

    The DAG builder resolves it once per DAG (or takes the loader's, from the project checks) and hands
    it on as a plain value: to the docs, the dbt vars, the gold gate and the gold publish step.
    """
    if spec.gold is None:
        return None
    return select_gold(paths.resolve(spec.gold.project_dir), spec.gold.select, spec.gold.exclude)


def select_gold(project_dir: Path, select: Sequence[str], exclude: Sequence[str] = ()) -> GoldSelection:
    """The models ``select``/``exclude`` render as cosmos tasks, plus what is wrong with each item.

    Each select item must match a node on its own (a typo next to a good selector would otherwise
    vanish silently), and the whole selection must leave at least one model; an exclude item that
    matches nothing is reported too. Raises ``ManifestMissing`` when there is no manifest.

    Answers are kept in ``target/medallion_selection.json`` per manifest version (mtime, size) and
    cosmos version, so `validate` imports Airflow and cosmos (seconds) only for a selection it has
    not resolved yet; the loader still compares every built gold group with it (``check_rendered``).
    """
    project_dir = project_dir.resolve()
    manifest = manifest_path(project_dir)
    try:
        stat = manifest.stat()
    except FileNotFoundError:
        raise ManifestMissing(f"dbt manifest {manifest} is missing") from None
    version = f"{stat.st_mtime_ns}:{stat.st_size}:{_cosmos_version()}:{_CACHE_FORMAT}"
    key = json.dumps([list(select), list(exclude)])
    cache_file = manifest.with_name(_CACHE_NAME)
    answers = _ANSWERS.get((cache_file, version))
    if answers is None:  # the file is read once per process and manifest version; older versions go
        for stale in [k for k in _ANSWERS if k[0] == cache_file]:
            del _ANSWERS[stale]
        answers = _ANSWERS[(cache_file, version)] = _read_cache(cache_file, version)
    if key not in answers:
        answers[key] = _encode(_resolve(project_dir, select, exclude))
        _write_cache(cache_file, version, answers)
    return _decode(answers[key])


_CACHE_NAME = "medallion_selection.json"
_CACHE_FORMAT = 2  # bump when what select_gold answers changes, so older answers are not reused
_ANSWERS: dict[tuple[Path, str], dict[str, Any]] = {}


@lru_cache(maxsize=1)
def _cosmos_version() -> str:
    from importlib.metadata import version

    return version("astronomer-cosmos")


def _read_cache(path: Path, version: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data.get("answers", {}) if isinstance(data, dict) and data.get("version") == version else {}


def _write_cache(path: Path, version: str, answers: dict[str, Any]) -> None:
    """Best effort and atomic: a read-only project (an image) just resolves again next time."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        tmp.write_text(json.dumps({"version": version, "answers": answers}), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        tmp.unlink(missing_ok=True)


def _encode(selection: GoldSelection) -> dict[str, Any]:
    return {
        "models": [asdict(m) for m in selection.models],
        "item_matches": [sorted(ids) for ids in selection.item_matches],
        "problems": [asdict(p) for p in selection.problems],
        "reads": list(selection.reads),
    }


def _decode(data: dict[str, Any]) -> GoldSelection:
    return GoldSelection(
        tuple(GoldModel(**{**m, "depends_on": tuple(m["depends_on"])}) for m in data["models"]),
        tuple(frozenset(ids) for ids in data["item_matches"]),
        tuple(SelectionProblem(**p) for p in data["problems"]),
        tuple(data["reads"]),
    )


def _resolve(project_dir: Path, select: Sequence[str], exclude: Sequence[str]) -> GoldSelection:
    """cosmos's answer: ``select_nodes`` per item (to locate problems) and for the whole selection."""
    nodes = _nodes(project_dir)  # imports airflow before cosmos (cosmos needs that order)
    from cosmos.dbt.selector import select_nodes
    from cosmos.exceptions import CosmosValueError

    problems: list[SelectionProblem] = []
    usable: dict[str, list[str]] = {"select": [], "exclude": []}
    matches: list[frozenset[str]] = []
    for field_name, items in (("select", select), ("exclude", exclude)):
        for i, item in enumerate(items):
            try:  # an exclude item matches the nodes the same statement selects
                matched = frozenset(select_nodes(project_dir, nodes, select=[item]))
            except CosmosValueError as exc:
                problems.append(SelectionProblem(field_name, i, f"dbt selector {item!r} is invalid ({exc})"))
                matched = frozenset()
            else:
                usable[field_name].append(item)
                if not matched:
                    problems.append(
                        SelectionProblem(
                            field_name,
                            i,
                            f"dbt selector {item!r} matches no node of the dbt project",
                            "error" if field_name == "select" else "warning",
                        )
                    )
            if field_name == "select":
                matches.append(matched)
    chosen = select_nodes(project_dir, nodes, usable["select"], usable["exclude"]) if usable["select"] else {}
    built = (_model(n) for n in chosen.values() if _type(n) in _TABLE_TYPES)
    models = tuple(sorted((m for m in built if m.table), key=lambda m: m.name))  # cosmos renders no ephemeral
    if not models and not any(p.field == "select" for p in problems):
        problems.append(
            SelectionProblem("select", -1, "the gold selection builds no dbt model (cosmos would render no task)")
        )
    chosen_ids = {m.unique_id for m in models}
    refs = [nodes[d] for m in models for d in m.depends_on if d in nodes and d not in chosen_ids]
    reads = sorted({t for n in refs if _type(n) in _TABLE_TYPES and (t := node_table(n.name, n.config))})
    return GoldSelection(models, tuple(matches), tuple(problems), tuple(reads))


def node_table(name: str, config: dict[str, Any]) -> str | None:
    """The published table a dbt node produces: ``gold.<alias or name>``; None when ephemeral."""
    if config.get("materialized") == "ephemeral":
        return None
    return f"{GOLD_SCHEMA}.{config.get('alias') or name}"


def _nodes(project_dir: Path) -> dict[str, Any]:
    manifest = manifest_path(project_dir)
    try:
        mtime = manifest.stat().st_mtime_ns
    except FileNotFoundError:
        raise ManifestMissing(f"dbt manifest {manifest} is missing") from None
    return _load_nodes(project_dir, manifest, mtime)


@lru_cache(maxsize=8)
def _load_nodes(project_dir: Path, manifest: Path, mtime_ns: int) -> dict[str, Any]:
    """All nodes, loaded exactly as the ``DbtTaskGroup`` loads them (``LoadMode.DBT_MANIFEST``)."""
    import airflow  # noqa: F401  (before cosmos: cosmos.constants imports airflow mid-initialisation)
    from cosmos import ExecutionConfig, ProjectConfig, RenderConfig
    from cosmos.constants import LoadMode
    from cosmos.dbt.graph import DbtGraph

    graph = DbtGraph(
        project=ProjectConfig(dbt_project_path=project_dir, manifest_path=manifest),
        render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST),
        execution_config=ExecutionConfig(dbt_project_path=project_dir),
    )
    try:
        graph.load_from_dbt_manifest()  # no select/exclude: every node
    except Exception as exc:  # one bad file must cost the gold pipelines their DAG, not the loader
        raise ManifestUnreadable(
            f"dbt manifest {manifest} cannot be loaded by cosmos ({type(exc).__name__}: {exc}); "
            "rebuild it with `make manifest` (dbt parse)"
        ) from exc
    return dict(graph.nodes)


def _type(node: Any) -> str:
    return getattr(node.resource_type, "value", str(node.resource_type))


def _model(node: Any) -> GoldModel:
    return GoldModel(
        unique_id=node.unique_id,
        name=node.name,
        resource_type=_type(node),
        file=str(node.original_file_path),
        table=node_table(node.name, node.config),
        depends_on=tuple(node.depends_on),
    )


def rendered_models(tasks: Iterable[Any]) -> set[str]:
    """Unique ids of the table-producing dbt nodes cosmos rendered as tasks (its ``dbt_node_config``)."""
    out = set()
    for task in tasks:
        node = (getattr(task, "extra_context", None) or {}).get("dbt_node_config") or {}
        if node.get("resource_type") in _TABLE_TYPES:
            out.add(node["unique_id"])
    return out


def check_rendered(dag: Any, spec_file: str, selection: GoldSelection) -> None:
    """Fail the build when the gold group's tasks differ from the selection (never an empty gold group)."""
    rendered = rendered_models(dag.tasks)
    wanted = {m.unique_id for m in selection.models}
    if not rendered or rendered != wanted:
        raise ValueError(
            f"{spec_file}: cosmos rendered {sorted(rendered) or 'no dbt task'} for the gold selection, "
            f"which resolves to {sorted(wanted) or 'no model'}; rebuild the manifest (`make manifest`) and validate"
        )
