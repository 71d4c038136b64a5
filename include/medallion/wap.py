"""Write → audit → publish by spec: what a layer's run stages, and what its gate publishes.

Silver: notebooks write ``staging.<pipeline>__<table>``. Gold: dbt builds the pipeline's models in
``staging_<pipeline>_<yyyymmdd>`` (``dbt_project/macros/generate_schema_name.sql``). The layer's
gate audits those relations and, when it passes, publishes them through ``quality.publish`` (one
function for both layers) with the run's provenance; a failure anywhere leaves ``silver.*`` /
``gold.*`` as they were.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medallion import layout, paths
from medallion.spec.models import PipelineSpec


def gold_selection(spec: PipelineSpec) -> Any | None:
    """cosmos's answer for the spec's gold ``select``/``exclude`` (a ``GoldSelection``); None without gold.

    The DAG builder resolves it once per DAG (or takes the loader's, from the project checks) and hands it on.
    """
    from medallion.gold.selection import select_gold

    if spec.gold is None:
        return None
    return select_gold(paths.resolve(spec.gold.project_dir), spec.gold.select, spec.gold.exclude)


def gold_models(spec: PipelineSpec) -> list[Any]:
    """The table-producing dbt models the spec's selection renders (cosmos's own selector)."""
    selection = gold_selection(spec)
    return list(selection.models) if selection else []


def gold_tables(spec: PipelineSpec) -> list[str]:
    """``gold.<alias>`` of every model the pipeline builds: the tables its gold gate publishes."""
    return [m.table for m in gold_models(spec) if m.table]


def staged_relation(spec: PipelineSpec, layer: str, table: str, ds_nodash: str) -> str:
    """Where the run wrote ``table`` (a ``silver.x``/``gold.x`` name) before its gate."""
    if layer == "silver":
        return layout.staging_table(spec, table)
    return f"{layout.gold_staging_schema(spec, ds_nodash)}.{table.split('.', 1)[1]}"


def publications(
    spec: PipelineSpec, layer: str, tables: list[str], ds_nodash: str, keep: dict[str, str] | None = None
) -> list[Any]:
    """One ``Publication`` per table: staged relation → public table, quarantine filter, merge rule."""
    from medallion.quality.publish import Publication

    keep = keep or {}
    rules = {r.table: (tuple(r.key), r.version) for r in spec.load.merge}
    return [Publication(staged_relation(spec, layer, t, ds_nodash), t, keep.get(t), rules.get(t)) for t in tables]


def run_stamp(spec: PipelineSpec, context: Any) -> Any:
    from medallion.quality.publish import RunStamp

    return RunStamp(spec.id, str(context["ds"]), str(context["run_id"]), spec.load.semantics)


def is_backfill(context: Any) -> bool:
    """The ``backfill`` DAG param (or run conf): rebuild older dates in date order, publishing each."""
    params = context.get("params") or {}
    conf = getattr(context.get("dag_run"), "conf", None) or {}
    return bool(params.get("backfill") or conf.get("backfill"))


def kept_back_summary(layer: str, stamp: Any, kept: list[Any], staged: list[str]) -> tuple[str, list[str]]:
    """The warning alert when a snapshot run older than the published version did not publish."""
    summary = (
        f"{layer} not published: this run's logical date {stamp.logical_date} is older than the published "
        f"version (snapshot load semantics: the latest date wins); the newer data stays published."
    )
    details = [f"published: {v.describe()}" for v in kept]
    details.append("this run's audited outputs stay in " + ", ".join(staged) + " for inspection")
    details.append(
        "to rebuild older dates on purpose, trigger a backfill in date order with the backfill param: "
        f"airflow backfill create --dag-id {stamp.pipeline} --from-date … --to-date … --max-active-runs 1 "
        "--dag-run-conf '{\"backfill\": true}'"
    )
    return summary, details


def rejected_note(spec: PipelineSpec, layer: str, ds: str, published: list[Any]) -> list[str]:
    """Alert lines for a failed silver/gold run: what readers still see, where the rejected data is."""
    if layer == "silver" and spec.silver:
        tables = [t for nb in spec.silver.notebooks for t in nb.outputs]
    elif layer == "gold" and spec.gold:
        try:
            tables = gold_tables(spec)
        except Exception:  # no manifest: the alert still goes out
            tables = []
    else:
        return []
    if not tables:
        return []
    ds_nodash = ds.replace("-", "")
    versions = {v.table: v for v in published}
    lines = [
        f"{layer}.* was not changed by this run: readers still see the last good version"
        + (
            " (" + "; ".join(versions[t].describe() for t in tables if t in versions) + ")"
            if any(t in versions for t in tables)
            else ""
        )
    ]
    staged = [staged_relation(spec, layer, t, ds_nodash) for t in tables]
    lines.append("the rejected data (if it was written) can be inspected in " + ", ".join(staged))
    return lines


def table_checksums(lakehouse: str | Path, tables: list[str]) -> dict[str, tuple[int, int] | None]:
    """Rows and an order-independent hash of all rows, per table (None if missing): proof a run changed nothing."""
    from medallion import duck

    out: dict[str, tuple[int, int] | None] = {}
    con = duck.connect(lakehouse, read_only=True)
    try:
        for table in tables:
            try:
                row = con.execute(f"SELECT count(*), coalesce(sum(hash(t)), 0) FROM {table} t").fetchone()
                out[table] = (int(row[0]), int(row[1]))
            except Exception:  # not published yet
                out[table] = None
    finally:
        con.close()
    return out


def doc_lines(spec: PipelineSpec) -> list[str]:
    """The DAG docs' section on how this pipeline publishes and where each version's origin is recorded."""
    if not (spec.silver or spec.gold):
        return []
    semantics = spec.load.semantics
    rule = (
        "the latest logical date wins: an older run does not publish unless triggered with the `backfill` param"
        if semantics == "snapshot"
        else "tables in `load.merge` merge by key where the version column is newer, so any date order converges"
    )
    lines = ["", "## Publishing (write → audit → publish)", "", f"- **Load semantics:** {semantics}: {rule}"]
    if spec.silver:
        staged = f"{layout.STAGING_SCHEMA}.{spec.id}__<table>"
        lines.append(f"- **silver**: notebooks write `{staged}`; the silver gate audits and publishes it")
    if spec.gold:
        lines.append(
            f"- **gold**: dbt builds in `{layout.gold_staging_schema(spec, '<yyyymmdd>')}`; dbt tests, unit tests and "
            "the gold gate read it there, and the gold gate publishes every table in one step"
        )
    lines.append(
        f"- **Published versions** (logical date and run of each table's current version): "
        f"`SELECT * FROM {layout.PUBLISHED_VERSIONS} WHERE pipeline = '{spec.id}' ORDER BY published_at DESC`"
    )
    return lines
