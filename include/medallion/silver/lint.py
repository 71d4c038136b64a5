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
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from medallion.silver.notebook_exec import CELL_SEPARATOR, MAGIC_PREFIX, NOTEBOOK_HEADER

# Rule ids (stable: tests and editors may match on them).
NOT_A_NOTEBOOK = "not-a-notebook"
SYNTAX_ERROR = "syntax-error"
SQL_STATEMENT = "sql-ddl"
SELECT_EXPR = "select-expr"
MONOTONIC_ID = "monotonically-increasing-id"
UDF = "udf"
WRITER_PARTITION_BY = "write-partition-by"
DELTA = "delta"
QUOTED_DATETIME_FORMAT = "quoted-datetime-format"
RDD = "rdd"
HIDDEN_FILE_READ = "hidden-file-read"

_ALTERNATIVES = {
    NOT_A_NOTEBOOK: "export the notebook in Databricks source format; the first line must be "
    f"`{NOTEBOOK_HEADER}` and cells are separated by `{CELL_SEPARATOR}`",
    SYNTAX_ERROR: "fix the Python syntax; the notebook cannot run on any engine as it is",
    SQL_STATEMENT: "build the result with DataFrame operations and write it with "
    '`df.write.mode("overwrite").saveAsTable(name)`; read with `spark.table(name)` (schemas exist already)',
    SELECT_EXPR: "`df.select(...)` with `F.col(...)` expressions and `.alias(...)`",
    MONOTONIC_ID: "`F.row_number().over(Window.orderBy(...))` for a deterministic id, or a key column",
    UDF: "built-in `pyspark.sql.functions` (F.when, F.regexp_replace, F.split, ...) or a join to a lookup table",
    WRITER_PARTITION_BY: 'drop partitionBy: `df.write.mode("overwrite").saveAsTable(name)` '
    "(the table is rebuilt per logical date; cluster or partition it in table properties on Databricks)",
    DELTA: 'omit the format (Delta is the default on Databricks): `df.write.mode("overwrite").saveAsTable(name)` '
    "to write, `spark.table(name)` to read; rebuild the table instead of MERGE",
    QUOTED_DATETIME_FORMAT: "parse ISO-8601 text without a format (`F.to_timestamp(col)`, "
    '`F.col(c).cast("timestamp")`), or normalise it first, e.g. `F.regexp_replace(col, "T", " ")`',
    RDD: "DataFrame operations (`select`, `groupBy().agg`, `collect()` for small results)",
    HIDDEN_FILE_READ: "read a small metadata file with `json.loads(dbutils.fs.head(path, max_bytes))` (as the "
    "example notebooks read bronze manifests); name data files without a leading `_` or `.`",
}

_SQL_KEYWORDS = ("CREATE", "ALTER", "DROP", "MERGE", "INSERT", "DELETE", "UPDATE", "TRUNCATE", "REPLACE")
_SQL_START = re.compile(rf"(?is)^\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*({'|'.join(_SQL_KEYWORDS)})\b")
_DATETIME_PARSERS = frozenset(
    {"to_timestamp", "to_date", "unix_timestamp", "to_unix_timestamp", "date_format", "try_to_timestamp"}
)
_UDF_NAMES = frozenset({"udf", "pandas_udf", "udtf"})
_WRITERS = frozenset({"write", "writeStream", "writeTo"})
_SQL_METHODS = frozenset({"sql"})
_FILE_READERS = frozenset({"json", "parquet", "csv", "text", "orc", "load"})
_READERS = frozenset({"read", "readStream"})


@dataclass(frozen=True)
class LintFinding:
    """One problem in a notebook; ``line`` and ``column`` are 1-based."""

    file: str
    line: int
    column: int
    rule: str
    message: str
    alternative: str

    def format(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.rule}: {self.message} (portable alternative: {self.alternative})"


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
        return [LintFinding(name, 1, 1, SYNTAX_ERROR, f"cannot read the file: {exc}", _ALTERNATIVES[SYNTAX_ERROR])]
    return lint_source(source, name)


def lint_source(source: str, file: str = "<notebook>") -> list[LintFinding]:
    """All findings of notebook ``source`` (``file`` is only used to label them)."""
    findings: list[LintFinding] = []
    lines = source.splitlines()
    first = lines[0].strip() if lines else ""
    if first != NOTEBOOK_HEADER:
        findings.append(_finding(file, 1, 1, NOT_A_NOTEBOOK, f"first line is {first[:60]!r}, not {NOTEBOOK_HEADER!r}"))
    try:
        tree = ast.parse(source, filename=file)
    except SyntaxError as exc:
        line, column = exc.lineno or 1, exc.offset or 1
        findings.append(_finding(file, line, max(column, 1), SYNTAX_ERROR, f"invalid Python: {exc.msg}"))
        return findings
    except ValueError as exc:  # e.g. null bytes in the source
        findings.append(_finding(file, 1, 1, SYNTAX_ERROR, f"invalid Python: {exc}"))
        return findings
    visitor = _Visitor(file, lines)
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


