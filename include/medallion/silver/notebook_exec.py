"""Run a Databricks-format notebook file in-process on a given Spark session (any engine).

The notebooks are the files deployed to a workspace: they use ``spark``, ``dbutils``, ``display``
and ``from pyspark.sql import ...`` without defining them. This module parses the source format
(cells, ``# MAGIC`` lines, ``%sql`` and ``%run``), provides the ``dbutils`` shim (widgets,
``notebook.exit``) and executes the cells in one namespace. The Databricks emulator runs notebooks
through it on sqlframe/DuckDB, and so do the notebook unit tests on sqlframe or on real PySpark:
the engine is only the ``spark`` object and, for sqlframe, where ``pyspark`` imports resolve.
"""

from __future__ import annotations

import builtins
import io
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from medallion.errors import MedallionError

log = logging.getLogger(__name__)

NOTEBOOK_HEADER = "# Databricks notebook source"
CELL_SEPARATOR = "# COMMAND ----------"
MAGIC_PREFIX = "# MAGIC"

# Notebook files compiled by this module; used to cut runner frames off error tracebacks.
_NOTEBOOK_FILES: set[str] = set()


class InputWidgetNotDefined(MedallionError):
    """Raised by ``dbutils.widgets.get`` for an unknown widget, worded like Databricks."""

    def __init__(self, name: str) -> None:
        super().__init__(f"com.databricks.dbutils_v1.InputWidgetNotDefined: No input widget named {name} is defined")


class _NotebookExit(BaseException):
    """``dbutils.notebook.exit``: a BaseException so notebook ``except Exception`` cannot swallow it."""

    def __init__(self, value: str | None) -> None:
        super().__init__(value)
        self.value = value


@dataclass
class NotebookResult:
    """Outcome of a notebook that finished without raising."""

    exit_value: str | None
    stdout: str = ""
    duration_seconds: float = 0.0


@dataclass
class Cell:
    """One ``# COMMAND ----------`` block; ``first_line`` is 1-based in the source file."""

    kind: str  # "python", "sql", "run" or "skip"
    text: str
    first_line: int


# --------------------------------------------------------------------------- dbutils shim


@dataclass
class _Widgets:
    """``dbutils.widgets``: job parameters win over the defaults a notebook declares."""

    params: dict[str, str]
    defaults: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str:
        if name in self.params:
            return self.params[name]
        if name in self.defaults:
            return self.defaults[name]
        raise InputWidgetNotDefined(name)

    def getArgument(self, name: str, defaultValue: str | None = None) -> str | None:
        try:
            return self.get(name)
        except InputWidgetNotDefined:
            return defaultValue

    def getAll(self) -> dict[str, str]:
        return {**self.defaults, **self.params}

    def text(self, name: str, defaultValue: str = "", label: str | None = None) -> None:
        self.defaults[name] = str(defaultValue)

    def dropdown(
        self,
        name: str,
        defaultValue: str,
        choices: list[str] | None = None,
        label: str | None = None,
    ) -> None:
        self.defaults[name] = str(defaultValue)

    combobox = dropdown
    multiselect = dropdown

    def remove(self, name: str) -> None:
        self.defaults.pop(name, None)

    def removeAll(self) -> None:
        self.defaults.clear()


class _NotebookUtils:
    """``dbutils.notebook``: only ``exit`` makes sense locally."""

    def exit(self, value: Any = None) -> None:
        raise _NotebookExit(None if value is None else str(value))


def read_local_text(path: str) -> str:
    """``dbutils.fs.head`` of a local path (``file:`` URIs too): real Spark in local mode reads these."""
    return Path(path.removeprefix("file:")).read_text(encoding="utf-8")


def session_text_reader(spark: Any) -> Callable[[str], str]:
    """How ``dbutils.fs.head`` reads on ``spark``'s engine: DuckDB's ``read_text`` (S3 included) for
    sqlframe, the local file system otherwise."""
    con = getattr(spark, "_conn", None)
    if con is None or not hasattr(con, "execute"):
        return read_local_text

    def read(path: str) -> str:
        row = con.execute("SELECT content FROM read_text(?)", [path]).fetchone()
        return row[0] if row else ""

    return read


@dataclass
class _Fs:
    """``dbutils.fs``: ``head`` reads a small text file such as a bronze manifest.

    Why notebooks need it: Spark's file readers skip names starting with ``_`` (``_manifest.json``,
    like ``_SUCCESS``), even when named explicitly, so ``spark.read.json`` cannot read a manifest.
    """

    read_text: Callable[[str], str]

    def head(self, file: str, maxBytes: int = 65536) -> str:
        return self.read_text(file).encode("utf-8")[:maxBytes].decode("utf-8", errors="ignore")


class DBUtils:
    """The subset of Databricks ``dbutils`` that pipeline notebooks use."""

    def __init__(self, params: dict[str, str], read_text: Callable[[str], str] = read_local_text) -> None:
        self.widgets = _Widgets(params=dict(params))
        self.notebook = _NotebookUtils()
        self.fs = _Fs(read_text)


# --------------------------------------------------------------------------- parsing


