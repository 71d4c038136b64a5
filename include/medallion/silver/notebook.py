"""The notebook task of the silver workflow: the provider's operator, retried by failure class.

``DatabricksNotebookOperator`` raises a plain ``AirflowException`` for every failed run, so a
notebook that cannot cast a value would be retried like a cluster that did not start. Through
:class:`~medallion.failures.RetryByClass` both paths that end a run, ``execute`` (polling) and
``execute_complete`` (deferrable: the trigger's event), fail without retry when the class of the
failure says so, with the provider's message (the notebook's error) and its chain unchanged.

Inside a ``DatabricksWorkflowTaskGroup`` every try of a notebook task follows its task in the one
job run the group's ``launch`` task started: once that run ended the task in failure (even for a
retried class, such as a cluster that did not start), another try would only read the same result
after ``retry_delay``. Such a failure fails at once and says to clear ``launch`` for a new job run;
failures while following the run (API 5xx, timeouts) keep their retries.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.databricks.operators.databricks import DatabricksNotebookOperator

from medallion.failures import RetryByClass, classify, fail_without_retry

SAME_RUN = "the job run already ended for this task, and a retry would read the same run again"


class NotebookTaskOperator(RetryByClass, DatabricksNotebookOperator):
    """One notebook of the silver Databricks job (one Airflow task, its own log and run link)."""

    failure_layer = "silver"

    def _handle_terminal_run_state(self, run_state: Any, errors: list) -> None:
        """The task's Databricks run ended: in a workflow, its outcome is final for this job run."""
        try:
            super()._handle_terminal_run_state(run_state, errors)
        except Exception as exc:
            cls = classify(exc, self.failure_layer)
            if self._databricks_workflow_task_group is None or not cls.retry:
                raise  # a standalone task submits a new run on retry; other classes: RetryByClass decides
            self.log.error("%s (%s): clear the silver group's launch task for a new job run", SAME_RUN, cls.name)
            raise fail_without_retry(exc, cls.name, f"{SAME_RUN}; clear the silver `launch` task") from exc
