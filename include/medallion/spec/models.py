"""The pipeline spec (v1): what a data engineer writes in one YAML file.

Every model forbids unknown keys so that a typo is an error with a "did you mean", not a
silently ignored setting. ``medallion schema`` exports these models as JSON Schema.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from medallion.spec.base import ColumnName, Identifier, StrictModel
from medallion.spec.notebook_tests import NotebookTestCase
from medallion.spec.paths import LakePrefix, NoParentPath, RepoPath
from medallion.spec.quality import (  # noqa: F401  (quality suites live in spec/quality.py; old import path)
    QUARANTINABLE,
    Expectation,
    ExpectationType,
    FreshnessCheck,
    Quality,
    Severity,
    TableCheck,
    VolumeCheck,
)
from medallion.spec.sources import Source

# the source kinds' models live in spec/sources (one module per kind); their old import path still works
from medallion.spec.sources.file import CsvOptions, FileSource  # noqa: F401
from medallion.spec.sources.http import HttpSource, Pagination  # noqa: F401
from medallion.spec.sources.sql import Incremental, SqlSource  # noqa: F401

TableName = Annotated[str, Field(pattern=r"^(bronze|silver|gold)\.[a-z][a-z0-9_]*$")]


SCHEDULE_PRESETS = {"@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly"}


class Owner(StrictModel):
    """A person or team accountable for the data product; alerts mention them."""

    name: str
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    slack: str | None = Field(None, description="Slack member id (U…) or @handle to mention in alerts")


class AlertRouting(StrictModel):
    """Where failures of this pipeline are sent."""

    slack_channel: str | None = Field(None, description="Channel for alerts, e.g. #sales-data-alerts")
    emails: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = []
    runbook: str | None = Field(
        None, description="URL of this pipeline's own runbook; by default alerts link to docs/runbook.md (docs_url)"
    )
    docs_url: str | None = Field(
        None,
        description="Org setting: where this project's files can be read in a browser, e.g. "
        "https://github.com/acme/pipelines/blob/main; alerts link to <docs_url>/docs/runbook.md#<class>. "
        "`medallion validate` warns while it is unset or the shipped placeholder",
    )
    hints: dict[str, str] = Field({}, description="Override catalog hints by failure class, e.g. empty_extract")
    dedup_minutes: Annotated[int, Field(ge=0)] = Field(
        60, description="Do not repeat the same alert within this window"
    )
    pagerduty_conn_id: str | None = Field(
        None,
        description="Airflow connection (type pagerduty_events) whose password is the PagerDuty Events API v2 "
        "routing key. Critical failures of a tier 1 pipeline page through it (one incident per pipeline and "
        "layer), resolved when a later run of that layer succeeds",
    )


class Bronze(StrictModel):
    sources: Annotated[list[Source], Field(min_length=1)]
    compression: Literal["zstd", "snappy"] = "zstd"

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[Any]) -> list[Any]:
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
    path: RepoPath = Field(description="Repository path of the notebook source file, e.g. include/notebooks/x.py")
    parameters: dict[str, str] = Field({}, description="Widgets passed to the notebook")
    outputs: Annotated[list[TableName], Field(min_length=1)]
    depends_on: list[Identifier] = []
    tests: list[NotebookTestCase] = Field(
        [], description="unit tests of the notebook (given inputs, widgets, expected rows); they run before silver"
    )
    tests_file: RepoPath | None = Field(
        None, description="repository path of a YAML file with more cases (`tests: [...]`), next to the notebook"
    )


GitProvider = Literal[
    "gitHub",
    "gitHubEnterprise",
    "bitbucketCloud",
    "bitbucketServer",
    "gitLab",
    "gitLabEnterpriseEdition",
    "azureDevOpsServices",
    "awsCodeCommit",
]


class GitSource(StrictModel):
    """The repository Databricks checks the notebooks out from (the job's ``git_source``).

    Pin a tag or a commit in production so a run executes the reviewed code; a branch follows
    whatever was pushed last.
    """

    url: str = Field(description="e.g. https://github.com/acme/data-pipelines")
    provider: GitProvider = "gitHub"
    branch: str | None = None
    tag: str | None = None
    commit: str | None = None

    @model_validator(mode="after")
    def _one_reference(self) -> GitSource:
        refs = [k for k in ("branch", "tag", "commit") if getattr(self, k)]
        if len(refs) != 1:
            raise ValueError("set exactly one of branch, tag or commit (a tag or commit pins what runs)")
        return self

    def job_field(self) -> dict[str, str]:
        """As the Jobs API expects it."""
        ref = next((k, v) for k in ("branch", "tag", "commit") if (v := getattr(self, k)))
        return {"git_url": self.url, "git_provider": self.provider, f"git_{ref[0]}": ref[1]}


class Silver(StrictModel):
    notebooks: Annotated[list[Notebook], Field(min_length=1)]
    compute: Compute = Compute()
    source: Literal["WORKSPACE", "GIT"] = Field(
        "WORKSPACE",
        description="WORKSPACE: notebooks deployed under workspace_root; GIT: checked out from git_source per run",
    )
    git_source: GitSource | None = Field(None, description="Required with source: GIT")
    workspace_root: NoParentPath = Field("/Workspace/medallion", description="Where the repository is deployed")
    polling_seconds: Annotated[int, Field(ge=1, le=300)] = 5
    timeout_minutes: Annotated[int, Field(ge=1)] = 120
    test_compute: Literal["job_cluster", "serverless"] = Field(
        "job_cluster",
        description="where silver_preflight runs the notebook unit tests: a one-time run on a small single-node "
        "job cluster (compute's spark_version and node type), or serverless",
    )
    test_scratch_root: str | None = Field(
        None,
        description="folder for the tests' bronze fixtures on Databricks, readable by the driver and Spark, "
        "e.g. /Volumes/main/scratch/medallion; default a temporary folder on the driver",
    )

    @model_validator(mode="after")
    def _dependencies_exist(self) -> Silver:
        if self.source == "GIT" and self.git_source is None:
            raise ValueError("source: GIT needs git_source (url and a branch, tag or commit)")
        if self.source == "WORKSPACE" and self.git_source is not None:
            raise ValueError("git_source is only used with source: GIT; set source: GIT or remove git_source")
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
    project_dir: NoParentPath = "dbt_project"


class ContractColumn(StrictModel):
    """One column of the data product's contract."""

    name: Identifier
    type: str = Field(description="SQL type, e.g. bigint, decimal(12,2), date, string")
    nullable: bool = True
    pii: bool = Field(False, description="personal data: redacted in alert samples and reports")
    description: str | None = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        """The gate compares this type with the table's (README: Contracts), so it must be one it knows."""
        from medallion.spec.sqltypes import declared_type

        declared_type(value)
        return value


#: Unity Catalog table privileges a spec may grant (README: Catalog, access policies as code).
Privilege = Literal["SELECT", "MODIFY", "APPLY TAG", "MANAGE", "ALL PRIVILEGES"]
#: A group (Unity Catalog principal) as written in ``GRANT … TO `group```: letters, digits, ``_ . - @ +`` and spaces.
GroupName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@+ -]{0,127}$")]
Grants = dict[GroupName, list[Annotated[Privilege, BeforeValidator(lambda v: v.upper() if isinstance(v, str) else v)]]]


