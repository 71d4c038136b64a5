"""The Python side of the lint: an ``ast`` visitor over a notebook's code (calls, attributes, imports,
string arguments of ``spark.sql``), never executing it."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from medallion.silver.lint_rules import (
    DATETIME_PARSERS,
    DELTA,
    FILE_READERS,
    HIDDEN_FILE_READ,
    MONOTONIC_ID,
    QUOTED_DATETIME_FORMAT,
    RDD,
    READERS,
    SELECT_EXPR,
    SQL_METHODS,
    SQL_STATEMENT,
    UDF,
    UDF_NAMES,
    WRITER_PARTITION_BY,
    WRITERS,
    LintFinding,
    finding,
    sql_keyword,
    sql_message,
)


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


class PythonVisitor(ast.NodeVisitor):
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
        self.findings.append(finding(self.file, line, column, rule, message))

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
                if alias.name in UDF_NAMES:
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
        elif attr in UDF_NAMES:
            what = "UDF registration" if attr == "udf" and self._is_session(node.value) else "Python UDF"
            self.add_attribute(node, UDF, f"{what} (`{ast.unparse(node)}`) does not run on sqlframe")
        elif attr == "rdd":
            self.add_attribute(node, RDD, "DataFrame.rdd: there are no RDDs on sqlframe")
        elif attr == "sparkContext":
            self.add_attribute(node, RDD, "spark.sparkContext: there is no SparkContext (or RDD API) on sqlframe")
        elif attr == "partitionBy" and any(a in WRITERS for a in _chain_attributes(node.value)):
            self.add_attribute(
                node, WRITER_PARTITION_BY, "partitionBy on a DataFrameWriter is not supported by sqlframe"
            )
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load) and self.star_import and node.id not in self.defined:
            if node.id in UDF_NAMES:
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
        if isinstance(func, ast.Attribute) and name in SQL_METHODS:
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
        if name in DATETIME_PARSERS:
            self._check_datetime_format(node, name)
        if isinstance(func, ast.Attribute) and name in FILE_READERS and READERS & set(_chain_attributes(func.value)):
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
        keyword = sql_keyword(text) if text is not None else None
        if keyword:
            self.add(query, SQL_STATEMENT, sql_message(keyword, "spark.sql"))

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
