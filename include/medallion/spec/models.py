"""The pipeline spec (v1): what a data engineer writes in one YAML file.

Every model forbids unknown keys so that a typo is an error with a "did you mean", not a
silently ignored setting. ``medallion schema`` exports these models as JSON Schema.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
TableName = Annotated[str, Field(pattern=r"^(bronze|silver|gold)\.[a-z][a-z0-9_]*$")]


SCHEDULE_PRESETS = {"@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly"}


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Severity(StrEnum):
    critical = "critical"
    warning = "warning"


class Owner(StrictModel):
    """A person or team accountable for the data product; alerts mention them."""

    name: str
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    slack: str | None = Field(None, description="Slack member id (U…) or @handle to mention in alerts")


class AlertRouting(StrictModel):
    """Where failures of this pipeline are sent."""

    slack_channel: str | None = Field(None, description="Channel for alerts, e.g. #sales-data-alerts")
    emails: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = []
    runbook: str | None = Field(None, description="URL of the pipeline's runbook")
    hints: dict[str, str] = Field({}, description="Override catalog hints by failure class, e.g. empty_extract")
    dedup_minutes: Annotated[int, Field(ge=0)] = Field(
        60, description="Do not repeat the same alert within this window"
    )


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


class Expectation(StrictModel):
    """One Great Expectations expectation plus what GE itself does not carry: severity and hint."""

    type: ExpectationType
    column: str | None = None
    column_list: list[str] | None = None
    value_set: list[Any] | None = None
    min_value: float | int | str | None = None
    max_value: float | int | str | None = None
    regex: str | None = None
    mostly: Annotated[float, Field(gt=0, le=1)] | None = None
    severity: Severity = Severity.critical
    hint: str | None = Field(None, description="What on-call should do when this fails")
    runbook: str | None = None

    @model_validator(mode="after")
    def _needs_column(self) -> Expectation:
        table_level = {"expect_table_row_count_to_be_between", "expect_compound_columns_to_be_unique"}
        if self.type not in table_level and not self.column:
            raise ValueError(f"{self.type} needs 'column'")
        if self.type == "expect_compound_columns_to_be_unique" and not self.column_list:
            raise ValueError("expect_compound_columns_to_be_unique needs 'column_list'")
        return self

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


class TableCheck(StrictModel):
    """A suite: the expectations one dataset (bronze) or table (silver/gold) must meet."""

    table: str = Field(description="bronze: a source name; silver/gold: schema.table, e.g. silver.orders")
    expectations: list[Expectation] = []
    volume: VolumeCheck | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> TableCheck:
        if not self.expectations and self.volume is None:
            raise ValueError(f"the suite of {self.table} needs expectations or a volume check")
        return self


class Quality(StrictModel):
    """Quality gate suites per layer; a layer's gate runs after the layer is built."""

    bronze: list[TableCheck] = []
    silver: list[TableCheck] = []
    gold: list[TableCheck] = []


class Incremental(StrictModel):
    """Extract only rows newer than the last committed extract's high watermark."""

    column: Identifier = Field(description="monotonic column, e.g. updated_at or an id")
    initial: str | int | float = Field("1970-01-01", description="watermark of the very first run (and after a reset)")


class SqlSource(StrictModel):
    """Rows from a query on an Airflow SQL connection (credentials live in the connection)."""

    kind: Literal["sql"]
    name: Identifier
    conn_id: str
    query: str = Field(description="SELECT statement; Jinja templates such as {{ ds }} are rendered")
    on_empty: Literal["fail", "warn", "allow"] = "fail"
    incremental: Incremental | None = None
    batch_rows: Annotated[int, Field(ge=1000, le=1_000_000)] = 100_000
    engine: Literal["auto", "dbapi"] = Field(
        "auto",
        description="auto: an Arrow-native engine where the connection type has one (PostgreSQL: DuckDB's "
        "postgres scanner), else DB-API cursors; dbapi: always stream through the hook's DB-API cursor",
    )


