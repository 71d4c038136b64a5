"""What one dbt invocation left in ``target/``: per-node outcomes an alert can show.

Cosmos runs dbt in a temporary copy of the project and deletes it when the command ends, so
``run_results.json`` (status, failing rows, message) and the run's ``manifest.json`` (model a
test belongs to, compiled SQL path) are read by :func:`remember_outcomes`, registered as the
operators' cosmos ``callback``: cosmos calls it after every dbt command and *before* it raises
for a failed one. The outcomes are kept in the task's context, which Airflow hands unchanged to
the failure callback and cosmos copies into the ``on_warning_callback`` context.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from airflow.sdk.exceptions import AirflowFailException  # AirflowFailException: fail without retries

from medallion.errors import MedallionError
from medallion.failures import is_retried
from medallion.findings import NodeFindings
from medallion.spec.models import PipelineSpec

log = logging.getLogger(__name__)

CONTEXT_KEY = "medallion_dbt_outcomes"
FAILED = frozenset({"error", "fail", "runtime error"})
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass(frozen=True)
class DbtOutcome:
    """One dbt node's result: a model, a data test or a unit test."""

    unique_id: str
    name: str
    resource_type: str  # model | test | unit_test | seed | snapshot
    status: str  # success | error | pass | fail | warn | skipped
    message: str = ""
    failures: int | None = None
    model: str | None = None  # the model a test checks
    column: str | None = None
    file: str | None = None  # the file defining the node, relative to the dbt project
    compiled_path: str | None = None  # relative to the dbt project (regenerate with dbt compile)

    @property
    def failed(self) -> bool:
        return self.status in FAILED

    @property
    def warned(self) -> bool:
        return self.status == "warn"

    def headline(self) -> str:
        """``dbt test not_null_x on model.column: fail, 3 failing row(s)``."""
        kind = {"test": "test", "unit_test": "unit test"}.get(self.resource_type, self.resource_type)
        target = f" on {self.model}" + (f".{self.column}" if self.column else "") if self.model else ""
        rows = f", {self.failures} failing row(s)" if self.failures and self.resource_type == "test" else ""
        return f"dbt {kind} {self.name}{target}: {self.status}{rows}"

    def describe(self, project_dir: str = "") -> str:
        """For on-call: which node, what it checks, how many rows, where its SQL is, then dbt's message."""
        line = self.headline()
        where = self.compiled_path or self.file
        if where:
            label = "compiled SQL" if self.compiled_path else "defined in"
            line += f" ({label}: {str(Path(project_dir) / where) if project_dir else where})"
        if self.message:
            line += f" — {self.message}"
        return line


def clean_message(message: str | None) -> str:
    """dbt messages carry ANSI colours and blank lines (unit test diffs): keep the text only."""
    text = _ANSI.sub("", message or "").replace("\r", "")
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip()).strip()


def read_outcomes(project_dir: Path) -> list[DbtOutcome]:
    """Outcomes of the last dbt command run in ``project_dir`` (empty if it wrote no results)."""
    target = Path(project_dir) / "target"
    try:
        results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))["results"]
    except (OSError, ValueError, KeyError):
        return []
    try:
        manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    nodes = {**manifest.get("nodes", {}), **manifest.get("unit_tests", {})}
    return [_outcome(result, nodes.get(result.get("unique_id", ""), {}), nodes) for result in results]


def _outcome(result: dict[str, Any], node: dict[str, Any], nodes: dict[str, Any]) -> DbtOutcome:
    unique_id = result.get("unique_id", "")
    resource_type = node.get("resource_type") or unique_id.split(".", 1)[0]
    model = node.get("model")  # unit tests name their model
    attached = node.get("attached_node") or ""
    if attached:
        model = nodes.get(attached, {}).get("name") or attached.rsplit(".", 1)[-1]
    return DbtOutcome(
        unique_id=unique_id,
        name=node.get("name") or unique_id.rsplit(".", 1)[-1],
        resource_type=resource_type,
        status=str(result.get("status", "")),
        message=clean_message(result.get("message")),
        failures=result.get("failures"),
        model=model,
        column=node.get("column_name"),
        file=node.get("original_file_path"),
        compiled_path=node.get("compiled_path"),
    )


