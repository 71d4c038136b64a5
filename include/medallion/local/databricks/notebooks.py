"""Where a task's notebook file is, and a notebook running in its own thread that can be abandoned."""

from __future__ import annotations

import ctypes
import logging
import threading
from pathlib import Path, PurePosixPath
from typing import Any

import duckdb

from medallion.local.databricks.model import InfraError

log = logging.getLogger(__name__)


def resolve_notebook_path(
    notebook_task: dict[str, Any], *, project_dir: Path, workspace_root: str, has_git_source: bool
) -> Path:
    """Map the workspace (or repo-relative GIT) notebook path onto a ``.py`` file in ``project_dir``.

    Raises ``InfraError`` naming the requested path when nothing matches, as Databricks fails the
    task before running anything when a notebook is missing.
    """
    requested = str(notebook_task.get("notebook_path") or "")
    source = str(notebook_task.get("source") or ("GIT" if has_git_source else "WORKSPACE")).upper()
    relative = _relative_notebook_path(requested, source, workspace_root)
    root = project_dir.resolve()
    if relative is not None:
        candidate = (root / relative).resolve()
        if candidate.is_relative_to(root):
            for path in (candidate, candidate.with_name(candidate.name + ".py")):
                if path.is_file():
                    return path
    raise InfraError(
        f'Unable to access the notebook "{requested}" (source {source}): it does not exist. '
        f"The emulator maps {workspace_root}/<path> (or a GIT repo-relative <path>) to "
        f"{root}/<path>[.py]."
    )


def _relative_notebook_path(requested: str, source: str, workspace_root: str) -> str | None:
    if source == "GIT":
        return requested.lstrip("/") or None
    path = PurePosixPath(requested)
    root = PurePosixPath(workspace_root)
    # The workspace shows /Workspace/Users/x and /Users/x as the same object.
    roots = [root]
    if root.parts[:2] == ("/", "Workspace"):
        roots.append(PurePosixPath("/", *root.parts[2:]))
    for prefix in roots:
        if path.is_relative_to(prefix) and path != prefix:
            return str(path.relative_to(prefix))
    return None


class NotebookAbandoned(BaseException):
    """Raised inside a notebook thread whose task was cancelled or timed out."""


class NotebookCall:
    """A notebook running in its own thread, so the worker can time it out or cancel it.

    Abandoning discards the result and stops the notebook as Databricks would: the running DuckDB
    query is interrupted and ``NotebookAbandoned`` is raised in the notebook thread at its next
    Python instruction, which frees the lakehouse for the next task.
    """

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.abandoned = False
        self._guard = threading.Lock()
        self._thread_id: int | None = None
        self._connection: duckdb.DuckDBPyConnection | None = None

    def begin(self) -> bool:
        """Called in the notebook thread once it may run; False when already abandoned."""
        with self._guard:
            if self.abandoned:
                return False
            self._thread_id = threading.get_ident()
            return True

    def end(self) -> None:
        with self._guard:
            self._thread_id = None

    def attach(self, connection: duckdb.DuckDBPyConnection) -> None:
        self._connection = connection

    def abandon(self) -> None:
        with self._guard:
            self.abandoned = True
            if self._thread_id is None:
                return
            if self._connection is not None:
                try:
                    self._connection.interrupt()
                except duckdb.Error:
                    log.debug("Could not interrupt an abandoned notebook", exc_info=True)
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self._thread_id), ctypes.py_object(NotebookAbandoned)
            )