class Pagination(StrictModel):
    """How an API splits its results; stops on a short page, an empty cursor or no next link."""

    type: Literal["page", "offset", "cursor", "next_link"]
    page_size: Annotated[int, Field(ge=1, le=100_000)] = 100
    page_param: str = "page"
    size_param: str = "per_page"
    offset_param: str = "offset"
    cursor_param: str = "cursor"
    cursor_path: str = Field("next_cursor", description="where the next cursor is in the JSON body")
    next_path: str | None = Field(None, description="where the next URL is in the body (default: Link header)")
    max_pages: Annotated[int, Field(ge=1)] = 10_000


class HttpSource(StrictModel):
    """Records from a REST/JSON API on an Airflow HTTP connection (auth lives in the connection)."""

    kind: Literal["http"]
    name: Identifier
    conn_id: str
    endpoint: str = Field(description="path under the connection's base URL; Jinja such as {{ ds }} is rendered")
    params: dict[str, str] = {}
    records_path: str = Field("", description="dotted path to the list of records in the body ('' = the body)")
    pagination: Pagination | None = None
    on_empty: Literal["fail", "warn", "allow"] = "fail"


Source = Annotated[SqlSource | HttpSource, Field(discriminator="kind")]


class Bronze(StrictModel):
    sources: Annotated[list[Source], Field(min_length=1)]
    compression: Literal["zstd", "snappy"] = "zstd"

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[SqlSource | HttpSource]) -> list[SqlSource | HttpSource]:
        _ensure_unique([s.name for s in sources], "source name")
        return sources


class Autoscale(StrictModel):
    min_workers: Annotated[int, Field(ge=0)]
    max_workers: Annotated[int, Field(ge=1)]


class Compute(StrictModel):
    """The one job cluster every notebook of a run shares (or an existing cluster)."""

    spark_version: str = "15.4.x-scala2.12"
    node_type_id: str = "i3.xlarge"
    num_workers: Annotated[int, Field(ge=0)] | None = 1
    autoscale: Autoscale | None = None
    policy_id: str | None = None
    existing_cluster_id: str | None = None
    spark_conf: dict[str, str] = {}


class Notebook(StrictModel):
    """A Databricks notebook (source .py file in this repository) producing silver tables."""

    name: Identifier
    path: str = Field(description="Repository path of the notebook source file, e.g. include/notebooks/x.py")
    parameters: dict[str, str] = Field({}, description="Widgets passed to the notebook")
    outputs: Annotated[list[TableName], Field(min_length=1)]
    depends_on: list[Identifier] = []


class Silver(StrictModel):
    notebooks: Annotated[list[Notebook], Field(min_length=1)]
    compute: Compute = Compute()
    source: Literal["WORKSPACE", "GIT"] = "WORKSPACE"
    workspace_root: str = Field("/Workspace/medallion", description="Where the repository is deployed")
    polling_seconds: Annotated[int, Field(ge=1, le=300)] = 5
    timeout_minutes: Annotated[int, Field(ge=1)] = 120

    @model_validator(mode="after")
    def _dependencies_exist(self) -> Silver:
        names = [n.name for n in self.notebooks]
        _ensure_unique(names, "notebook name")
        for nb in self.notebooks:
            for dep in nb.depends_on:
                if dep not in names:
                    raise ValueError(f"notebook {nb.name!r} depends on unknown notebook {dep!r}")
        return self


class Gold(StrictModel):
    """dbt models built by astronomer-cosmos; ``select`` uses dbt's selector syntax."""

    select: Annotated[list[str], Field(min_length=1)]
    exclude: list[str] = []
    project_dir: str = "dbt_project"


class ContractColumn(StrictModel):
    """One column of the data product's contract."""

    name: Identifier
    type: str = Field(description="SQL type, e.g. bigint, decimal(12,2), date, string")
    nullable: bool = True
    pii: bool = Field(False, description="personal data: redacted in alert samples and reports")
    description: str | None = None


