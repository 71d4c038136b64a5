"""``silver_preflight``: the portability lint and the unit tests of the pipeline's notebooks, before silver runs.

Seed 004 asks for checks that run before each pipeline execution and block it when they fail.
The notebook lint is static (it reads source files, never data), so it belongs before the
Databricks job is launched rather than before gold: a notebook outside the portable subset is
caught before any silver table is written and before a cluster is paid for. It has no
upstream, so it runs while bronze lands and costs the run no time; the silver group waits for
it. (The dbt unit tests run later, in ``gold_preflight``: they need the silver tables.)

Then the notebooks' unit tests (``silver.notebooks[].tests``) run where the notebooks run: one
Databricks one-time run of the test-runner notebook (``silver/test_run.py`` has the request), through
the provider's ``DatabricksHook`` (locally the Jobs API emulator). A failed case fails the task
without retry as ``notebook_unit_test_failed``, with each case's file:line and diff, so no silver
job starts and gold does not run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException  # a lint finding does not go away by retrying

from medallion import connections, paths
from medallion.errors import FailureKind, MedallionError
from medallion.failures import RetryByClass
from medallion.spec.models import PipelineSpec


class NotebookLintFailed(MedallionError, AirflowFailException):
    """Notebooks use code outside the portable PySpark subset; ``findings`` are formatted lines."""

    kind = FailureKind.NOTEBOOK_NOT_PORTABLE

    def __init__(self, findings: list[str]):
        self.findings = findings
        super().__init__(f"{len(findings)} portability finding(s) in the pipeline's notebooks:\n" + "\n".join(findings))


class NotebookTestsFailed(MedallionError, AirflowFailException):
    """Notebook unit tests failed; the message names each case (file:line) with its diff."""

    kind = FailureKind.NOTEBOOK_UNIT_TEST_FAILED

    def __init__(self, failures: list[str], total: int):
        self.failures = failures
        super().__init__(f"{len(failures)} of {total} notebook unit test(s) failed:\n" + "\n".join(failures))


class NotebookLintOperator(RetryByClass, BaseOperator):
    """Lint the notebooks a pipeline runs (repository paths), then run their unit tests on Databricks."""

    template_fields: Sequence[str] = ()
    ui_color = "#f4e1c1"
    failure_layer = "silver"

    def __init__(
        self,
        *,
        notebooks: Sequence[str],
        spec: PipelineSpec | None = None,
        databricks_conn_id: str = connections.DATABRICKS,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.notebooks = list(notebooks)
        self.spec = spec
        self.databricks_conn_id = databricks_conn_id

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
        tested = self.run_unit_tests(context)
        return {"notebooks": self.notebooks, "findings": 0, "unit_tests": tested}

    def run_unit_tests(self, context: Any) -> int:
        """The spec's notebook cases as one Databricks one-time run; raise on any failed case."""
        from airflow.providers.databricks.hooks.databricks import DatabricksHook

        from medallion.silver.test_run import run_on_databricks, submit_request
        from medallion.spec.notebook_cases import spec_cases

        if self.spec is None or self.spec.silver is None:
            return 0
        cases, problems = spec_cases(self.spec)
        if problems:  # validate reports these; a deployed spec can still meet a deleted fixture
            raise NotebookTestsFailed([p.format() for p in problems], len(cases) + len(problems))
        if not cases:
            return 0
        stamp = str(context.get("ts_nodash") or "run").lower()
        schema = f"medallion_test_{self.spec.id}_{stamp}"[:120]
        hook = DatabricksHook(databricks_conn_id=self.databricks_conn_id, caller="silver_preflight")
        started = time.monotonic()
        from medallion.silver.notebook_tests import CaseResult, format_failure

        results = run_on_databricks(
            hook, submit_request(self.spec, cases, schema), self.spec.silver.polling_seconds, self.log
        )
        failed = [r for r in results if r["status"] != "passed"]
        for r in results:
            self.log.info("%s %s (%.1fs)", r["case"], r["status"].upper(), r["seconds"])
        self.log.info("%d notebook unit test(s) in %.1fs", len(results), time.monotonic() - started)
        if failed:
            raise NotebookTestsFailed([format_failure(CaseResult(**r)) for r in failed], len(results))
        return len(results)


def build_silver_preflight(spec: PipelineSpec) -> NotebookLintOperator:
    assert spec.silver is not None
    return NotebookLintOperator(
        task_id="silver_preflight",
        notebooks=[nb.path for nb in spec.silver.notebooks],
        spec=spec,
        retries=0,
        doc_md="Portability lint and unit tests of the pipeline's notebooks (preflight): a finding or a failed "
        "case stops the run before silver.",
    )
