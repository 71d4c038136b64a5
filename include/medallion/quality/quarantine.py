"""Quarantine: set aside the rows that break ``quarantine: true`` rules, in SQL on the engine.

The ``silver_quarantine`` step (``quality.quarantine_step``), before the silver gate, copies the
failing rows of a staging table to ``quarantine.<pipeline>__<table>`` with the names of the rules
they broke, the run id and the logical date (that date's earlier quarantine rows are replaced, so
re-runs never duplicate). The staging table is left untouched: the gate validates, and the publish
step copies, only the rows that pass every quarantine rule (the ``keep`` predicate the step hands
on), so a retried gate sees the same input.
The SQL is plain enough for DuckDB and Databricks SQL; only literals, identifiers and the regex
function differ, and each lakehouse engine (``medallion.engines``) writes those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medallion.engines import engine_for, engine_named
from medallion.spec.models import Expectation, TableCheck

_SHORT = {
    "expect_column_values_to_not_be_null": "not_null",
    "expect_column_values_to_be_unique": "unique",
    "expect_compound_columns_to_be_unique": "unique",
    "expect_column_values_to_be_in_set": "in_set",
    "expect_column_values_to_be_between": "between",
    "expect_column_values_to_match_regex": "regex",
}


@dataclass(frozen=True)
class QuarantinePlan:
    """The SQL for one table's quarantine rules (pure: built and tested without an engine)."""

    source: str
    target: str
    rules: dict[str, str]  # rule name → predicate that is TRUE for a failing row

    @property
    def failing(self) -> str:
        return "COALESCE(" + " OR ".join(f"({p})" for p in self.rules.values()) + ", FALSE)"

    @property
    def keep(self) -> str:
        """The rows that continue: no quarantine rule broken (NULL-safe)."""
        return f"NOT {self.failing}"

    def count_sql(self) -> str:
        per_rule = ", ".join(f"SUM(CASE WHEN {p} THEN 1 ELSE 0 END)" for p in self.rules.values())
        return f"SELECT COUNT(*), SUM(CASE WHEN {self.failing} THEN 1 ELSE 0 END), {per_rule} FROM {self.source}"

    def write_statements(self, run_id: str, ds: str, dialect: str) -> list[str]:
        """Create the table if needed, replace this date's rows; safe to repeat."""
        names = ", ".join(f"CASE WHEN {p} THEN {literal(n, dialect)} END" for n, p in self.rules.items())
        schema = self.target.split(".", 1)[0]
        return [
            f"CREATE SCHEMA IF NOT EXISTS {schema}",
            f"CREATE TABLE IF NOT EXISTS {self.target} AS SELECT *, CAST(NULL AS STRING) AS _quarantine_rules, "
            "CAST(NULL AS STRING) AS _run_id, CAST(NULL AS DATE) AS _logical_date, "
            f"CAST(NULL AS TIMESTAMP) AS _quarantined_at FROM {self.source} WHERE 1 = 0",
            f"DELETE FROM {self.target} WHERE _logical_date = DATE {literal(ds, dialect)}",
            f"INSERT INTO {self.target} SELECT *, concat_ws(', ', {names}), {literal(run_id, dialect)}, "
            f"DATE {literal(ds, dialect)}, CAST(current_timestamp AS TIMESTAMP) FROM {self.source} "
            f"WHERE {self.failing}",
        ]


def quarantine_rules(check: TableCheck) -> list[Expectation]:
    return [e for e in check.expectations if e.quarantine]


def quarantined_checks(checks: list[TableCheck]) -> list[TableCheck]:
    """The suites with at least one quarantine rule (the DAG has a quarantine step only for those)."""
    return [c for c in checks if quarantine_rules(c)]


def rule_name(exp: Expectation) -> str:
    return exp.name or f"{_SHORT[exp.type]}__{exp.column or '__'.join(exp.column_list or ())}"


