"""A gate run's report: compact JSON for machines, a small HTML page for people."""

from __future__ import annotations

import html
import json
from typing import Any


def render_html(report: dict[str, Any]) -> str:
    rows = []
    for table in report["tables"]:
        for o in table["outcomes"]:
            status = "ERROR" if o["error"] else ("PASS" if o["success"] else o["severity"].upper())
            detail = o["error"] or (
                f"{o['unexpected_count']} unexpected ({o['unexpected_percent']:.2f}%)"
                if o["unexpected_count"] is not None and o["unexpected_percent"] is not None
                else f"observed {o['observed']!r}"
            )
            if o.get("quarantined"):
                detail = f"{o['quarantined']} rows quarantined; then {detail}"
            rows.append(
                "<tr class='{cls}'><td>{table}</td><td>{exp}</td><td>{kwargs}</td><td>{status}</td>"
                "<td>{detail}</td><td>{samples}</td><td>{hint}</td></tr>".format(
                    cls=status.lower(),
                    table=html.escape(table["table"]),
                    exp=html.escape(o["expectation"] + (f" ({o['name']})" if o.get("name") else "")),
                    kwargs=html.escape(json.dumps(o["kwargs"], default=str)),
                    status=status,
                    detail=html.escape(str(detail)),
                    samples=html.escape(json.dumps(o["samples"], default=str)),
                    hint=html.escape(o["hint"] or ""),
                )
            )
    quarantine = "".join(
        f"<p>{html.escape(t['table'])}: {q['quarantined']} rows quarantined in {html.escape(q['table'])} "
        f"({html.escape(json.dumps(q['rules']))}), {q['kept']} published</p>"
        for t in report["tables"]
        if (q := t.get("quarantine"))
    )
    title = f"{report['pipeline']} · {report['layer']} gate · {report['logical_date']}"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif}}td,th{{border:1px solid #ccc;padding:4px}}
tr.critical,tr.error{{background:#fdd}}tr.warning{{background:#ffd}}tr.pass{{background:#dfd}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>status: <b>{html.escape(report["status"])}</b> · run {html.escape(report["run_id"])}</p>{quarantine}
<table><tr><th>table</th><th>expectation</th><th>arguments</th><th>status</th><th>detail</th><th>samples</th>
<th>hint</th></tr>{"".join(rows)}</table></body></html>"""