class Contract(StrictModel):
    """What consumers may rely on for one published table."""

    table: Annotated[str, Field(pattern=r"^(silver|gold)\.[a-z][a-z0-9_]*$")] = Field(
        description="the published table, e.g. silver.orders or gold.daily_revenue"
    )
    columns: Annotated[list[ContractColumn], Field(min_length=1)]
    primary_key: list[str] = []

    @model_validator(mode="after")
    def _keys_are_columns(self) -> Contract:
        names = [c.name for c in self.columns]
        _ensure_unique(names, "contract column")
        missing = [k for k in self.primary_key if k not in names]
        if missing:
            raise ValueError(f"primary_key columns {missing} are not contract columns of {self.table}")
        return self


AssetRef = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*\.(bronze|silver|gold)$")]


class Lake(StrictModel):
    bucket: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    prefix: str = ""


class TaskDefaults(StrictModel):
    """Airflow retry policy for infrastructure failures (bad data is never retried)."""

    retries: Annotated[int, Field(ge=0, le=10)] = 2
    retry_delay_minutes: Annotated[float, Field(ge=0)] = 5
    execution_timeout_minutes: Annotated[int, Field(ge=1)] | None = 120
    lakehouse_pool: str | None = Field(
        None, description="Airflow pool for tasks that write or read the lakehouse (1 slot locally: DuckDB)"
    )


class PipelineSpec(StrictModel):
    """One pipeline: bronze sources → silver notebooks → gold dbt models, gated by GE suites."""

    id: Identifier
    domain: Identifier
    description: str
    owners: Annotated[list[Owner], Field(min_length=1)]
    schedule: str | None = Field("@daily", description="Cron expression, preset like @daily, or null")
    start_date: dt.date
    catchup: bool = False
    tags: list[str] = []
    tier: Literal["gold", "silver", "bronze"] | int | None = Field(
        None, description="Criticality of the data product (e.g. 1 = business critical)"
    )
    freshness_sla_hours: Annotated[float, Field(gt=0)] | None = Field(
        None, description="Data must be at most this old when consumers read it"
    )
    triggers: list[AssetRef] = Field(
        [],
        description="Run when all these layers of other pipelines are published, e.g. sales_orders.gold "
        "(the time schedule is then not used)",
    )
    contracts: list[Contract] = []
    alerts: AlertRouting = AlertRouting()
    lake: Lake
    defaults: TaskDefaults = TaskDefaults()
    bronze: Bronze | None = None
    silver: Silver | None = None
    gold: Gold | None = None
    quality: Quality = Quality()

    @model_validator(mode="after")
    def _gates_name_real_tables(self) -> PipelineSpec:
        if not (self.bronze or self.silver or self.gold):
            raise ValueError("a pipeline needs at least one layer: bronze, silver or gold")
        sources = {s.name for s in self.bronze.sources} if self.bronze else set()
        outputs = {t for nb in (self.silver.notebooks if self.silver else []) for t in nb.outputs}
        for check in self.quality.bronze:
            if check.table not in sources:
                raise ValueError(f"quality.bronze table {check.table!r} is not a bronze source {sorted(sources)}")
        for check in self.quality.silver:
            if check.table not in outputs:
                raise ValueError(f"quality.silver table {check.table!r} is not a notebook output {sorted(outputs)}")
        if self.quality.gold and not self.gold:
            raise ValueError("quality.gold needs a gold section")
        return self

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str | None) -> str | None:
        if value is None or value in SCHEDULE_PRESETS:
            return value
        from croniter import croniter

        if not croniter.is_valid(value):
            raise ValueError(
                f"{value!r} is not a valid cron expression or preset ({', '.join(sorted(SCHEDULE_PRESETS))})"
            )
        return value

    @property
    def dag_id(self) -> str:
        return self.id


def _ensure_unique(names: list[str], what: str) -> None:
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"duplicate {what}: {', '.join(dupes)}")