def plan(check: TableCheck, source: str, target: str, dialect: str) -> QuarantinePlan | None:
    """The quarantine SQL for ``check`` reading ``source``, or None when it has no quarantine rule."""
    rules: dict[str, str] = {}
    for exp in quarantine_rules(check):
        name, n = rule_name(exp), 2
        while name in rules:  # two rules of one kind on one column keep separate counts
            name, n = f"{rule_name(exp)}_{n}", n + 1
        rules[name] = failure_predicate(exp, source, dialect)
    return QuarantinePlan(source, target, rules) if rules else None


def failure_predicate(exp: Expectation, source: str, dialect: str) -> str:
    """SQL that is TRUE exactly for the rows GE counts as unexpected (NULLs pass, except not-null)."""
    if exp.type == "expect_compound_columns_to_be_unique":
        cols = ", ".join(ident(c, dialect) for c in exp.column_list or ())
        return f"({cols}) IN (SELECT {cols} FROM {source} GROUP BY {cols} HAVING COUNT(*) > 1)"
    col = ident(exp.column or "", dialect)
    if exp.type == "expect_column_values_to_not_be_null":
        return f"{col} IS NULL"
    if exp.type == "expect_column_values_to_be_unique":
        dupes = f"SELECT {col} FROM {source} WHERE {col} IS NOT NULL GROUP BY {col} HAVING COUNT(*) > 1"
        return f"{col} IS NOT NULL AND {col} IN ({dupes})"
    if exp.type == "expect_column_values_to_be_in_set":
        values = ", ".join(literal(v, dialect) for v in exp.value_set or ())
        return f"{col} IS NOT NULL AND {col} NOT IN ({values})" if values else f"{col} IS NOT NULL"
    if exp.type == "expect_column_values_to_be_between":
        bounds = [f"{col} < {literal(exp.min_value, dialect)}"] if exp.min_value is not None else []
        bounds += [f"{col} > {literal(exp.max_value, dialect)}"] if exp.max_value is not None else []
        return f"{col} IS NOT NULL AND ({' OR '.join(bounds) or 'FALSE'})"
    if exp.type == "expect_column_values_to_match_regex":
        pattern = literal(exp.regex or "", dialect)
        return f"{col} IS NOT NULL AND NOT {engine_named(dialect).regex_matches(col, pattern)}"
    raise ValueError(f"{exp.type} cannot quarantine rows")


def ident(name: str, dialect: str) -> str:
    """A quoted identifier in the engine's dialect."""
    return engine_named(dialect).ident(name)


def literal(value: Any, dialect: str) -> str:
    """A SQL literal; Databricks string literals treat backslashes as escapes, DuckDB's do not."""
    return engine_named(dialect).literal(value)


@dataclass
class QuarantineResult:
    table: str
    total: int
    quarantined: int
    rules: dict[str, int]

    @property
    def kept(self) -> int:
        return self.total - self.quarantined

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "quarantined": self.quarantined, "kept": self.kept, "rules": self.rules}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuarantineResult:
        """The counts the quarantine step handed the gate (its ``to_dict``, through XCom)."""
        quarantined = int(data["quarantined"])
        return cls(data["table"], int(data["kept"]) + quarantined, quarantined, dict(data["rules"]))

    def annotate(self, table: dict[str, Any], check: TableCheck) -> dict[str, Any]:
        """A table's gate result with these counts, overall and on each quarantine rule's outcome."""
        counts = iter(self.rules.values())  # rules were planned in the suite's order
        for outcome, exp in zip(table["outcomes"], check.expectations, strict=True):
            if exp.quarantine:
                outcome["quarantined"] = next(counts)
        return table | {"quarantine": self.to_dict()}


def apply(conn: Any, quarantine: QuarantinePlan, *, run_id: str, ds: str) -> QuarantineResult:
    """Count per rule, then replace this date's rows in the quarantine table (idempotent)."""
    from medallion.quality.publish import query_one, run_statements

    dialect = engine_for(conn).conn_type
    row = query_one(conn, quarantine.count_sql())
    total, failing, *per_rule = (int(v or 0) for v in row)
    run_statements(conn, quarantine.write_statements(run_id, ds, dialect))
    return QuarantineResult(quarantine.target, total, failing, dict(zip(quarantine.rules, per_rule, strict=True)))
