"""Build the gold task group with astronomer-cosmos from the prebuilt dbt manifest.

``LoadMode.DBT_MANIFEST`` reads ``target/manifest.json`` (built by ``dbt parse`` at image or
CI build time), so DAG parsing never runs dbt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medallion import connections, paths
from medallion.spec.models import PipelineSpec

DBT_PROFILE = "medallion"
DBT_TARGET = "lakehouse"
#: cosmos's per-model assets are named after the dbt profile (``duckdb:///<local file path>/…``),
#: which Airflow 3 rejects as OpenLineage URIs (a warning per model run) and which differ per
#: machine; each layer's gate publishes the pipeline's own asset (``medallion://…``) instead.
EMIT_DBT_ASSETS = False


def manifest_path(project_dir: Path) -> Path:
    return project_dir / "target" / "manifest.json"


def dbt_vars(spec: PipelineSpec, selection: Any = None) -> dict[str, Any]:
    """Vars of every dbt command of the pipeline; the staging pair routes its models (write → audit → publish).

    ``medallion_models`` (cosmos's selection) are built in the run's ``medallion_staging_schema``;
    refs to any other model resolve to published gold (``macros/generate_schema_name.sql``).
    """
    from medallion import layout
    from medallion.gold.selection import spec_selection

    selection = selection or spec_selection(spec)
    return {
        "ds": "{{ ds }}",
        "pipeline": spec.id,
        "medallion_staging_schema": layout.gold_staging_schema(spec, "{{ ds_nodash }}"),
        "medallion_models": [m.name for m in (selection.models if selection else ())],
    }


def profile_config() -> Any:
    """The runtime profile every dbt command of a pipeline uses (from the ``lakehouse`` connection)."""
    from cosmos import ProfileConfig

    from medallion.gold.profile import LakehouseProfileMapping

    return ProfileConfig(
        profile_name=DBT_PROFILE,
        target_name=DBT_TARGET,
        profile_mapping=LakehouseProfileMapping(connections.LAKEHOUSE_SQL),
    )


def build_gold_group(spec: PipelineSpec, pool: str | None = None, on_warning: Any = None, selection: Any = None) -> Any:
    """Create the ``gold`` DbtTaskGroup in the current DAG context and return it.

    Every dbt task keeps its node outcomes for the alert (``remember_outcomes``, cosmos's
    post-command ``callback``) and warn-severity tests that found rows send a warning alert
    (cosmos's ``on_warning_callback``: ``on_warning``, passed in by the DAG builder). A model's
    test task also re-runs its unit tests (dbt selects them with the model; they are cheap
    fixtures). They are not excluded through
    ``DBT_EXCLUDE_RESOURCE_TYPES``: cosmos copies a task's env into ``os.environ`` for OpenLineage,
    so in one process (``dag.test``, the demo) it would leak into the preflight and empty it.
    """
    from cosmos import DbtTaskGroup, ExecutionConfig, ProjectConfig, RenderConfig
    from cosmos.constants import InvocationMode, LoadMode, TestBehavior

    from medallion.gold.results import remember_outcomes

    gold = spec.gold
    assert gold is not None
    project_dir = paths.resolve(gold.project_dir)
    operator_args: dict[str, Any] = {"install_deps": False, "callback": remember_outcomes}
    if pool:
        operator_args["pool"] = pool
    return DbtTaskGroup(
        group_id="gold",
        project_config=ProjectConfig(
            dbt_project_path=project_dir,
            manifest_path=manifest_path(project_dir),
            dbt_vars=dbt_vars(spec, selection),
        ),
        profile_config=profile_config(),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            select=list(gold.select),
            exclude=list(gold.exclude),
            test_behavior=TestBehavior.AFTER_EACH,
            emit_datasets=EMIT_DBT_ASSETS,
        ),
        execution_config=ExecutionConfig(invocation_mode=InvocationMode.DBT_RUNNER),
        operator_args=operator_args,
        on_warning_callback=on_warning,
        tooltip="dbt models and tests (astronomer-cosmos)",
    )


def unit_test_selection(select: list[str]) -> list[str]:
    """The pipeline's selection narrowed to dbt unit tests (``test_type:unit,<selector>`` each)."""
    return [f"test_type:unit,{s}" for s in select] or ["test_type:unit"]


def build_gold_preflight(spec: PipelineSpec, pool: str | None = None, selection: Any = None) -> Any:
    """``gold_preflight``: the pipeline's dbt unit tests, before any gold table is written.

    It runs after the silver gate, not at the start of the run: dbt unit tests read the column
    types of the models' inputs from the warehouse, and those inputs are the silver tables this
    run publishes (on a new lakehouse they exist only then). A failure raises, so the gold group
    (downstream) never starts; the alert carries the failing test and its diff.
    """
    from cosmos.constants import InvocationMode
    from cosmos.operators.local import DbtTestLocalOperator

    from medallion.gold.results import remember_outcomes

    gold = spec.gold
    assert gold is not None
    project_dir = paths.resolve(gold.project_dir)
    return DbtTestLocalOperator(
        task_id="gold_preflight",
        project_dir=str(project_dir),
        manifest_filepath=str(manifest_path(project_dir)),
        profile_config=profile_config(),
        invocation_mode=InvocationMode.DBT_RUNNER,
        install_deps=False,
        select=unit_test_selection(list(gold.select)),
        exclude=list(gold.exclude) or None,
        vars=dbt_vars(spec, selection),
        callback=remember_outcomes,
        emit_datasets=EMIT_DBT_ASSETS,
        pool=pool or "default_pool",
        doc_md="dbt unit tests of this pipeline's models (preflight): a failure stops the run before the gold build.",
    )
