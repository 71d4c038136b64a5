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


def manifest_path(project_dir: Path) -> Path:
    return project_dir / "target" / "manifest.json"


def build_gold_group(spec: PipelineSpec, pool: str | None = None) -> Any:
    """Create the ``gold`` DbtTaskGroup in the current DAG context and return it."""
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import InvocationMode, LoadMode, TestBehavior

    from medallion.gold.profile import LakehouseProfileMapping

    gold = spec.gold
    assert gold is not None
    project_dir = paths.resolve(gold.project_dir)
    return DbtTaskGroup(
        group_id="gold",
        project_config=ProjectConfig(
            dbt_project_path=project_dir,
            manifest_path=manifest_path(project_dir),
            dbt_vars={"ds": "{{ ds }}", "pipeline": spec.id},
        ),
        profile_config=ProfileConfig(
            profile_name=DBT_PROFILE,
            target_name=DBT_TARGET,
            profile_mapping=LakehouseProfileMapping(connections.LAKEHOUSE_SQL),
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            select=list(gold.select),
            exclude=list(gold.exclude),
            test_behavior=TestBehavior.AFTER_EACH,
        ),
        execution_config=ExecutionConfig(invocation_mode=InvocationMode.DBT_RUNNER),
        operator_args={"install_deps": False, "pool": pool} if pool else {"install_deps": False},
        tooltip="dbt models and tests (astronomer-cosmos)",
    )
