"""One error hierarchy: every problem a person must fix says where it is and what to do."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Problem:
    """One finding about a spec, positioned in its YAML file."""

    file: str
    line: int
    column: int
    field: str
    message: str
    hint: str = ""
    severity: str = "error"  # or "warning"

    def format(self, *, root: Path | None = None) -> str:
        """``file:line:col: error: field: message`` then the hint, like a compiler."""
        file = self.file
        if root is not None and Path(self.file).resolve().is_relative_to(root.resolve()):
            file = str(Path(self.file).resolve().relative_to(root.resolve()))
        where = f"{file}:{self.line}:{self.column}"
        text = f"{where}: {self.severity}: {self.field or '<document>'}: {self.message}"
        return text + (f"\n    hint: {self.hint}" if self.hint else "")


class FailureKind(StrEnum):
    """The failure classes and step families the code names (``StepError.kind``, an exception's
    ``kind``). Each is a key of ``alerts/hints.yaml`` (``classes``, or ``families`` told apart by
    the message); ``tests/unit/test_failure_kinds.py`` checks them and every ``kind=`` in the code."""

    # gates
    QUALITY_GATE_FAILED = "quality_gate_failed"
    CONTRACT_VIOLATION = "contract_violation"
    GATE_INFRA = "gate_infra"
    BRONZE_CORRUPT = "bronze_corrupt"
    SCHEMA_DRIFT = "schema_drift"
    # warnings: the run goes on, the alert says what was set aside or kept back
    QUALITY_GATE_WARNING = "quality_gate_warning"
    QUALITY_QUARANTINE = "quality_quarantine"
    PUBLISH_KEPT_BACK = "publish_kept_back"
    DBT_TEST_WARNING = "dbt_test_warning"
    DEADLINE_MISSED = "deadline_missed"
    # bronze steps: the party that failed
    SOURCE = "source"
    SOURCE_QUERY = "source_query"
    SOURCE_FILES_UNREACHABLE = "source_files_unreachable"
    SOURCE_FILE_UNREADABLE = "source_file_unreadable"
    BRONZE_WRITE_FAILED = "bronze_write_failed"
    EMPTY_EXTRACT = "empty_extract"
    LAKE = "lake"
    # silver
    NOTEBOOK_NOT_PORTABLE = "notebook_not_portable"
    NOTEBOOK_UNIT_TEST_FAILED = "notebook_unit_test_failed"
    # gold (dbt results)
    DBT_UNIT_TEST_FAILURE = "dbt_unit_test_failure"
    DBT_TEST_FAILURE = "dbt_test_failure"
    DBT_COMPILE_ERROR = "dbt_compile_error"
    UNKNOWN = "unknown"


class MedallionError(Exception):
    """Base class for every error the factory raises on purpose."""


class GateFailed(MedallionError):
    """A gate failed the data (class ``quality_gate_failed`` unless a subclass names its own
    ``kind``); ``report`` is the gate report the alert shows. Recognised by type, not attributes."""

    def __init__(self, message: str, report: dict[str, Any]):
        super().__init__(message)
        self.report = report


@dataclass
class SpecError(MedallionError):
    """A spec (or several) cannot be turned into a DAG; carries every problem found."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        return "\n".join(p.format() for p in self.problems)


class StepError(MedallionError):
    """A pipeline step failed for a reason a person can act on.

    ``step`` names what was being done (``extract``, ``upload``, ``validate``…) and ``target``
    the source, table or dataset, so the task log and the alert say where without a traceback.
    """

    def __init__(self, message: str, *, step: str, target: str, hint: str = "", kind: str = ""):
        self.step, self.target, self.hint, self.kind = step, target, hint, kind
        super().__init__(f"[{step} {target}] {message}")


@contextmanager
def step_errors(step: str, target: str, hint: str = "", kind: str = "") -> Iterator[None]:
    """Any failure inside becomes a ``StepError`` naming the step and the target (a ``StepError``
    raised inside already says where, so it passes through unchanged)."""
    try:
        yield
    except StepError:
        raise
    except Exception as exc:
        raise StepError(f"{type(exc).__name__}: {exc}", step=step, target=target, hint=hint, kind=kind) from exc


def run_step(step: str, target: str, hint: str, fn: Callable[[], T], kind: str = "") -> T:
    """``fn()`` under ``step_errors``: for one-line steps."""
    with step_errors(step, target, hint, kind):
        return fn()
