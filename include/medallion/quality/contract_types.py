"""Contract types as written, compared with a table's actual column types on each lakehouse engine.

A contract says ``quantity: int``; the table must have exactly that type, not a decimal that
happens to hold whole numbers (consumers cast, join and sum by the declared type). Declared types
use Databricks SQL names (aliases accepted); each engine's names map to the same canonical type
through the tables below, which the README reproduces. No widening: ``int`` ≠ ``bigint``,
``decimal(12,2)`` ≠ ``decimal(14,2)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from medallion.spec.sqltypes import DECIMAL, declared_type

#: Actual type names per engine → canonical type (DuckDB ``DESCRIBE``; Databricks ``DESCRIBE QUERY``).
ENGINE_TYPES: dict[str, dict[str, str]] = {
    "duckdb": {
        "TINYINT": "tinyint",
        "SMALLINT": "smallint",
        "INTEGER": "int",
        "BIGINT": "bigint",
        "FLOAT": "float",
        "DOUBLE": "double",
        "BOOLEAN": "boolean",
        "VARCHAR": "string",
        "DATE": "date",
        # Databricks `timestamp` is an instant; DuckDB has both, and the local engine writes naive ones
        "TIMESTAMP WITH TIME ZONE": "timestamp",
        "TIMESTAMP": "timestamp",
        "TIMESTAMP_NS": "timestamp",
        "TIMESTAMP_MS": "timestamp",
        "TIMESTAMP_S": "timestamp",
        "BLOB": "binary",
    },
    "databricks": {
        "tinyint": "tinyint",
        "byte": "tinyint",
        "smallint": "smallint",
        "short": "smallint",
        "int": "int",
        "integer": "int",
        "bigint": "bigint",
        "long": "bigint",
        "float": "float",
        "double": "double",
        "boolean": "boolean",
        "string": "string",
        "date": "date",
        "timestamp": "timestamp",
        "timestamp_ntz": "timestamp_ntz",
        "binary": "binary",
    },
}

_SIZED_STRING = re.compile(r"^(?:varchar|char)\s*\(\s*\d+\s*\)$", re.IGNORECASE)  # Databricks stores these as string


def actual_type(engine: str, text: str) -> str:
    """The canonical form of an engine's column type; an unmapped type stays as the engine wrote it."""
    t = " ".join(text.strip().split())
    if m := DECIMAL.match(t):
        return f"decimal({int(m[1])},{int(m[2])})"
    if engine == "databricks" and _SIZED_STRING.match(t):
        return "string"
    table = ENGINE_TYPES[engine]
    return table.get(t if engine == "duckdb" else t.lower(), t.lower() if engine == "databricks" else t)


def describe_sql(engine: str, query: str) -> str:
    """The statement listing ``(column, type)`` of exactly the rows the gate audits."""
    if engine == "databricks":
        return f"DESCRIBE QUERY {query}"
    if engine == "duckdb":
        return f"DESCRIBE {query}"
    raise ValueError(f"no contract type check for a {engine!r} lakehouse (duckdb or databricks)")


@dataclass(frozen=True)
class Violation:
    """One contract column that is missing, or present with another type."""

    column: str
    declared: str
    actual: str | None  # None: the column is missing

    def describe(self) -> str:
        if self.actual is None:
            return f"column {self.column} (declared {self.declared}) is missing from the table"
        return f"column {self.column} is declared {self.declared} but the table has {self.actual}"


def violations(engine: str, declared: dict[str, str], actual: list[tuple[str, str]]) -> list[Violation]:
    """Contract columns (``name → declared type``) compared with the table's ``(name, engine type)`` rows.

    Column names compare case-insensitively (Databricks and DuckDB identifiers do); extra table
    columns are allowed: a contract promises what consumers may rely on, not everything there is.
    """
    found = {name.lower(): type_ for name, type_ in actual}
    out = []
    for column, text in declared.items():
        engine_type = found.get(column.lower())
        if engine_type is None:
            out.append(Violation(column, text, None))
        elif declared_type(text) != actual_type(engine, engine_type):
            out.append(Violation(column, text, engine_type))
    return out