class Contract(StrictModel):
    """What consumers may rely on for one published table."""

    table: Annotated[str, Field(pattern=r"^(silver|gold)\.[a-z][a-z0-9_]*$")] = Field(
        description="the published table, e.g. silver.orders or gold.daily_revenue"
    )
    columns: Annotated[list[ContractColumn], Field(min_length=1)]
    primary_key: list[ColumnName] = []
    freshness_column: ColumnName | None = Field(
        None,
        description="timestamp column whose newest value must be within the pipeline's freshness_sla_hours "
        "of the run's data interval end (a warning; set `freshness:` on the suite to tune it)",
    )
    grants: Grants = Field(
        {},
        description="group → privileges on this table, over the pipeline's `grants` (a group listed with [] "
        "gets none); applied at publish on Databricks (GRANT/REVOKE), recorded locally",
    )

    @model_validator(mode="after")
    def _keys_are_columns(self) -> Contract:
        names = [c.name for c in self.columns]
        _ensure_unique(names, "contract column")
        missing = [k for k in self.primary_key if k not in names]
        if missing:
            raise ValueError(f"primary_key columns {missing} are not contract columns of {self.table}")
        if self.freshness_column and self.freshness_column not in names:
            raise ValueError(f"freshness_column {self.freshness_column!r} is not a contract column of {self.table}")
        return self


