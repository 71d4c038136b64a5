"""What each catalog page shows, as plain data: the JSON API returns it as is and the HTML pages render it
through autoescaping templates. PII flags are shown, PII values never: no page reads a row of data, only
counts, contracts and gate reports (whose samples of PII columns the gate already redacts and which the
catalog does not show)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from medallion.catalog.lake import Lake
from medallion.catalog.products import LAYERS, Catalog, Product
from medallion.catalog.runs import RunInfo

#: Freshness against the SLA: green under this share of it, amber up to the SLA, red beyond (or never).
AMBER_AT = 0.8


def _parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def freshness(
    product: Product, published: dict[str, tuple[str, str, str]], runs: list[RunInfo], now: dt.datetime
) -> dict[str, Any]:
    """Age of the newest published version of the product's tables (else its last successful run) against
    ``freshness_sla_hours``: green, amber, red, or grey without an SLA."""
    tables = [t for layer in ("silver", "gold") for t in product.tables[layer]]
    times = [m for t in tables if t in published and (m := _parse_time(published[t][2]))]
    source = "published"
    if not times:
        times = [
            r.end_date if r.end_date.tzinfo else r.end_date.replace(tzinfo=dt.UTC)
            for r in runs
            if r.state == "success" and r.end_date
        ]
        source = "last successful run"
    sla = product.spec.freshness_sla_hours
    if not times:
        return {"status": "red" if sla else "grey", "age_hours": None, "sla_hours": sla, "source": "never published"}
    age = max(0.0, (now - max(times)).total_seconds() / 3600)
    status = "grey" if not sla else "green" if age < AMBER_AT * sla else "amber" if age <= sla else "red"
    return {"status": status, "age_hours": round(age, 1), "sla_hours": sla, "source": source}


def product_summary(
    product: Product, runs: list[RunInfo], published: dict[str, Any], now: dt.datetime
) -> dict[str, Any]:
    """A product's line on the home page."""
    spec, latest = product.spec, (runs[0] if runs else None)
    return {
        "id": product.id,
        "domain": spec.domain,
        "description": spec.description,
        "owners": list(product.owner_names),
        "tier": spec.tier,
        "tags": list(spec.tags),
        "freshness": freshness(product, published, runs, now),
        "last_run": _run(latest) if latest else None,
        "layers": {layer: (latest.layers.get(layer, "none") if latest else "none") for layer in product.layers},
        "open_alerts": list(latest.failed_tasks) if latest else [],
    }


def _run(run: RunInfo) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "state": run.state,
        "logical_date": run.ds,
        "end_date": run.end_date.isoformat() if run.end_date else None,
        "layers": dict(run.layers),
        "failed_tasks": list(run.failed_tasks),
    }


def home(
    catalog: Catalog, runs: dict[str, list[RunInfo]], published: dict[str, Any], query: str = ""
) -> dict[str, Any]:
    """Domains → products (or the search's hits), each with owner, tier, freshness, layer states, alerts."""
    now = dt.datetime.now(dt.UTC)
    hits = {h.product.id: list(h.matches) for h in catalog.search(query)} if query.strip() else None
    domains: dict[str, list[dict[str, Any]]] = {}
    for domain, products in catalog.domains().items():
        for product in products:
            if hits is not None and product.id not in hits:
                continue
            line = product_summary(product, runs.get(product.id, []), published, now)
            if hits is not None:
                line["matches"] = hits[product.id]
            domains.setdefault(domain, []).append(line)
    count = sum(len(v) for v in domains.values())
    return {"query": query, "domains": domains, "count": count, "invalid_specs": len(catalog.invalid)}


def _contract(product: Product, table: str) -> dict[str, Any] | None:
    contract = next((c for c in product.spec.contracts if c.table == table), None)
    if contract is None:
        return None
    return {
        "primary_key": list(contract.primary_key),
        "freshness_column": contract.freshness_column,
        "columns": [
            {
                "name": c.name,
                "type": c.type,
                "nullable": c.nullable,
                "key": c.name in contract.primary_key,
                "pii": c.pii,
                "description": c.description,
            }
            for c in contract.columns
        ],
    }


def _gate(report: dict[str, Any] | None, url: str | None) -> dict[str, Any] | None:
    """A gate report as counts only (no samples: they may hold values)."""
    if report is None:
        return None
    quarantined = sum((t.get("quarantine") or {}).get("quarantined", 0) or 0 for t in report.get("tables", []))
    return {
        "status": report.get("status"),
        "run_id": report.get("run_id"),
        "critical_failures": report.get("critical_failures", 0),
        "warnings": report.get("warnings", 0),
        "expectations": sum(len(t.get("outcomes", [])) for t in report.get("tables", [])),
        "quarantined": quarantined,
        "report_url": url,
    }


def product_page(
    product: Product,
    runs: list[RunInfo],
    lake: Lake,
    *,
    report_url: Any,
    links: dict[str, str | None],
) -> dict[str, Any]:
    """Everything about one data product; ``report_url(layer, ds)`` links a gate's HTML report."""
    spec, now = product.spec, dt.datetime.now(dt.UTC)
    lake_tables = [t for layer in ("silver", "gold") for t in product.tables[layer]]
    facts = lake.tables(lake_tables)
    counts, recorded, published = facts.rows, facts.grants, lake.published()
    latest_ds = next((r.ds for r in runs if r.ds), None)
    bronze_rows = lake.bronze_rows(spec, latest_ds)
    wanted = [(layer, r.ds) for r in runs if r.ds for layer in product.layers]
    reports = lake.reports(spec, wanted)
    tables = {
        layer: [
            {
                "name": t,
                "rows": (bronze_rows if layer == "bronze" else counts).get(t),
                "published": published.get(t),
                "contract": _contract(product, t),
                "grants": {g: list(p) for g, p in spec.grants_for(t).items()} if layer != "bronze" else {},
                "recorded_grants": recorded.get(t, []),
            }
            for t in product.tables[layer]
        ]
        for layer in LAYERS
        if product.tables[layer]
    }
    return {
        **product_summary(product, runs, published, now),
        "file": product.file,
        "owners": [o.model_dump() for o in spec.owners],
        "alerts": {"slack_channel": spec.alerts.slack_channel, "emails": list(spec.alerts.emails)},
        "schedule": spec.schedule,
        "triggers": list(spec.triggers),
        "sla_hours": spec.freshness_sla_hours,
        "tables": tables,
        "runs": [
            {
                **_run(r),
                "gates": {
                    layer: _gate(
                        reports.get((layer, r.ds)), report_url(layer, r.ds) if (layer, r.ds) in reports else None
                    )
                    for layer in product.layers
                },
            }
            for r in runs
        ],
        "graph": {"upstream": list(product.upstream), "downstream": list(product.downstream)},
        "links": links,
    }
