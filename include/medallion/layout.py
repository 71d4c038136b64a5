"""Where each layer's data lives: one function per location so paths never drift apart."""

from __future__ import annotations

from medallion.spec.models import PipelineSpec


def lake_prefix(spec: PipelineSpec) -> str:
    return f"{spec.lake.prefix.strip('/')}/" if spec.lake.prefix.strip("/") else ""


def bronze_partition_key(spec: PipelineSpec, dataset: str, ds: str) -> str:
    """``bronze/<domain>/<dataset>/ds=<date>/`` (S3 key prefix, trailing slash)."""
    return f"{lake_prefix(spec)}bronze/{spec.domain}/{dataset}/ds={ds}/"


def bronze_root_uri(spec: PipelineSpec) -> str:
    """``s3://<bucket>/bronze/<domain>`` — notebooks add ``/<dataset>/ds=<date>``."""
    return f"s3://{spec.lake.bucket}/{lake_prefix(spec)}bronze/{spec.domain}"


def quality_report_key(spec: PipelineSpec, layer: str, ds: str, table: str, ext: str) -> str:
    return f"{lake_prefix(spec)}quality/{spec.domain}/{spec.id}/{layer}/ds={ds}/{table}.{ext}"


MANIFEST_NAME = "_manifest.json"


def asset_uri(pipeline_id: str, layer: str) -> str:
    """The Airflow Asset a layer publishes when its gate passes (consumers name it the same way)."""
    return f"medallion://{pipeline_id}/{layer}"


STAGING_SCHEMA = "staging"


def staging_table(spec: PipelineSpec, table: str) -> str:
    """Where a notebook writes ``silver.x`` before its gate passes (write → audit → publish)."""
    return f"{STAGING_SCHEMA}.{spec.id}__{table.split('.', 1)[1]}"


QUARANTINE_SCHEMA = "quarantine"


def quarantine_table(spec: PipelineSpec, table: str) -> str:
    """Where the silver gate sets aside rows that broke a ``quarantine: true`` rule."""
    return f"{QUARANTINE_SCHEMA}.{spec.id}__{table.split('.', 1)[1]}"


def gold_staging_schema(spec: PipelineSpec, ds_nodash: str) -> str:
    """The schema where one run's dbt models are built, tested and gated before the gold publish.

    One schema per pipeline and logical date: two runs of a pipeline never build into each other's
    tables, and a rejected run's tables stay there, under a name that says which run, for inspection.
    ``ds_nodash`` may be Airflow's ``{{ ds_nodash }}`` template.
    """
    return f"{STAGING_SCHEMA}_{spec.id}_{ds_nodash}"


OPS_SCHEMA = "ops"
PUBLISHED_VERSIONS = f"{OPS_SCHEMA}.published_versions"
#: What each published table's grants were set to at publish (spec ``grants``; README: Catalog).
TABLE_GRANTS = f"{OPS_SCHEMA}.table_grants"
