"""Static lint for Databricks notebooks: flag code outside the portable PySpark subset.

Notebooks run on Databricks Spark in production and on sqlframe/DuckDB locally (the Jobs API
emulator), so they must stay within the subset both engines support (README, "Portable
PySpark subset"). This module reads notebook source files with :mod:`ast` and never executes
them. Only code is inspected (calls, attributes, imports, string arguments of ``spark.sql``
and ``%sql`` cells), never comments, Markdown cells or docstrings, so words like "MERGE" or
"udf" in prose are not findings. A file that does not parse is one finding, not a traceback.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

from medallion.silver.lint_python import PythonVisitor
from medallion.silver.lint_rules import (  # the rule ids stay importable from here (tests, editors)
    ALTERNATIVES,
    NOT_A_NOTEBOOK,
    SQL_STATEMENT,
    SYNTAX_ERROR,
    LintFinding,
    finding,
    sql_keyword,
    sql_message,
)
from medallion.silver.notebook_exec import CELL_SEPARATOR, MAGIC_PREFIX, NOTEBOOK_HEADER


def lint_paths(paths: Iterable[Path]) -> list[LintFinding]:
    """Lint notebook files; directories are searched recursively for ``*.py``."""
    findings: list[LintFinding] = []
    for path in _expand(paths):
        findings.extend(lint_notebook(path))
    return findings


def lint_notebook(path: Path) -> list[LintFinding]:
    """All findings of one notebook source file, ordered by position."""
    path = Path(path)
    name = str(path)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [LintFinding(name, 1, 1, SYNTAX_ERROR, f"cannot read the file: {exc}", ALTERNATIVES[SYNTAX_ERROR])]
    return lint_source(source, name)


def lint_source(source: str, file: str = "<notebook>") -> list[LintFinding]:
    """All findings of notebook ``source`` (``file`` is only used to label them)."""
    findings: list[LintFinding] = []
    lines = source.splitlines()
    first = lines[0].strip() if lines else ""
    if first != NOTEBOOK_HEADER:
        findings.append(finding(file, 1, 1, NOT_A_NOTEBOOK, f"first line is {first[:60]!r}, not {NOTEBOOK_HEADER!r}"))
    try:
        tree = ast.parse(source, filename=file)
    except SyntaxError as exc:
        line, column = exc.lineno or 1, exc.offset or 1
        findings.append(finding(file, line, max(column, 1), SYNTAX_ERROR, f"invalid Python: {exc.msg}"))
        return findings
    except ValueError as exc:  # e.g. null bytes in the source
        findings.append(finding(file, 1, 1, SYNTAX_ERROR, f"invalid Python: {exc}"))
        return findings
    visitor = PythonVisitor(file, lines)
    visitor.visit(tree)
    findings.extend(visitor.findings)
    findings.extend(_sql_cell_findings(file, lines))
    return sorted(findings, key=lambda f: (f.line, f.column, f.rule))


# --------------------------------------------------------------------------- helpers


def _expand(paths: Iterable[Path]) -> Iterator[Path]:
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        candidates = sorted(p for p in path.rglob("*.py") if p.is_file()) if path.is_dir() else [path]
        for candidate in candidates:
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                yield candidate


def _sql_cell_findings(file: str, lines: list[str]) -> list[LintFinding]:
    """DDL/DML in ``%sql`` magic cells (the emulator runs them through ``spark.sql``)."""
    findings: list[LintFinding] = []
    cell: list[tuple[int, str]] = []

    def flush() -> None:
        code = [(n, text) for n, text in cell if text.strip()]
        if not code or not all(text.startswith(MAGIC_PREFIX) for _, text in code):
            return
        # (line number, 0-based column where the SQL text starts, SQL text)
        body: list[tuple[int, int, str]] = []
        for number, text in code:
            offset = len(MAGIC_PREFIX) + (1 if text[len(MAGIC_PREFIX) : len(MAGIC_PREFIX) + 1] == " " else 0)
            body.append((number, offset, text[offset:]))
        number, offset, text = body[0]
        if text.split(maxsplit=1)[:1] != ["%sql"]:
            return
        body[0] = (number, offset + text.index("%sql") + 4, text[text.index("%sql") + 4 :])
        start: tuple[int, int] | None = None
        statement = ""
        for number, offset, text in body:
            for chunk_start, chunk in _split_keep_offsets(text):
                if chunk == ";":
                    _check_sql_statement(statement, start, file, findings)
                    start, statement = None, ""
                    continue
                stripped = chunk.strip()
                if start is None and stripped and not stripped.startswith("--"):
                    lead = len(chunk) - len(chunk.lstrip())
                    start = (number, offset + chunk_start + lead + 1)
                statement += chunk
            statement += "\n"
        _check_sql_statement(statement, start, file, findings)

    for number, line in enumerate(lines, start=1):
        if number == 1 and line.strip() == NOTEBOOK_HEADER:
            continue
        if line.strip() == CELL_SEPARATOR:
            flush()
            cell = []
        else:
            cell.append((number, line))
    flush()
    return findings


def _split_keep_offsets(text: str) -> Iterator[tuple[int, str]]:
    """``text`` as (offset, chunk) with every ``;`` as its own chunk."""
    start = 0
    for index, char in enumerate(text):
        if char == ";":
            if index > start:
                yield start, text[start:index]
            yield index, ";"
            start = index + 1
    if start < len(text):
        yield start, text[start:]


def _check_sql_statement(statement: str, start: tuple[int, int] | None, file: str, findings: list[LintFinding]) -> None:
    keyword = sql_keyword(statement)
    if keyword and start is not None:
        findings.append(finding(file, start[0], start[1], SQL_STATEMENT, sql_message(keyword, "a %sql cell")))
