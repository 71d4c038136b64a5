"""Run one Databricks-format notebook file locally: PySpark code on DuckDB through sqlframe.

The cell parsing, the ``dbutils`` shim and the execution are ``medallion.silver.notebook_exec``
(shared with the notebook unit tests); this module adds what the emulator owns: the session is a
sqlframe ``DuckDBSession`` over the local lakehouse file (with S3 settings), ``pyspark`` imports are
routed to ``sqlframe.duckdb`` for the notebook only, and notebooks in a process run one at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import duckdb

from medallion.duck import S3Settings, connect
from medallion.silver.notebook_exec import (  # noqa: F401  (the emulator's names for them)
    CELL_SEPARATOR,
    NOTEBOOK_HEADER,
    Cell,
    DBUtils,
    InputWidgetNotDefined,
    NotebookResult,
    format_notebook_error,
    run_in_session,
    split_cells,
)
from medallion.silver.sqlframe_session import notebook_builtins, open_session

# sqlframe keeps one process-wide active session, so notebooks in a process run one at a time.
# Re-entrant so a caller (the emulator) can hold it around ``run_notebook``.
NOTEBOOK_LOCK = threading.RLock()


def run_notebook(
    path: Path,
    widgets: dict[str, str],
    *,
    lakehouse_path: Path,
    s3: S3Settings | None = None,
    on_connection: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> NotebookResult:
    """Execute a notebook file cell by cell in one namespace; notebook exceptions propagate.

    ``on_connection`` receives the DuckDB connection as soon as it is open, so a caller can
    ``interrupt()`` a query when the run is cancelled or times out. Runs hold ``NOTEBOOK_LOCK``.
    """
    from sqlframe.base.session import _BaseSession

    with NOTEBOOK_LOCK:
        previous_session = _BaseSession._instance
        con = connect(lakehouse_path, s3=s3, create_schemas=True)
        session = None
        try:
            if on_connection is not None:
                on_connection(con)
            session = open_session(con)
            return run_in_session(Path(path), widgets, session, notebook_builtins())
        finally:
            if session is not None:
                session.stop()
            con.close()
            _BaseSession._instance = previous_session
