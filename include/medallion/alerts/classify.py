"""Alert-side helpers around the failure classes (``medallion.failures``): hints, layer, details."""

from __future__ import annotations

import re
from typing import Any

from medallion.failures import (  # noqa: F401 - the catalog lives with the retry decision
    CATALOG,
    DETAIL_ATTRIBUTES,
    Catalog,
    FailureClass,
    classify,
    exception_chain_text,
    load_catalog,
)


def expectation_hint(expectation: str, explicit: str | None = None) -> str:
    return explicit or load_catalog().expectation_hints.get(expectation, "")


def layer_of(task_id: str) -> str | None:
    """``bronze.extract_orders`` / ``silver_gate`` / ``gold.model_x.run`` → the layer."""
    head = re.split(r"[._]", task_id, maxsplit=1)[0]
    return head if head in {"bronze", "silver", "gold"} else None


def details_of(exc: BaseException | None) -> dict[str, Any]:
    """Structured details an exception carries (gate report, step, target)."""
    out: dict[str, Any] = {}
    for attr in DETAIL_ATTRIBUTES:
        value = getattr(exc, attr, None)
        if value:
            out[attr] = value
    return out
