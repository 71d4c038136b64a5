"""``silver_preflight``: the portability lint of the pipeline's notebooks, before silver runs.

Seed 004 asks for checks that run before each pipeline execution and block it when they fail.
The notebook lint is static (it reads source files, never data), so it belongs before the
Databricks job is launched rather than before gold: a notebook outside the portable subset is
caught before any silver table is written and before a cluster is paid for. It has no
upstream, so it runs while bronze lands and costs the run no time; the silver group waits for
it. (The dbt unit tests run later, in ``gold_preflight``: they need the silver tables.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException  # a lint finding does not go away by retrying

from medallion import paths
from medallion.errors import FailureKind, MedallionError
from medallion.failures import RetryByClass
from medallion.spec.models import PipelineSpec


class NotebookLintFailed(MedallionError, AirflowFailException):
    """Notebooks use code outside the portable PySpark subset; ``findings`` are formatted lines."""

    kind = FailureKind.NOTEBOOK_NOT_PORTABLE

    def __init__(self, findings: list[str]):
        self.findings = findings
        super().__init__(f"{len(findings)} portability finding(s) in the pipeline's notebooks:\n" + "\n".join(findings))


class NotebookLintOperator(RetryByClass, BaseOperator):
    """Lint the notebooks a pipeline runs (repository paths); fail listing file:line and the fix."""

    template_fields: Sequence[str] = ()
    ui_color = "#f4e1c1"
    failure_layer = "silver"

    def __init__(self, *, notebooks: Sequence[str], **kwargs: Any):
        super().__init__(**kwargs)
        self.notebooks = list(notebooks)

    def execute(self, context: Any) -> dict[str, Any]:
        from medallion.silver.lint import lint_paths

        root = paths.project_root()
        files = [paths.resolve(nb) for nb in self.notebooks]
        outside = [nb for nb, f in zip(self.notebooks, files, strict=True) if not paths.within(f, [root])]
        if outside:  # validate refuses these; never read (and quote in an alert) a file outside the repository
            raise NotebookLintFailed([f"{nb}: notebook path is outside the repository, not read" for nb in outside])
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise NotebookLintFailed([f"{m}: notebook file not found (check silver.notebooks[].path)" for m in missing])
        findings = lint_paths(files)
        lines = [f.format().replace(f"{root}/", "", 1) for f in findings]
        if lines:
            raise NotebookLintFailed(lines)
        self.log.info("%d notebook(s) within the portable subset: %s", len(files), ", ".join(self.notebooks))
        return {"notebooks": self.notebooks, "findings": 0}


def build_silver_preflight(spec: PipelineSpec) -> NotebookLintOperator:
    assert spec.silver is not None
    return NotebookLintOperator(
        task_id="silver_preflight",
        notebooks=[nb.path for nb in spec.silver.notebooks],
        retries=0,
        doc_md="Portability lint of the pipeline's notebooks (preflight): a finding stops the run before silver.",
    )