class DbtTestsFailed(MedallionError, AirflowFailException):
    """dbt nodes failed with a class that is not retried (tests, unit tests, compilation): the same
    data and code fail the same way."""

    def __init__(self, failed: list[DbtOutcome], kind: str):
        self.kind = kind
        what = "test(s)" if all(o.resource_type in {"test", "unit_test"} for o in failed) else "node(s)"
        super().__init__(f"dbt {what} failed: " + "; ".join(o.headline() for o in failed))


def remember_outcomes(project_dir: str, context: Any = None, **_: Any) -> None:
    """Cosmos ``callback``: keep the outcomes in the task context.

    When the failed nodes' class is not retried (``retry: false`` in ``hints.yaml``: data and unit
    tests, compilation errors), :class:`DbtTestsFailed` is raised here, before cosmos raises its own
    retryable error; the same decision as every other task (``medallion.failures``). Database
    errors are left to cosmos and the task's retries.
    """
    try:
        outcomes = read_outcomes(Path(project_dir))
    except Exception:  # reading artefacts must not turn a dbt success into a failure
        log.exception("could not read dbt run results in %s", project_dir)
        return
    for outcome in outcomes:
        if outcome.failed or outcome.warned:
            log.warning("%s", outcome.describe())
    if context is not None:
        context[CONTEXT_KEY] = [asdict(o) for o in outcomes]
    failed = [o for o in outcomes if o.failed]
    kind = failure_kind(failed)
    if kind and not is_retried(kind):
        raise DbtTestsFailed(failed, kind)


def outcomes_from(context: Any) -> list[DbtOutcome]:
    """Outcomes :func:`remember_outcomes` stored in this task's context (empty for non-dbt tasks)."""
    try:
        stored = context.get(CONTEXT_KEY) or []
    except AttributeError:
        return []
    return [DbtOutcome(**o) for o in stored]


def failed_findings(spec: PipelineSpec, context: Any) -> NodeFindings | None:
    """The failure alert's view of this task's failed dbt nodes (None: no node failed, or no dbt ran)."""
    return findings(spec, [o for o in outcomes_from(context) if o.failed])


def warned_findings(spec: PipelineSpec, context: Any) -> NodeFindings | None:
    """The warning alert's view of the dbt tests with ``severity: warn`` that found rows; when the task kept no
    outcomes, the test names and messages cosmos hands its ``on_warning_callback``."""
    outcomes = outcomes_from(context)
    if not any(o.warned for o in outcomes):  # cosmos only gave names: keep them
        names, messages = context.get("test_names") or [], context.get("test_results") or []
        outcomes = [
            DbtOutcome(unique_id=n, name=n, resource_type="test", status="warn", message=str(m))
            for n, m in zip(names, messages, strict=False)
        ]
    return findings(spec, [o for o in outcomes if o.warned])


def findings(spec: PipelineSpec, nodes: list[DbtOutcome]) -> NodeFindings | None:
    """``nodes`` as an alert shows them: compiled SQL paths under the spec's dbt project, the failure's class."""
    if not nodes:
        return None
    project_dir = spec.gold.project_dir if spec.gold else ""
    return NodeFindings(
        headlines=tuple(o.headline() for o in nodes),
        details=tuple(o.describe(project_dir) for o in nodes),
        kind=failure_kind(nodes),
    )


def failure_kind(outcomes: list[DbtOutcome]) -> str | None:
    """The hints-catalog class of the first failed node, or None when no node failed."""
    failed = [o for o in outcomes if o.failed]
    if not failed:
        return None
    first = failed[0]
    if first.resource_type == "unit_test":
        return "dbt_unit_test_failure"
    if first.resource_type == "test":
        return "dbt_test_failure"
    if "compilation error" in first.message.lower():
        return "dbt_compile_error"
    return None  # database/runtime errors: classified by their message
