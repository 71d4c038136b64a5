"""Incremental gold models under write → audit → publish, with real dbt-duckdb.

Each run builds into its own staging schema, where the incremental model's table does not exist yet;
the project's on-run-start hook (``medallion_carry_incremental_state``) copies the PUBLISHED version
there first, so ``is_incremental()`` merges this run's rows into the last good state. A run that is
never published (a failed test or gate) does not advance the state the next run starts from.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import yaml

from medallion import duck
from medallion.quality.publish import Publication, publish

ROOT = Path(__file__).resolve().parents[3]
MODEL = """{{ config(materialized='incremental', unique_key='id') }}
select id, v, '{{ var("medallion_staging_schema") }}' as built_in from {{ source('raw', 'events') }}
{% if is_incremental() %} where id > (select coalesce(max(id), 0) from {{ this }}) {% endif %}
"""


def _project(tmp_path: Path, db: Path) -> Path:
    """A dbt project with the repository's macros and hook, one incremental model over ``raw.events``."""
    project = tmp_path / "proj"
    shutil.copytree(ROOT / "dbt_project/macros", project / "macros")
    (project / "models").mkdir()
    (project / "models/events_inc.sql").write_text(MODEL)
    (project / "models/sources.yml").write_text(
        yaml.safe_dump({"version": 2, "sources": [{"name": "raw", "schema": "raw", "tables": [{"name": "events"}]}]})
    )
    hooks = yaml.safe_load((ROOT / "dbt_project/dbt_project.yml").read_text())["on-run-start"]
    (project / "dbt_project.yml").write_text(
        yaml.safe_dump(
            {"name": "inc", "version": "1.0.0", "config-version": 2, "profile": "inc", "on-run-start": hooks}
        )
    )
    profile = {"type": "duckdb", "path": str(db), "schema": "gold"}
    (project / "profiles.yml").write_text(yaml.safe_dump({"inc": {"target": "t", "outputs": {"t": profile}}}))
    return project


def _dbt_run(project: Path, staging: str) -> str:
    dbt = Path(sys.executable).with_name("dbt")
    run_vars = {"medallion_staging_schema": staging, "medallion_models": ["events_inc"]}
    result = subprocess.run(
        [str(dbt), "run", "--profiles-dir", ".", "--vars", yaml.safe_dump(run_vars)],
        cwd=project, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return result.stdout


def _sql(db: Path, sql: str) -> list[tuple]:
    con = duck.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _ids(db: Path, table: str) -> list[tuple[int, str]]:
    """``(id, the staging schema of the run that built the row)``: a full rebuild would re-stamp every row."""
    return [(r[0], r[1]) for r in _sql(db, f"SELECT id, built_in FROM {table} ORDER BY id")]


def test_incremental_state_carries_over_from_the_published_version_only(tmp_path: Path) -> None:
    db = tmp_path / "lake.duckdb"
    lake = SimpleNamespace(conn_type="duckdb", host=str(db), conn_id="lakehouse")
    _sql(db, "CREATE SCHEMA raw; CREATE TABLE raw.events (id INTEGER, v VARCHAR)")
    _sql(db, "INSERT INTO raw.events VALUES (1, 'a'), (2, 'b')")
    project = _project(tmp_path, db)

    _dbt_run(project, "staging_1")  # first run: nothing published yet, a full build in staging
    assert _ids(db, "staging_1.events_inc") == [(1, "staging_1"), (2, "staging_1")]
    assert not _sql(db, "SELECT * FROM information_schema.tables WHERE table_schema = 'gold'")
    publish(lake, [Publication("staging_1.events_inc", "gold.events_inc")], drop_schema="staging_1")
    assert _ids(db, "gold.events_inc") == [(1, "staging_1"), (2, "staging_1")]

    _sql(db, "INSERT INTO raw.events VALUES (3,'c')")
    out = _dbt_run(project, "staging_2")  # starts from the published state, merges only the new row
    assert "starts from the published" in out
    assert _ids(db, "staging_2.events_inc") == [(1, "staging_1"), (2, "staging_1"), (3, "staging_2")]
    assert _ids(db, "gold.events_inc") == [(1, "staging_1"), (2, "staging_1")], "gold changes only at publish"

    # Run 2 is rejected (never published); a new row arrives and run 3 starts again from published gold.
    _sql(db, "UPDATE raw.events SET v = 'changed' WHERE id = 3; INSERT INTO raw.events VALUES (4,'d')")
    _dbt_run(project, "staging_3")
    rows = _sql(db, "SELECT id, v, built_in FROM staging_3.events_inc ORDER BY id")
    assert rows == [(1, "a", "staging_1"), (2, "b", "staging_1"), (3, "changed", "staging_3"), (4, "d", "staging_3")], (
        "built on the published state (ids 1-2 from run 1), not on rejected run 2's table"
    )
    publish(lake, [Publication("staging_3.events_inc", "gold.events_inc")], drop_schema="staging_3")
    assert [i for i, _ in _ids(db, "gold.events_inc")] == [1, 2, 3, 4]
