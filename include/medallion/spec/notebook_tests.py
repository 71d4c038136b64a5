"""Notebook unit tests in the spec: ``given`` inputs, widgets and ``expect``-ed output rows per case.

Like dbt unit tests, a case names its inputs (rows per bronze source or table, inline or in a small
CSV/JSON file next to the notebook), the widgets the notebook gets (``ds`` …) and the rows each
output table must hold. The cases live under ``silver.notebooks[].tests`` or in the YAML file a
notebook's ``tests_file`` names. This module holds the models; :mod:`medallion.spec.notebook_cases`
resolves them (files read, types known) for the runner, the preflight and ``validate``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, model_validator

from medallion.spec.base import ColumnName, Identifier, StrictModel
from medallion.spec.paths import NoParentPath
from medallion.spec.sqltypes import declared_type

TableName = Annotated[str, Field(pattern=r"^(bronze|silver|gold|staging)\.[a-z][a-z0-9_]*$")]
DEFAULT_WIDGETS = {"ds": "2026-01-01"}


class Rows(StrictModel):
    """Rows written inline (a list of mappings) or read from a small CSV / JSON file."""

    rows: list[dict[ColumnName, Any]] | None = Field(None, description="rows as mappings column → value")
    file: NoParentPath | None = Field(
        None,
        description="a .csv (header row, empty cell = null) or .json (a list of objects) file, relative to the "
        "notebook's folder",
    )
    columns: dict[ColumnName, str] = Field(
        {},
        description="SQL types of columns (e.g. unit_price: decimal(12,2)); defaults: the output's contract, "
        "else what the values are (CSV cells are strings)",
    )

    @model_validator(mode="after")
    def _one_origin(self) -> Rows:
        if (self.rows is None) == (self.file is None):
            raise ValueError("give the rows inline (`rows:`) or in a file (`file:`), exactly one of them")
        if self.file is not None and Path(self.file).suffix.lower() not in {".csv", ".json"}:
            raise ValueError(f"fixture file {self.file!r} must be .csv or .json")
        for name, sql_type in self.columns.items():
            try:
                declared_type(sql_type)
            except ValueError as exc:
                raise ValueError(f"columns.{name}: {exc}") from None
        return self


class Given(Rows):
    """One input of the notebook: a bronze source (its committed partition) or a table it reads."""

    source: Identifier | None = Field(None, description="bronze source name: written as a committed partition")
    table: TableName | None = Field(None, description="a table the notebook reads with spark.table")

    @model_validator(mode="after")
    def _one_target(self) -> Given:
        if (self.source is None) == (self.table is None):
            raise ValueError("a given input names exactly one of `source:` (bronze) or `table:`")
        return self


class Expect(Rows):
    """Rows an output table must hold: order ignored, types checked, only the listed columns compared."""

    table: TableName = Field(description="an output of the notebook, e.g. silver.orders")
    compare: list[ColumnName] | None = Field(
        None, description="columns compared (default: every column the expected rows name)"
    )


class NotebookTestCase(StrictModel):
    """One case: inputs, widgets, expected outputs."""

    name: Identifier
    description: str | None = None
    widgets: dict[str, str] = Field({}, description=f"widget values; ds defaults to {DEFAULT_WIDGETS['ds']}")
    given: list[Given] = []
    expect: Annotated[list[Expect], Field(min_length=1)]


class TestsFile(StrictModel):
    """A notebook's tests file (``tests_file:``): the same cases as ``tests:``."""

    tests: Annotated[list[NotebookTestCase], Field(min_length=1)]