def _finding(file: str, line: int, column: int, rule: str, message: str) -> LintFinding:
    return LintFinding(file, line, column, rule, message, _ALTERNATIVES[rule])


def _sql_keyword(text: str) -> str | None:
    match = _SQL_START.match(text)
    return match.group(1).upper() if match else None


def _sql_message(keyword: str, where: str) -> str:
    what = "MERGE INTO (Delta-only)" if keyword == "MERGE" else f"{keyword} statement"
    return f"{what} through {where}: sqlframe's spark.sql supports queries, not DDL/DML"


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
    keyword = _sql_keyword(statement)
    if keyword and start is not None:
        findings.append(_finding(file, start[0], start[1], SQL_STATEMENT, _sql_message(keyword, "a %sql cell")))


def _chain_attributes(node: ast.AST) -> Iterator[str]:
    """Attribute names down a method chain: ``df.write.mode("x").partitionBy`` → partitionBy, mode, write."""
    while True:
        if isinstance(node, ast.Attribute):
            yield node.attr
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            return


def _is_string_literal(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


class _Visitor(ast.NodeVisitor):
    def __init__(self, file: str, lines: list[str]) -> None:
        self.file = file
        self.lines = lines
        self.findings: list[LintFinding] = []
        # values assigned to each plain name, to resolve ``q = "CREATE ..."; spark.sql(q)``
        self.assignments: dict[str, list[ast.expr]] = {}
        self.defined: set[str] = set()  # names the notebook binds itself (shadow star imports)
        # local name -> pyspark function it stands for (``from pyspark.sql.functions import udf as u``)
        self.imported: dict[str, str] = {}
        self.star_import = False

    # -- positions

    def add(self, node: ast.AST, rule: str, message: str) -> None:
        self.add_at(getattr(node, "lineno", 1), getattr(node, "col_offset", 0), rule, message)

    def add_attribute(self, node: ast.Attribute, rule: str, message: str) -> None:
        """Point at the attribute's name rather than at the start of the whole chain."""
        if node.end_lineno is None or node.end_col_offset is None:
            self.add(node, rule, message)
        else:
            self.add_at(node.end_lineno, max(node.end_col_offset - len(node.attr), 0), rule, message)

    def add_at(self, line: int, offset: int, rule: str, message: str) -> None:
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        # ast offsets are UTF-8 byte offsets; report characters, 1-based
        column = len(text.encode("utf-8")[:offset].decode("utf-8", errors="ignore")) + 1
        self.findings.append(_finding(self.file, line, column, rule, message))

    # -- string resolution

    def visit_Module(self, node: ast.Module) -> None:
        for child in ast.walk(node):
            if isinstance(child, ast.Assign) and len(child.targets) == 1 and isinstance(child.targets[0], ast.Name):
                self.assignments.setdefault(child.targets[0].id, []).append(child.value)
            elif isinstance(child, ast.AnnAssign) and isinstance(child.target, ast.Name) and child.value is not None:
                self.assignments.setdefault(child.target.id, []).append(child.value)
            if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                self.defined.add(child.id)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                self.defined.add(child.name)
        self.generic_visit(node)

    def leading_text(self, node: ast.AST, depth: int = 0) -> str | None:
        """The known start of a string expression (literal, f-string, concatenation, ``.format``)."""
        if depth > 5:
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr):
            text = ""
            for part in node.values:
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    text += part.value
                else:
                    return text + "{}"
            return text
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
            return self.leading_text(node.left, depth + 1)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
            return self.leading_text(node.func.value, depth + 1)
        if isinstance(node, ast.Name) and len(self.assignments.get(node.id, [])) == 1:
            return self.leading_text(self.assignments[node.id][0], depth + 1)
        return None

    def trailing_text(self, node: ast.AST, depth: int = 0) -> str | None:
        """The known end of a string expression (literal, f-string, concatenation), ``{}`` for the unknown."""
        if depth > 5:
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr):
            text = ""
            for part in reversed(node.values):
                if not (isinstance(part, ast.Constant) and isinstance(part.value, str)):
                    return "{}" + text
                text = part.value + text
            return text
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self.trailing_text(node.right, depth + 1)
        if isinstance(node, ast.Name) and len(self.assignments.get(node.id, [])) == 1:
            return self.trailing_text(self.assignments[node.id][0], depth + 1)
        return None

    # -- imports

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name == "delta" or alias.name.startswith("delta."):
                self.add(alias, DELTA, f"`import {alias.name}` (delta-spark) is Databricks-only")
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level == 0 and (module == "delta" or module.startswith("delta.")):
            self.add(node, DELTA, f"`from {module} import ...` (delta-spark, e.g. DeltaTable) is Databricks-only")
        elif node.level == 0 and module.split(".")[0] == "pyspark":
            for alias in node.names:
                if alias.name == "*":
                    self.star_import = True
                    continue
                self.imported[alias.asname or alias.name] = alias.name
                if alias.name in _UDF_NAMES:
                    self.add(alias, UDF, f"Python UDF (`{alias.name}` imported from {module}) does not run on sqlframe")
                elif alias.name == "monotonically_increasing_id":
                    self.add(alias, MONOTONIC_ID, "monotonically_increasing_id is not available on sqlframe")
        self.generic_visit(node)

    # -- attributes and names

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr == "selectExpr":
            self.add_attribute(node, SELECT_EXPR, "selectExpr (SQL expression strings) is not supported by sqlframe")
        elif attr == "monotonically_increasing_id":
            self.add_attribute(node, MONOTONIC_ID, "monotonically_increasing_id is not available on sqlframe")
        elif attr in _UDF_NAMES:
            what = "UDF registration" if attr == "udf" and self._is_session(node.value) else "Python UDF"
            self.add_attribute(node, UDF, f"{what} (`{ast.unparse(node)}`) does not run on sqlframe")
        elif attr == "rdd":
            self.add_attribute(node, RDD, "DataFrame.rdd: there are no RDDs on sqlframe")
        elif attr == "sparkContext":
            self.add_attribute(node, RDD, "spark.sparkContext: there is no SparkContext (or RDD API) on sqlframe")
        elif attr == "partitionBy" and any(a in _WRITERS for a in _chain_attributes(node.value)):
            self.add_attribute(
                node, WRITER_PARTITION_BY, "partitionBy on a DataFrameWriter is not supported by sqlframe"
            )
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load) and self.star_import and node.id not in self.defined:
            if node.id in _UDF_NAMES:
                self.add(node, UDF, f"Python UDF (`{node.id}`, star-imported from pyspark) does not run on sqlframe")
            elif node.id == "monotonically_increasing_id":
                self.add(node, MONOTONIC_ID, "monotonically_increasing_id is not available on sqlframe")
        self.generic_visit(node)

    @staticmethod
    def _is_session(node: ast.AST) -> bool:
        return (isinstance(node, ast.Name) and node.id in {"spark", "session"}) or (
            isinstance(node, ast.Attribute) and node.attr in {"spark", "session", "sparkSession"}
        )

    # -- calls

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if isinstance(func, ast.Name):
            name = self.imported.get(func.id, func.id if self.star_import and func.id not in self.defined else None)
        if isinstance(func, ast.Attribute) and name in _SQL_METHODS:
            self._check_sql_call(node)
        if isinstance(func, ast.Attribute) and name == "format" and node.args and not _is_string_literal(func.value):
            fmt = node.args[0]
            if isinstance(fmt, ast.Constant) and isinstance(fmt.value, str) and fmt.value.lower() == "delta":
                self.add_attribute(func, DELTA, '.format("delta"): Delta reads/writes are Databricks-only')
        if isinstance(func, ast.Attribute) and name in {"saveAsTable", "save", "load", "insertInto"}:
            for keyword in node.keywords:
                value = keyword.value
                if (
                    keyword.arg == "format"
                    and isinstance(value, ast.Constant)
                    and isinstance(value.value, str)
                    and value.value.lower() == "delta"
                ):
                    self.add(value, DELTA, f'{name}(format="delta"): Delta reads/writes are Databricks-only')
        if name in _DATETIME_PARSERS:
            self._check_datetime_format(node, name)
        if isinstance(func, ast.Attribute) and name in _FILE_READERS and _READERS & set(_chain_attributes(func.value)):
            self._check_read_paths(node, name)
        self.generic_visit(node)

    def _check_read_paths(self, node: ast.Call, name: str) -> None:
        """``spark.read.json(".../_manifest.json")``: Spark's readers skip ``_*`` and ``.*`` files even when named."""
        paths = [*node.args, *(k.value for k in node.keywords if k.arg in {"path", "paths"})]
        for path in paths:
            text = self.trailing_text(path)
            if text is None or ("/" not in text and text.startswith("{}")):
                continue  # the last segment is not known
            segment = text.rstrip("/").rsplit("/", 1)[-1]
            if segment[:1] in {"_", "."}:
                self.add(
                    path,
                    HIDDEN_FILE_READ,
                    f"spark.read.{name} of {segment!r}: Spark's file readers skip names starting with `_` or `.` "
                    "(like _SUCCESS) even when named, so this reads nothing on Databricks (the emulator reads it)",
                )

    def _check_sql_call(self, node: ast.Call) -> None:
        query = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "sqlQuery"), None)
        if query is None:
            return
        text = self.leading_text(query)
        keyword = _sql_keyword(text) if text is not None else None
        if keyword:
            self.add(query, SQL_STATEMENT, _sql_message(keyword, "spark.sql"))

    def _check_datetime_format(self, node: ast.Call, name: str) -> None:
        fmt = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "format"), None)
        if fmt is None:
            return
        text = self.leading_text(fmt) if not isinstance(fmt, ast.JoinedStr) else None
        if isinstance(fmt, ast.JoinedStr):
            text = "".join(p.value for p in fmt.values if isinstance(p, ast.Constant) and isinstance(p.value, str))
        if text is not None and "'" in text:
            self.add(
                fmt,
                QUOTED_DATETIME_FORMAT,
                f"{name} with a quoted literal in its format ({text!r}): DuckDB's strptime/strftime "
                "do not understand Spark's '...' escapes (parse errors, or quotes left in the output)",
            )
