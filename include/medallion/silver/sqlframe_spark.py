"""Spark's answers on the emulator's engine where DuckDB's differ: found by the notebook fidelity test.

``tests/unit/silver/test_notebook_fidelity.py`` runs every pipeline notebook on real Spark and on
sqlframe/DuckDB over the same dirty bronze data. Where the two disagreed on a value, the emulator
now gives Spark's answer (Spark 4 with ANSI mode, its default and Databricks serverless'):

- a cast to decimal rounds the value's shortest decimal text half up, as Spark does for a double
  (17.615 → 17.62; DuckDB rounded the binary value 17.61499… to 17.61);
- a cast of text to a whole number refuses a fraction or an exponent (``'12.5'``, ``'1e3'``: Spark
  raises ``CAST_INVALID_INPUT``, DuckDB rounded);
- ``to_date`` of text reads ``yyyy-[m]m-[d]d`` with an optional time after a space or ``T`` and
  refuses other spellings DuckDB reads (``'2026/11/20'``: Spark raises, DuckDB read it).

Text neither engine reads (``'soon'``) still fails with DuckDB's own error, which alerts quote.

The patches go on sqlframe's ``Column.cast`` and ``functions.to_date`` once per process; only the
emulator and the notebook tests use sqlframe.
"""

from __future__ import annotations

import functools
from typing import Any

_WHOLE = r"\s*[+-]?[0-9]+\s*"
_DATE = r"\s*[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([ T].*)?"
_DATE_PART = r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"


def _is_text(value: Any) -> Any:
    from sqlglot import exp

    return exp.EQ(
        this=exp.Anonymous(this="typeof", expressions=[value.copy()]), expression=exp.Literal.string("VARCHAR")
    )


def _matches(value: Any, pattern: str) -> Any:
    from sqlglot import exp

    text = exp.cast(value.copy(), "varchar")
    return exp.and_(
        _is_text(value), exp.Anonymous(this="regexp_full_match", expressions=[text, exp.Literal.string(pattern)])
    )


def _refuse_text(value: Any, pattern: str, target: str, typed: Any) -> Any:
    """``typed``, except for text outside ``pattern`` that DuckDB would still read as ``target``: that raises
    Spark's error. Text neither engine reads keeps DuckDB's own error (alerts and the demo quote it)."""
    from sqlglot import exp

    text = exp.cast(value.copy(), "varchar")
    message = exp.Concat(
        expressions=[
            exp.Literal.string("[CAST_INVALID_INPUT] The value '"),
            text.copy(),
            exp.Literal.string(f'\' of the type "STRING" cannot be cast to "{target.upper()}" because it is malformed'),
        ]
    )
    duckdb_reads = exp.not_(
        exp.Is(this=exp.TryCast(this=text.copy(), to=exp.DataType.build(target)), expression=exp.Null())
    )
    refused = exp.and_(_is_text(value), exp.not_(_matches(value, pattern)), duckdb_reads)
    return exp.Case(ifs=[exp.If(this=refused, true=exp.Anonymous(this="error", expressions=[message]))], default=typed)


@functools.cache
def spark_semantics() -> None:
    """Patch sqlframe's ``Column.cast`` and ``functions.to_date`` (both flavours) with Spark's answers."""
    from sqlframe.base import functions as base_functions
    from sqlframe.base.column import Column
    from sqlframe.base.types import DataType
    from sqlframe.duckdb import functions as duckdb_functions
    from sqlglot import exp

    direct_cast = Column.cast
    whole = {exp.DataType.Type.TINYINT, exp.DataType.Type.SMALLINT, exp.DataType.Type.INT, exp.DataType.Type.BIGINT}

    def cast(self: Any, dataType: Any, dialect: Any = None) -> Any:
        target = dataType.simpleString() if isinstance(dataType, DataType) else dataType
        built = target if isinstance(target, exp.DataType) else exp.DataType.build(target, dialect="spark")
        if built.this == exp.DataType.Type.DECIMAL:
            return direct_cast(direct_cast(self, "string"), built)
        if built.this in whole:
            typed = direct_cast(self, dataType, dialect)
            return _named_as(
                typed, _refuse_text(self.column_expression, _WHOLE, built.sql("duckdb"), typed.column_expression)
            )
        return direct_cast(self, dataType, dialect)

    direct_to_date = base_functions.to_date

    def to_date(col: Any, format: str | None = None) -> Any:
        typed = direct_to_date(col, format)
        if format is not None:
            return typed
        value = Column.ensure_col(col).column_expression
        date_part = exp.Anonymous(
            this="regexp_extract", expressions=[exp.cast(value.copy(), "varchar"), exp.Literal.string(_DATE_PART)]
        )
        text_date = exp.Case(  # Spark reads the date part of a date-shaped text (a time after it is ignored)
            ifs=[exp.If(this=_matches(value, _DATE), true=exp.cast(date_part, "date"))],
            default=typed.column_expression,
        )
        return _named_as(typed, _refuse_text(value, _DATE, "date", text_date))

    def _named_as(direct: Any, guarded: Any) -> Any:
        """The guarded expression under the name the direct one had (``n``, ``to_date__d__``), not its SQL."""
        name = direct.alias_or_name
        return Column(guarded).alias(name) if name else Column(guarded)

    Column.cast = cast  # type: ignore[method-assign]
    for module in (base_functions, duckdb_functions):
        module.to_date = to_date  # type: ignore[assignment]
