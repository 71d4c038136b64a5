"""One producing pipeline per table.

Two pipelines writing one table overwrite each other and nobody can tell which version a
consumer read. So every silver table (a notebook's ``outputs``) and every gold table (a model
the pipeline's gold selection builds, as cosmos resolves it) has exactly one producer;
consumers declare what they read (``triggers``, dbt ``source``/``ref``), never a second write.
The first producer in file order keeps the table; every later one is an error naming both.
A contract belongs in the producer's spec too: it is enforced when the producer publishes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medallion import paths
from medallion.errors import Problem
from medallion.spec.load import PathKey, dotted


@dataclass(frozen=True)
class TableOwner:
    """The pipeline that produces ``table``, and where its spec says so."""

    table: str
    pipeline: str
    owners: tuple[str, ...]  # the pipeline's owner names, for docs and asset extras
    file: str
    at: PathKey
    doc: Any  # MergedDoc: positions are computed only when a message needs them

    def where(self) -> str:
        """``file:line:column`` of the producing entry, relative to the project when inside it."""
        pos = self.doc.position(self.at)
        file, root = Path(pos.file).resolve(), paths.project_root()
        return f"{file.relative_to(root) if file.is_relative_to(root) else file}:{pos.line}:{pos.column}"


def produced_tables(item: Any, gold_selection: Any | None) -> list[tuple[str, PathKey]]:
    """``(table, spec path that produces it)`` for a loaded spec; gold tables from its resolved selection."""
    spec = item.spec
    out: list[tuple[str, PathKey]] = []
    for i, nb in enumerate(spec.silver.notebooks if spec.silver else []):
        out += [(table, ("silver", "notebooks", i, "outputs", j)) for j, table in enumerate(nb.outputs)]
    matches = list(gold_selection.item_matches) if gold_selection else []
    for model in gold_selection.models if gold_selection else ():
        if model.table:
            index = next((i for i, ids in enumerate(matches) if model.unique_id in ids), None)
            out.append((model.table, ("gold", "select", index) if index is not None else ("gold", "select")))
    return out


def assign_owners(
    produced: Iterable[tuple[Any, list[tuple[str, PathKey]]]],
) -> tuple[dict[str, TableOwner], list[tuple[Any, Problem]]]:
    """Owners by table, and a problem for each second producer (``(item, problem)``, file order)."""
    owners: dict[str, TableOwner] = {}
    problems: list[tuple[Any, Problem]] = []
    for item, tables in produced:
        names = tuple(o.name for o in item.spec.owners)
        for table, at in tables:
            mine = TableOwner(table, item.spec.id, names, str(item.path), at, item.doc)
            first = owners.setdefault(table, mine)
            if first is mine or first.pipeline == item.spec.id:
                continue
            pos = item.doc.position(at)
            problems.append(
                (
                    item,
                    Problem(
                        pos.file,
                        pos.line,
                        pos.column,
                        dotted(at),
                        f"table {table} is already produced by pipeline {first.pipeline!r} at {first.where()}; "
                        "this pipeline would write it too",
                        "a table has one producing pipeline: drop it here and read it instead "
                        "(`triggers: [<pipeline>.<layer>]`, dbt source/ref), or move it to one pipeline",
                    ),
                )
            )
    return owners, problems


def misplaced_contracts(item: Any, owners: dict[str, TableOwner], gold_known: bool) -> list[Problem]:
    """Contracts on tables another pipeline (or none) produces: they would be checked at the wrong place."""
    out = []
    for i, contract in enumerate(item.spec.contracts):
        owner = owners.get(contract.table)
        if owner is not None and owner.pipeline == item.spec.id:
            continue
        if owner is None and contract.table.startswith("gold.") and not gold_known:
            continue  # no manifest: gold tables are unknown, already a warning
        pos = item.doc.position(("contracts", i, "table"))
        where = f"pipeline {owner.pipeline!r} produces it ({owner.where()})" if owner else "no pipeline produces it"
        out.append(
            Problem(
                pos.file,
                pos.line,
                pos.column,
                f"contracts[{i}].table",
                f"contract on {contract.table}, which this pipeline does not produce: {where}",
                "a contract is enforced when its table is published: declare it in the producing pipeline's spec",
            )
        )
    return out
