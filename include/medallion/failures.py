"""Failure classes and the retry decision, shared by the layers and by alerting.

The catalog (``alerts/hints.yaml``) says, per class, what on-call should do and whether Airflow
should retry: a notebook that cannot cast a value, a failed gate or a failed dbt test fails the
same way on every try (and on Databricks each try costs a job run), while a cluster that did not
start or an endpoint that answered 5xx may work a minute later. Every factory operator runs its
``execute`` (and ``execute_complete``) through :class:`RetryByClass`, which turns a failure of a
non-retried class into Airflow's fail-without-retry, keeping the message and the cause chain.

The layers import this module, never ``medallion.alerts`` (alerting depends on the layers, not
the other way round).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from medallion.errors import FailureKind, GateFailed, MedallionError

CATALOG = Path(__file__).with_name("alerts") / "hints.yaml"
#: Attributes a layer's exception may carry for the alert (gate report, step, target, hint).
DETAIL_ATTRIBUTES = ("report", "step", "target", "hint")


@dataclass(frozen=True)
class FailureClass:
    name: str
    title: str
    hint: str
    retry: bool = True
    layers: tuple[str, ...] = ()
    patterns: tuple[re.Pattern[str], ...] = ()


@dataclass(frozen=True)
class Catalog:
    classes: dict[str, FailureClass]
    expectation_hints: dict[str, str]
    #: a step's party (``StepError.kind``) → its classes, told apart by message; the last is the fallback
    families: dict[str, tuple[str, ...]] = field(default_factory=dict)


class CatalogError(MedallionError, ValueError):
    """``hints.yaml`` is malformed: the message names the class and the key to fix."""


@cache
def load_catalog(path: Path = CATALOG) -> Catalog:
    with path.open(encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    classes = {}
    for name, c in raw["classes"].items():
        retry = c.get("retry", True)  # a class without a policy is retried (a test demands the key)
        if not isinstance(retry, bool):
            raise CatalogError(f"{path}: class {name!r}: `retry` must be true or false, not {retry!r}")
        classes[name] = FailureClass(
            name=name,
            title=c["title"],
            hint=" ".join(c["hint"].split()),
            retry=retry,
            layers=tuple(c.get("layers") or ()),
            patterns=tuple(re.compile(p, re.IGNORECASE) for p in c.get("patterns") or ()),
        )
    families = {name: tuple(members) for name, members in (raw.get("families") or {}).items()}
    for name, members in families.items():
        unknown = [m for m in members if m not in classes]
        if not members or unknown or name in classes:
            raise CatalogError(f"{path}: family {name!r}: lists unknown classes {unknown} (or none, or is a class)")
    return Catalog(classes, dict(raw.get("expectations") or {}), families)


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

    ``kind`` is a class already known from structured results (e.g. dbt's run_results.json) or
    carried by the exception (``StepError.kind``): a class, or the family of the step's party,
    which only that party's classes can match. Message patterns alone are the last resort.
    """
    catalog = load_catalog()
    gate = FailureKind.QUALITY_GATE_FAILED if isinstance(exc, GateFailed) else ""
    kind = kind or getattr(exc, "kind", "") or gate
    if kind in catalog.classes:
        return catalog.classes[kind]
    text = exception_chain_text(exc)
    if kind in catalog.families:
        members = [catalog.classes[name] for name in catalog.families[kind]]
        return next((c for c in members if any(p.search(text) for p in c.patterns)), members[-1])
    for cls in catalog.classes.values():
        if cls.layers and layer not in cls.layers:
            continue
        if any(p.search(text) for p in cls.patterns):
            return cls
    return catalog.classes["unknown"]


def is_retried(kind: str) -> bool:
    """Whether failures of class ``kind`` are retried (unknown names are: retrying is the safe default)."""
    cls = load_catalog().classes.get(kind)
    return True if cls is None else cls.retry


def fail_exception_type() -> type[Exception]:
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException


@cache
def _not_retried_type() -> type[Exception]:
    """``FailedWithoutRetry``: built lazily so importing this module does not import Airflow."""

    class FailedWithoutRetry(MedallionError, fail_exception_type()):  # type: ignore[misc,valid-type]
        """The original failure, re-raised as fail-without-retry (its class is not retried, or ``reason``
        says why a retry could not change the outcome)."""

        def __init__(self, original: BaseException, kind: str, reason: str = ""):
            super().__init__(str(original))
            self.kind, self.original, self.reason = kind, original, reason
            for attr in DETAIL_ATTRIBUTES:
                if getattr(original, attr, None):
                    setattr(self, attr, getattr(original, attr))

    FailedWithoutRetry.__module__ = __name__
    return FailedWithoutRetry


def not_retried(exc: BaseException, layer: str | None) -> Exception | None:
    """The fail-without-retry exception to raise instead of ``exc``, or None when ``exc`` is retried
    (or already fails without retry)."""
    if isinstance(exc, fail_exception_type()):
        return None
    cls = classify(exc, layer)
    if cls.retry:
        return None
    return fail_without_retry(exc, cls.name)


def fail_without_retry(exc: BaseException, kind: str, reason: str = "") -> Exception:
    """``exc`` as Airflow's fail-without-retry, keeping its message and details (raise it ``from exc``)."""
    return _not_retried_type()(exc, kind, reason)


def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            final = not_retried(exc, self.failure_layer)
            if final is None:
                raise
            self.log.error("failure class %s is not retried: the task fails without retry", final.kind)  # type: ignore[attr-defined]
            raise final from exc

    run.__retry_by_class__ = True  # type: ignore[attr-defined]
    return run


class RetryByClass:
    """Operator mixin (list it before the operator base): ``execute`` and ``execute_complete`` of
    every subclass fail without retry when the failure's class says ``retry: false``."""

    #: the layer used to classify this operator's failures (bronze/silver/gold or None)
    failure_layer: str | None = None

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        for name in ("execute", "execute_complete"):  # own or inherited from the operator base: wrapped once
            method = getattr(cls, name, None)
            if callable(method) and not getattr(method, "__retry_by_class__", False):
                setattr(cls, name, _guarded(method))
