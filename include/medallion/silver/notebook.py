"""The notebook task of the silver workflow: the provider's operator, retried by failure class.

``DatabricksNotebookOperator`` raises a plain ``AirflowException`` for every failed run, so a
notebook that cannot cast a value would be retried like a cluster that did not start. Through
:class:`~medallion.failures.RetryByClass` both paths that end a run, ``execute`` (polling) and
``execute_complete`` (deferrable: the trigger's event), fail without retry when the class of the
failure says so, with the provider's message (the notebook's error) and its chain unchanged.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.databricks.operators.databricks import DatabricksNotebookOperator

from medallion.failures import RetryByClass


class NotebookTaskOperator(RetryByClass, DatabricksNotebookOperator):
    """One notebook of the silver Databricks job (one Airflow task, its own log and run link)."""

    failure_layer = "silver"

    def execute(self, context: Any) -> None:
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict) -> None:
        return super().execute_complete(context, event)