def split_cells(source: str) -> list[Cell]:
    """Split Databricks source format into cells; a plain ``.py`` file is a single Python cell."""
    lines = source.splitlines()
    start = 0
    if lines and lines[0].strip() == NOTEBOOK_HEADER:
        start = 1
    cells: list[Cell] = []
    block: list[str] = []
    block_start = start + 1
    for number, line in enumerate(lines[start:], start=start + 1):
        if line.strip() == CELL_SEPARATOR:
            cells.append(_make_cell(block, block_start))
            block, block_start = [], number + 1
        else:
            block.append(line)
    cells.append(_make_cell(block, block_start))
    return [cell for cell in cells if cell.text.strip()]


def _make_cell(lines: list[str], first_line: int) -> Cell:
    code = [line for line in lines if line.strip()]
    if not code or not all(line.startswith(MAGIC_PREFIX) for line in code):
        return Cell("python", "\n".join(lines), first_line)
    body = [line[len(MAGIC_PREFIX) :].removeprefix(" ") for line in lines if line.startswith(MAGIC_PREFIX)]
    magic, _, rest = body[0].strip().partition(" ")
    if magic == "%sql":
        return Cell("sql", "\n".join([rest, *body[1:]]), first_line)
    if magic == "%run":
        return Cell("run", rest.strip(), first_line)
    return Cell("skip", "\n".join(body), first_line)


# --------------------------------------------------------------------------- stdout capture


class _ThreadStdout(io.TextIOBase):
    """``sys.stdout`` proxy: the notebook thread writes to ``captured``, other threads pass through."""

    def __init__(self, fallback: TextIO, owner: int) -> None:
        self.fallback = fallback
        self.owner = owner
        self.captured = io.StringIO()

    def _target(self) -> TextIO:
        return self.captured if threading.get_ident() == self.owner else self.fallback

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()


class _CapturedStdout:
    """Capture ``print`` of the current thread only (notebooks run one at a time)."""

    def __enter__(self) -> io.StringIO:
        self.previous = sys.stdout
        self.proxy = _ThreadStdout(sys.stdout, threading.get_ident())
        sys.stdout = self.proxy
        return self.proxy.captured

    def __exit__(self, *exc: object) -> None:
        if sys.stdout is self.proxy:
            sys.stdout = self.previous


# --------------------------------------------------------------------------- execution


def _display(obj: Any = None, *args: Any, **kwargs: Any) -> None:
    """Databricks ``display``: show a DataFrame as text."""
    if hasattr(obj, "show"):
        obj.show()
    else:
        print(obj)


def _exec_cell(cell: Cell, path: Path, env: dict[str, Any]) -> None:
    if cell.kind == "python":
        padded = "\n" * (cell.first_line - 1) + cell.text
        exec(compile(padded, str(path), "exec"), env)
    elif cell.kind == "sql":
        result = None
        for statement in (s.strip() for s in cell.text.split(";")):
            if statement:
                result = env["spark"].sql(statement)
        if result is not None:
            _display(result)
    elif cell.kind == "run":
        _exec_notebook(_resolve_run_target(path, cell.text), env)
    else:
        log.debug("Skipping magic cell at %s:%d", path, cell.first_line)


def _resolve_run_target(path: Path, target: str) -> Path:
    """``%run ./helpers`` is relative to the calling notebook; the extension is optional."""
    candidate = (path.parent / target.strip().strip("\"'")).resolve()
    if candidate.suffix != ".py" and not candidate.is_file():
        candidate = candidate.with_name(candidate.name + ".py")
    if not candidate.is_file():
        raise FileNotFoundError(f"%run target {target!r} from {path} not found (looked for {candidate})")
    return candidate


def _exec_notebook(path: Path, env: dict[str, Any]) -> None:
    _NOTEBOOK_FILES.add(str(path))
    for cell in split_cells(path.read_text(encoding="utf-8")):
        _exec_cell(cell, path, env)


def run_in_session(
    path: Path, widgets: dict[str, str], spark: Any, notebook_builtins: dict[str, Any] | None = None
) -> NotebookResult:
    """Execute a notebook file cell by cell in one namespace with ``spark``; notebook exceptions propagate.

    ``notebook_builtins`` replaces the builtins (sqlframe routes ``pyspark`` imports through its
    ``__import__``); None runs the notebook with the process's own ``pyspark``.
    """
    started = time.monotonic()
    exit_value: str | None = None
    env: dict[str, Any] = {
        "__name__": "__main__",
        "__file__": str(path),
        "__builtins__": notebook_builtins or vars(builtins),
        "spark": spark,
        "dbutils": DBUtils(widgets, session_text_reader(spark)),
        "display": _display,
        "displayHTML": print,
    }
    with _CapturedStdout() as out:
        try:
            _exec_notebook(Path(path), env)
        except _NotebookExit as done:
            exit_value = done.value
    return NotebookResult(exit_value, out.getvalue(), time.monotonic() - started)


def format_notebook_error(exc: BaseException) -> tuple[str, str]:
    """``("<type>: <message>", traceback)`` with the runner's own frames cut off the traceback."""
    frames = traceback.extract_tb(exc.__traceback__)
    first = next((i for i, frame in enumerate(frames) if frame.filename in _NOTEBOOK_FILES), 0)
    trace = traceback.StackSummary.from_list(frames[first:]).format()
    lines = ["Traceback (most recent call last):\n", *trace, *traceback.format_exception_only(exc)]
    return f"{type(exc).__name__}: {exc}", "".join(lines)
