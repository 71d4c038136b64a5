"""Map a failure to a class of the hints catalog: by exception type first, then by message."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CATALOG = Path(__file__).with_name("hints.yaml")


@dataclass(frozen=True)
class FailureClass:
    name: str
    title: str
    hint: str
    layers: tuple[str, ...] = ()
    patterns: tuple[re.Pattern[str], ...] = ()


@dataclass(frozen=True)
class Catalog:
    classes: dict[str, FailureClass]
    expectation_hints: dict[str, str]


@cache
def load_catalog(path: Path = CATALOG) -> Catalog:
    with path.open(encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    classes = {
        name: FailureClass(
            name=name,
            title=c["title"],
            hint=" ".join(c["hint"].split()),
            layers=tuple(c.get("layers") or ()),
            patterns=tuple(re.compile(p, re.IGNORECASE) for p in c.get("patterns") or ()),
        )
        for name, c in raw["classes"].items()
    }
    return Catalog(classes, dict(raw.get("expectations") or {}))


def exception_chain_text(exc: BaseException | None) -> str:
    """Messages of the exception and its causes, so a wrapped root cause still classifies."""
    parts, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        parts.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


def classify(exc: BaseException | None, layer: str | None, kind: str | None = None) -> FailureClass:
    """The catalog class for a failure in ``layer`` (bronze/silver/gold/None).

    ``kind`` is a class already known from structured results (e.g. dbt's run_results.json).
    """
    catalog = load_catalog()
    kind = kind or getattr(exc, "kind", "") or ("quality_gate_failed" if hasattr(exc, "report") else "")
    if kind in catalog.classes:
        return catalog.classes[kind]
    text = exception_chain_text(exc)
    for cls in catalog.classes.values():
        if cls.layers and layer not in cls.layers:
            continue
        if any(p.search(text) for p in cls.patterns):
            return cls
    return catalog.classes["unknown"]


def expectation_hint(expectation: str, explicit: str | None = None) -> str:
    return explicit or load_catalog().expectation_hints.get(expectation, "")


def layer_of(task_id: str) -> str | None:
    """``bronze.extract_orders`` / ``silver_gate`` / ``gold.model_x.run`` → the layer."""
    head = re.split(r"[._]", task_id, maxsplit=1)[0]
    return head if head in {"bronze", "silver", "gold"} else None


def details_of(exc: BaseException | None) -> dict[str, Any]:
    """Structured details an exception carries (gate report, step, target)."""
    out: dict[str, Any] = {}
    for attr in ("report", "step", "target", "hint"):
        value = getattr(exc, attr, None)
        if value:
            out[attr] = value
    return out
