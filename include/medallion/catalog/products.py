"""The catalog's index of data products: every valid spec, its tables per layer, contract columns and
neighbours, with a search over table, column, owner and tag names. Built from the specs once per change
of the config folder (file names, sizes and modification times), so page views never re-parse YAML."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medallion import paths
from medallion.spec.models import PipelineSpec

LAYERS = ("bronze", "silver", "gold")


@dataclass(frozen=True)
class Product:
    """One pipeline as a data product."""

    spec: PipelineSpec
    file: str  # the spec, relative to the project (no server paths on a page)
    tables: dict[str, tuple[str, ...]]  # layer → tables (bronze: source datasets)
    upstream: tuple[str, ...]  # pipelines whose layers trigger this one
    downstream: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(layer for layer in LAYERS if getattr(self.spec, layer) is not None)

    @property
    def owner_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.spec.owners)

    def terms(self) -> dict[str, set[str]]:
        """What a search matches, by kind."""
        columns = {c.name.lower() for contract in self.spec.contracts for c in contract.columns}
        return {
            "table": {t.lower() for tables in self.tables.values() for t in tables} | {self.id},
            "column": columns,
            "owner": {n.lower() for n in self.owner_names} | {o.email.lower() for o in self.spec.owners if o.email},
            "tag": {t.lower() for t in self.spec.tags} | {self.spec.domain},
        }


@dataclass(frozen=True)
class Hit:
    product: Product
    matches: tuple[str, ...]  # e.g. "column email"


@dataclass
class Catalog:
    products: dict[str, Product] = field(default_factory=dict)
    invalid: list[str] = field(default_factory=list)  # spec files with errors (their placeholder DAGs say why)

    def domains(self) -> dict[str, list[Product]]:
        out: dict[str, list[Product]] = {}
        for product in sorted(self.products.values(), key=lambda p: (p.spec.domain, p.id)):
            out.setdefault(product.spec.domain, []).append(product)
        return out

    def search(self, query: str) -> list[Hit]:
        """Products whose table, column, owner or tag names contain every word of ``query``."""
        words = query.lower().split()
        hits = []
        for product in self.products.values():
            terms, matched = product.terms(), []
            for word in words:
                found = [f"{kind} {t}" for kind, values in terms.items() for t in sorted(values) if word in t]
                if not found:
                    break
                matched += found[:3]
            else:
                if words:
                    hits.append(Hit(product, tuple(dict.fromkeys(matched))))
        return sorted(hits, key=lambda h: h.product.id)


def build_catalog(root: Path, select_gold: Callable[..., Any] | None = None) -> Catalog:
    """Index the specs under ``root``; gold tables come from ``select_gold`` (cosmos's selector, passed in by
    the plugin) when given, else from the gold contracts."""
    from medallion.spec.project import load_project

    project = load_project(root, select_gold=select_gold)
    catalog = Catalog(invalid=[str(p) for p in project.files if project.report.errors(p)])
    owned: dict[str, list[str]] = {}
    for table, owner in project.report.owners.items():
        owned.setdefault(owner.pipeline, []).append(table)
    for item in project.buildable():
        spec = item.spec
        produced = set(owned.get(spec.id, [])) | {c.table for c in spec.contracts}
        tables = {
            "bronze": tuple(s.name for s in spec.bronze.sources) if spec.bronze else (),
            "silver": tuple(sorted(t for t in produced if t.startswith("silver."))),
            "gold": tuple(sorted(t for t in produced if t.startswith("gold."))),
        }
        upstream = tuple(dict.fromkeys(ref.rsplit(".", 1)[0] for ref in spec.triggers))
        file = item.path.resolve()
        shown = file.relative_to(paths.project_root()) if file.is_relative_to(paths.project_root()) else file.name
        catalog.products[spec.id] = Product(spec, str(shown), tables, upstream)
    downstream: dict[str, list[str]] = {}
    for product in catalog.products.values():
        for up in product.upstream:
            downstream.setdefault(up, []).append(product.id)
    for pid, product in list(catalog.products.items()):
        catalog.products[pid] = Product(
            product.spec, product.file, product.tables, product.upstream, tuple(sorted(downstream.get(pid, [])))
        )
    return catalog


class CatalogCache:
    """The catalog of a config folder, rebuilt when a spec file is added, removed or changed."""

    def __init__(self, root: Path, select_gold: Callable[..., Any] | None = None):
        self.root, self.select_gold = root, select_gold
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._catalog: Catalog | None = None

    def _signature(self) -> tuple[Any, ...]:
        files = sorted(self.root.rglob("*.y*ml"))
        return tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)

    def get(self) -> Catalog:
        key = self._signature()
        with self._lock:
            if self._catalog is None or key != self._key:
                self._catalog, self._key = build_catalog(self.root, self.select_gold), key
            return self._catalog
