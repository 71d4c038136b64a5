"""Quality gate suites of a spec: expectations, volume and freshness checks per layer."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from medallion.spec.base import ColumnName, Identifier, StrictModel


class Severity(StrEnum):
    critical = "critical"
    warning = "warning"


ExpectationType = Literal[
    "expect_column_to_exist",
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_unique",
    "expect_compound_columns_to_be_unique",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_be_between",
    "expect_column_values_to_match_regex",
    "expect_table_row_count_to_be_between",
    "expect_column_min_to_be_between",
    "expect_column_max_to_be_between",
    "expect_column_sum_to_be_between",
    "expect_column_mean_to_be_between",
]

QUARANTINABLE = frozenset(
    {
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_unique",
        "expect_compound_columns_to_be_unique",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_be_between",
        "expect_column_values_to_match_regex",
    }
)


class Expectation(StrictModel):
    """One Great Expectations expectation plus what GE itself does not carry: severity and hint."""

    type: ExpectationType
    name: Identifier | None = Field(
        None, description="Rule name recorded with quarantined rows (default: the type's short name and column)"
    )
    column: ColumnName | None = None
    column_list: list[ColumnName] | None = None
    value_set: list[Any] | None = Field(None, description="Items may be run parameters, e.g. '{{ ds }}'")
    min_value: float | int | str | None = Field(
        None, description="May be a run parameter rendered by the gate task: '{{ ds }}', '{{ data_interval_start }}'"
    )
    max_value: float | int | str | None = Field(None, description="May be a run parameter, e.g. '{{ ds }}'")
    regex: str | None = None
    mostly: Annotated[float, Field(gt=0, le=1)] | None = None
    severity: Severity = Severity.critical
    quarantine: bool = Field(
        False,
        description="silver only, row-level expectations: instead of failing the gate, rows that break this "
        "rule are moved to quarantine.<pipeline>__<table> (with the rule names, run id and logical date) "
        "and the remaining rows are validated and published; counts are reported and a warning alert "
        "is sent. Like dbt's `where` + Delta Live Tables' expect_or_drop, but the rows are kept for review.",
    )
    hint: str | None = Field(None, description="What on-call should do when this fails")
    runbook: str | None = None

    @model_validator(mode="after")
    def _needs_column(self) -> Expectation:
        table_level = {"expect_table_row_count_to_be_between", "expect_compound_columns_to_be_unique"}
        if self.type not in table_level and not self.column:
            raise ValueError(f"{self.type} needs 'column'")
        if self.type == "expect_compound_columns_to_be_unique" and not self.column_list:
            raise ValueError("expect_compound_columns_to_be_unique needs 'column_list'")
        if self.quarantine and self.type not in QUARANTINABLE:
            raise ValueError(
                f"{self.type} checks the table as a whole, so no row can be quarantined; "
                f"quarantine works with: {', '.join(sorted(QUARANTINABLE))}"
            )
        if self.quarantine and self.mostly is not None:
            raise ValueError("a quarantine rule moves every failing row out, so 'mostly' does not apply; remove it")
        return self

    @field_validator("min_value", "max_value", "value_set")
    @classmethod
    def _known_run_parameters(cls, value: Any) -> Any:
        from medallion.spec.templates import is_template, template_problem

        for item in value if isinstance(value, list) else [value]:
            problem = template_problem(item) if is_template(item) else None
            if problem:
                raise ValueError(problem)
        return value

    def ge_kwargs(self) -> dict[str, Any]:
        """Arguments for the GE expectation class (our field names are GE's)."""
        names = ("column", "column_list", "value_set", "min_value", "max_value", "regex", "mostly")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


class VolumeCheck(StrictModel):
    """Row count compared with the average of the last successful runs of the same gate."""

    lookback_runs: Annotated[int, Field(ge=1, le=60)] = 7
    min_history: Annotated[int, Field(ge=1)] = 3
    tolerance: Annotated[float, Field(gt=0)] = Field(0.5, description="allowed deviation from the average (0.5 = ±50%)")
    severity: Severity = Severity.warning


class FreshnessCheck(StrictModel):
    """The newest value of a timestamp column must be recent: max(column) >= reference - max_age_hours."""

    column: ColumnName = Field(description="a timestamp column (naive UTC), e.g. updated_at")
    max_age_hours: Annotated[float, Field(gt=0)] | None = Field(
        None, description="default: the pipeline's freshness_sla_hours"
    )
    reference: Literal["data_interval_end", "now"] = Field(
        "data_interval_end",
        description="measure age from the end of the run's data interval (reproducible for backfills) or from now",
    )
    severity: Severity = Severity.warning


class TableCheck(StrictModel):
    """A suite: the expectations one dataset (bronze) or table (silver/gold) must meet."""

    table: str = Field(description="bronze: a source name; silver/gold: schema.table, e.g. silver.orders")
    expectations: list[Expectation] = []
    volume: VolumeCheck | None = None
    freshness: FreshnessCheck | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> TableCheck:
        if not self.expectations and self.volume is None and self.freshness is None:
            raise ValueError(f"the suite of {self.table} needs expectations, a volume or a freshness check")
        return self


class Quality(StrictModel):
    """Quality gate suites per layer; a layer's gate runs after the layer is built."""

    bronze: list[TableCheck] = []
    silver: list[TableCheck] = []
    gold: list[TableCheck] = []
