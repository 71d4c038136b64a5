"""Local emulator of the Databricks Jobs API that runs notebooks on DuckDB through sqlframe."""

from medallion.local.databricks.emulator import DatabricksEmulator
from medallion.local.databricks.notebook_runner import NotebookResult, run_notebook

__all__ = ["DatabricksEmulator", "NotebookResult", "run_notebook"]
