"""Compare an output table with a case's expected rows: order ignored, types checked, a subset of columns.

The diff reads expected → actual, like the dbt unit-test alert: a wrong type is one line per column,
rows that share their key (the contract's primary key, else the first compared column) but differ show
only the cells that differ, and the rest are missing (expected, not produced) or unexpected rows.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections import Counter
from typing import Any

from medallion.spec.notebook_cases import Fixture, coerce
from medallion.spec.sqltypes import declared_type

_SPARK_TYPES = {"integer": "int", "long": "bigint", "short": "smallint", "byte": "tinyint", "str": "string"}


def canonical_type(engine_type: str) -> str:
    """A DataFrame column type (``df.dtypes`` of Spark or sqlframe) as the spec's canonical name."""
    text = engine_type.strip().lower()
    text = _SPARK_TYPES.get(text, text)
    if re.fullmatch(r"varchar(\(\d+\))?|char\(\d+\)|text", text):
        return "string"
    if text in {"timestamp_ltz", "timestamptz", "timestamp with time zone"}:
        return "timestamp"
    try:
        return declared_type(text)
    except ValueError:
        return text


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | decimal.Decimal):
        return str(value)
    return repr(value)


def _normal(value: Any, sql_type: str | None) -> Any:
    """A value in the form both sides are compared in (typed, floats rounded, UTC timestamps)."""
    if value is None:
        return None
    if sql_type is not None:
        try:
            value = coerce(value, sql_type)
        except (ValueError, ArithmeticError, TypeError):
            return ("not a " + sql_type, value)
    if isinstance(value, float):
        return float(f"{value:.9g}")
    return value


def compare_table(
    table: str,
    expected: Fixture,
    compare: list[str],
    keys: list[str],
    actual_types: dict[str, str],
    actual_rows: list[dict[str, Any]],
) -> list[str]:
    """Diff lines (expected → actual); empty when the table holds exactly the expected rows."""
    lines: list[str] = []
    actual_canonical = {c: canonical_type(t) for c, t in actual_types.items()}
    missing = [c for c in compare if c not in actual_canonical]
    for column in missing:
        lines.append(f"column {column}: expected, the table has no such column (has {', '.join(actual_canonical)})")
    for column in compare:
        declared = expected.types.get(column) if column in expected.declared else None
        if column in actual_canonical and declared and declared != actual_canonical[column]:
            lines.append(f"column {column}: type {declared} → {actual_canonical[column]}")
    columns = [c for c in compare if c in actual_canonical]
    if missing:
        return lines

    def row_key(row: dict[str, Any], from_expected: bool) -> tuple[Any, ...]:
        return tuple(_normal(row.get(c), actual_canonical[c]) for c in columns)

    want = Counter(row_key(r, True) for r in expected.rows)
    got = Counter(row_key(r, False) for r in actual_rows)
    only_expected = list((want - got).elements())
    only_actual = list((got - want).elements())
    if not only_expected and not only_actual:
        return lines
    lines.append(f"{table}: expected {len(expected.rows)} row(s), got {len(actual_rows)}")
    key_index = [columns.index(k) for k in keys if k in columns] or [0]

    def key_of(values: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(values[i] for i in key_index)

    unmatched = list(only_actual)
    for values in only_expected:
        partner = next((a for a in unmatched if key_of(a) == key_of(values)), None)
        label = ", ".join(f"{columns[i]}={_show(values[i])}" for i in key_index)
        if partner is None:
            lines.append("  missing row: " + _row(columns, values))
            continue
        unmatched.remove(partner)
        cells = [
            f"{c}: {_show(values[i])} → {_show(partner[i])}" for i, c in enumerate(columns) if values[i] != partner[i]
        ]
        lines.append(f"  row {label}: " + "; ".join(cells))
    for values in unmatched:
        lines.append("  unexpected row: " + _row(columns, values))
    return lines


def _row(columns: list[str], values: tuple[Any, ...]) -> str:
    return "{" + ", ".join(f"{c}: {_show(v)}" for c, v in zip(columns, values, strict=True)) + "}"
