"""Render a spec as the DAG's Markdown docs, so operators read the pipeline in the UI."""

from __future__ import annotations

from medallion import layout
from medallion.spec.models import PipelineSpec


def render_dag_doc(spec: PipelineSpec) -> str:
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
        f"- **Schedule:** `{spec.schedule}` from {spec.start_date}",
        f"- **Alerts:** {spec.alerts.slack_channel or '-'}; {', '.join(spec.alerts.emails) or '-'}",
    ]
    if spec.alerts.runbook:
        lines.append(f"- **Runbook:** {spec.alerts.runbook}")
    lines += ["", "## Bronze (S3)", ""]
    for src in spec.bronze.sources:
        uri = f"s3://{spec.lake.bucket}/{layout.bronze_partition_key(spec, src.name, '<ds>')}"
        lines.append(f"- `{src.name}`: {src.kind} on connection `{src.conn_id}` → `{uri}`")
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
    return "\n".join(lines) + "\n"
