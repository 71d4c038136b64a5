"""Render a spec as the DAG's Markdown docs, so operators read the pipeline in the UI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from medallion import layout
from medallion.errors import Problem
from medallion.spec.models import PipelineSpec


def render_dag_doc(spec: PipelineSpec, warnings: Sequence[Problem] = ()) -> str:
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
    if spec.alerts.runbook:
        lines.append(f"- **Runbook:** {spec.alerts.runbook}")
    if spec.bronze:
        lines += ["", "## Bronze (S3)", ""]
    for src in spec.bronze.sources if spec.bronze else []:
        uri = f"s3://{spec.lake.bucket}/{layout.bronze_partition_key(spec, src.name, '<ds>')}"
        lines.append(f"- `{src.name}`: {_source_origin(src)} → `{uri}`")
    if spec.silver:
        lines += ["", "## Silver (Databricks)", ""]
        for nb in spec.silver.notebooks:
            lines.append(f"- `{nb.name}`: `{nb.path}` → {', '.join(f'`{t}`' for t in nb.outputs)}")
    if spec.gold:
        lines += ["", "## Gold (dbt)", "", f"- select: `{' '.join(spec.gold.select)}`"]
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


def _schedule(spec: PipelineSpec) -> str:
    if spec.triggers:
        return "when " + " and ".join(f"`{t}`" for t in spec.triggers) + " are published"
    return f"`{spec.schedule}`"


def _source_origin(src: Any) -> str:
    """Where a source's rows come from, as an operator reads it."""
    if src.kind == "file":
        where = f" on connection `{src.conn_id}`" if src.conn_id else ""
        return f"{src.format} files `{src.pattern}` in {src.storage} `{src.path}`{where}"
    return f"{src.kind} on connection `{src.conn_id}`"
