"""Render a spec as the DAG's Markdown docs, so operators read the pipeline in the UI."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from medallion import layout
from medallion.alerts.runbook import runbook_link
from medallion.bronze.sources import source_kind
from medallion.errors import Problem
from medallion.spec.models import PipelineSpec
from medallion.wap import doc_lines


def render_dag_doc(
    spec: PipelineSpec,
    warnings: Sequence[Problem] = (),
    table_owners: Mapping[str, Any] | None = None,
    selection: Any = None,
) -> str:
    """``table_owners`` (table → ``TableOwner``, from the project checks): who owns what the gold models read;
    ``selection``: the spec's resolved gold selection (resolved here when not given)."""
    owners = ", ".join(
        f"[{o.name}](mailto:{o.email})" if o.email else o.name + (f" ({o.slack})" if o.slack else "")
        for o in spec.owners
    )
    lines = [
        f"# {spec.id}",
        "",
        spec.description.strip(),
        "",
        f"- **Domain:** {spec.domain}",
        f"- **Owners:** {owners}",
        f"- **Schedule:** {_schedule(spec)} from {spec.start_date}",
        f"- **Tier:** {spec.tier or '-'} · **Freshness SLA:** "
        + (f"{spec.freshness_sla_hours:g} h" if spec.freshness_sla_hours else "-"),
        f"- **Alerts:** {spec.alerts.slack_channel or '-'}; {', '.join(spec.alerts.emails) or '-'}",
    ]
    lines.append(f"- **Runbook:** {runbook_link(spec.alerts)}")
    if spec.bronze:
        lines += ["", "## Bronze (S3)", ""]
    for src in spec.bronze.sources if spec.bronze else []:
        uri = f"s3://{spec.lake.bucket}/{layout.bronze_partition_key(spec, src.name, '<ds>')}"
        lines.append(f"- `{src.name}`: {source_kind(src.kind).origin(src)} → `{uri}`")
    if spec.silver:
        lines += ["", "## Silver (Databricks)", ""]
        for nb in spec.silver.notebooks:
            lines.append(f"- `{nb.name}`: `{nb.path}` → {', '.join(f'`{t}`' for t in nb.outputs)}")
    if spec.gold:
        lines += ["", "## Gold (dbt)", "", f"- select: `{' '.join(spec.gold.select)}`"]
        if spec.gold.exclude:
            lines.append(f"- exclude: `{' '.join(spec.gold.exclude)}`")
        if selection is None:
            from medallion.gold.selection import spec_selection

            selection = spec_selection(spec)
        lines += _gold_models(selection, table_owners or {})
    lines += _owned_tables(spec, selection)
    lines += doc_lines(spec)
    lines += ["", "## Quality gates", ""]
    for layer in ("bronze", "silver", "gold"):
        for check in getattr(spec.quality, layer):
            exps = ", ".join(f"{e.type} ({e.severity.value})" for e in check.expectations)
            lines.append(f"- **{layer}** `{check.table}`: {exps}")
    for contract in spec.contracts:
        lines += [
            "",
            f"## Contract: `{contract.table}`",
            "",
            "| column | type | nullable | key | PII |",
            "|---|---|---|---|---|",
        ]
        for c in contract.columns:
            key = "yes" if c.name in contract.primary_key else ""
            lines.append(
                f"| {c.name} | {c.type} | {'yes' if c.nullable else 'no'} | {key} | {'yes' if c.pii else ''} |"
            )
    if warnings:
        lines += ["", "## Warnings", ""] + [f"- `{w.field}`: {w.message} ({w.hint})" for w in warnings]
    return "\n".join(lines) + "\n"


def _gold_models(selection: Any, table_owners: Mapping[str, Any]) -> list[str]:
    """The models the selection builds (cosmos's selector) and the other pipelines' tables they read."""
    lines = [f"- model `{m.name}` (`{m.file}`) → `{m.table}`" for m in selection.models]
    for table in selection.reads:
        owner = table_owners.get(table)
        by = f"owned by pipeline `{owner.pipeline}`" if owner else "no pipeline owns it"
        lines.append(f"- reads `{table}` ({by})")
    return lines


def _owned_tables(spec: PipelineSpec, selection: Any) -> list[str]:
    """Tables only this pipeline writes (one owner per table, checked by `medallion validate`)."""
    notebooks = spec.silver.notebooks if spec.silver else []
    rows = [(t, f"silver notebook `{nb.name}`") for nb in notebooks for t in nb.outputs]
    rows += [(m.table, f"dbt model `{m.name}`") for m in (selection.models if selection else ())]
    if not rows:
        return []
    names = ", ".join(o.name for o in spec.owners)
    return [
        "",
        "## Tables this pipeline owns",
        "",
        f"Only `{spec.id}` ({names}) writes these tables; other pipelines read them.",
        "",
        "| table | produced by |",
        "|---|---|",
        *(f"| `{table}` | {by} |" for table, by in rows),
    ]


def _schedule(spec: PipelineSpec) -> str:
    if spec.triggers:
        return "when " + " and ".join(f"`{t}`" for t in spec.triggers) + " are published"
    return f"`{spec.schedule}`"
