"""The lint's rules: stable ids, the portable alternative each one names, and what a finding is."""

from __future__ import annotations

import re
from dataclasses import dataclass

from medallion.silver.notebook_exec import CELL_SEPARATOR, NOTEBOOK_HEADER

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

ALTERNATIVES = {
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

SQL_KEYWORDS = ("CREATE", "ALTER", "DROP", "MERGE", "INSERT", "DELETE", "UPDATE", "TRUNCATE", "REPLACE")
SQL_START = re.compile(rf"(?is)^\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*({'|'.join(SQL_KEYWORDS)})\b")
DATETIME_PARSERS = frozenset(
    {"to_timestamp", "to_date", "unix_timestamp", "to_unix_timestamp", "date_format", "try_to_timestamp"}
)
UDF_NAMES = frozenset({"udf", "pandas_udf", "udtf"})
WRITERS = frozenset({"write", "writeStream", "writeTo"})
SQL_METHODS = frozenset({"sql"})
FILE_READERS = frozenset({"json", "parquet", "csv", "text", "orc", "load"})
READERS = frozenset({"read", "readStream"})


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


def finding(file: str, line: int, column: int, rule: str, message: str) -> LintFinding:
    return LintFinding(file, line, column, rule, message, ALTERNATIVES[rule])


def sql_keyword(text: str) -> str | None:
    match = SQL_START.match(text)
    return match.group(1).upper() if match else None


def sql_message(keyword: str, where: str) -> str:
    what = "MERGE INTO (Delta-only)" if keyword == "MERGE" else f"{keyword} statement"
    return f"{what} through {where}: sqlframe's spark.sql supports queries, not DDL/DML"