AssetRef = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*\.(bronze|silver|gold)$")]


class MergeRule(StrictModel):
    """Incremental publish of one table: the newest version of each key wins, in any date order."""

    table: Annotated[str, Field(pattern=r"^(silver|gold)\.[a-z][a-z0-9_]*$")]
    key: Annotated[list[Identifier], Field(min_length=1)]
    version: Identifier = Field(description="column that orders the versions of a key, e.g. updated_at")


class Load(StrictModel):
    """How a run's audited outputs replace the published tables (README: Load semantics)."""

    semantics: Literal["snapshot", "incremental"] = Field(
        "snapshot",
        description="snapshot: each run rebuilds whole tables and the latest logical date wins (an older run "
        "does not publish unless triggered with the backfill param); incremental: tables in `merge` are merged "
        "by key and version column, so any date order converges (the others are replaced)",
    )
    merge: list[MergeRule] = []

    @model_validator(mode="after")
    def _merge_needs_incremental(self) -> Load:
        if self.merge and self.semantics != "incremental":
            raise ValueError("load.merge applies to semantics: incremental only")
        tables = [m.table for m in self.merge]
        if len(set(tables)) != len(tables):
            raise ValueError(f"load.merge names a table twice: {sorted(t for t in set(tables) if tables.count(t) > 1)}")
        return self


class Lake(StrictModel):
    bucket: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    prefix: LakePrefix = ""


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
    grants: Grants = Field(
        {},
        description="group → privileges (SELECT, MODIFY, APPLY TAG, MANAGE, ALL PRIVILEGES) on every "
        "table the pipeline publishes; org/domain defaults in defaults.yaml; a contract's `grants` override per group",
    )
    alerts: AlertRouting = AlertRouting()
    lake: Lake
    defaults: TaskDefaults = TaskDefaults()
    load: Load = Load()
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
        for rule in self.load.merge:
            if rule.table.startswith("silver.") and rule.table not in outputs:
                raise ValueError(f"load.merge table {rule.table!r} is not a notebook output {sorted(outputs)}")
        for layer in ("bronze", "gold"):
            for check in getattr(self.quality, layer):
                if any(e.quarantine for e in check.expectations):
                    raise ValueError(
                        f"quality.{layer} {check.table}: quarantine works on silver only (rows are set aside "
                        "before the silver tables are published); use severity: warning here"
                    )
        return self

    @model_validator(mode="after")
    def _freshness_has_an_age(self) -> PipelineSpec:
        checks = [*self.quality.bronze, *self.quality.silver, *self.quality.gold]
        if self.freshness_sla_hours is None:
            if any(c.freshness and c.freshness.max_age_hours is None for c in checks):
                raise ValueError("a freshness check needs max_age_hours, or freshness_sla_hours on the pipeline")
            if any(c.freshness_column for c in self.contracts):
                raise ValueError("a contract's freshness_column needs freshness_sla_hours on the pipeline")
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

    def grants_for(self, table: str) -> dict[str, tuple[str, ...]]:
        """The privileges each group holds on a published table: the pipeline's grants, then its contract's."""
        merged = dict(self.grants) | next((dict(c.grants) for c in self.contracts if c.table == table), {})
        return {group: tuple(dict.fromkeys(privs)) for group, privs in sorted(merged.items()) if privs}


def _ensure_unique(names: list[str], what: str) -> None:
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"duplicate {what}: {', '.join(dupes)}")
