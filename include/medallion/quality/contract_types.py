"""Contract types as written, compared with a table's actual column types on each lakehouse engine.

A contract says ``quantity: int``; the table must have exactly that type, not a decimal that
happens to hold whole numbers (consumers cast, join and sum by the declared type). Declared types
use Databricks SQL names (aliases accepted); each engine's names map to the same canonical type
through its ``type_names`` (``medallion/engines/<engine>.py``), which the README reproduces.
No widening: ``int`` ≠ ``bigint``, ``decimal(12,2)`` ≠ ``decimal(14,2)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from medallion.engines import engine_named
from medallion.spec.sqltypes import DECIMAL, declared_type

#: Actual type names per engine → canonical type (DuckDB ``DESCRIBE``; Databricks ``DESCRIBE QUERY``).


def actual_type(engine: str, text: str) -> str:
    """The canonical form of an engine's column type; an unmapped type stays as the engine wrote it."""
    t = " ".join(text.strip().split())
    if m := DECIMAL.match(t):
        return f"decimal({int(m[1])},{int(m[2])})"
    return engine_named(engine).canonical_type(t)


def describe_sql(engine: str, query: str) -> str:
    """The statement listing ``(column, type)`` of exactly the rows the gate audits."""
    return engine_named(engine).describe_sql(query)


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
