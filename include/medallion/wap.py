"""Write → audit → publish by spec: where a layer's run stages its tables, and what that means to readers.

Silver: notebooks write ``staging.<pipeline>__<table>``. Gold: dbt builds the pipeline's models in
``staging_<pipeline>_<yyyymmdd>`` (``dbt_project/macros/generate_schema_name.sql``). The layer's
gate audits those relations; when it passes, the layer's publish step (``quality.publish_step``, one
operator for both layers) publishes them with the run's provenance; a failure anywhere leaves
``silver.*`` / ``gold.*`` as they were. This module imports no layer: the gold tables are handed in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medallion import layout
from medallion.spec.models import PipelineSpec


def staged_relation(spec: PipelineSpec, layer: str, table: str, ds_nodash: str) -> str:
    """Where the run wrote ``table`` (a ``silver.x``/``gold.x`` name) before its gate."""
    if layer == "silver":
        return layout.staging_table(spec, table)
    return f"{layout.gold_staging_schema(spec, ds_nodash)}.{table.split('.', 1)[1]}"


def publish_task_id(layer: str) -> str:
    """The task that publishes ``layer`` after its gate passed (``silver_publish``, ``gold_publish``)."""
    return f"{layer}_publish"


def published_tables(spec: PipelineSpec, layer: str | None, context: Any) -> list[str]:
    """The tables ``layer`` publishes: the notebooks' outputs (silver); for gold, the selection's tables as the
    DAG builder handed them to ``gold_publish``, read from the running DAG (this module imports no layer)."""
    if layer == "silver":
        return [t for nb in spec.silver.notebooks for t in nb.outputs] if spec.silver else []
    dag = context.get("dag")
    task = dag.task_dict.get(publish_task_id(layer or "")) if dag is not None else None
    return list(getattr(task, "tables", None) or [])


def rejected_note(spec: PipelineSpec, layer: str, ds: str, published: list[Any], tables: list[str]) -> list[str]:
    """Alert lines for a failed silver/gold run: what readers still see, where the rejected data is.

    ``tables``: what the layer publishes (the notebooks' outputs; the gold selection's tables).
    """
    if layer not in ("silver", "gold") or not tables:
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
        lines.append(
            f"- **silver**: notebooks write `{staged}`; `silver_gate` audits it and `silver_publish` publishes it"
        )
    if spec.gold:
        lines.append(
            f"- **gold**: dbt builds in `{layout.gold_staging_schema(spec, '<yyyymmdd>')}`; dbt tests, unit tests and "
            "`gold_gate` read it there, and `gold_publish` publishes every table in one step"
        )
    lines.append(
        f"- **Published versions** (logical date and run of each table's current version): "
        f"`SELECT * FROM {layout.PUBLISHED_VERSIONS} WHERE pipeline = '{spec.id}' ORDER BY published_at DESC`"
    )
    return lines
