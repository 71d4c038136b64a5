"""Freshness: the newest value of a timestamp column must be recent enough for the SLA.

Pushed down like every other expectation: ``expect_column_max_to_be_between`` with a lower
bound computed by the gate task from the run (end of the data interval, or now).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from medallion.spec.models import Expectation, TableCheck

FRESHNESS = "freshness"


def freshness_reference(reference: str, context: Any) -> dt.datetime:
    """End of the run's data interval (reproducible for backfills) or now, in UTC."""
    now = dt.datetime.now(dt.UTC)
    if reference == "now":
        return now
    end = context.get("data_interval_end") or context.get("logical_date")
    return end.astimezone(dt.UTC) if end is not None else now


def with_freshness_expectation(check: TableCheck, sla_hours: float | None, context: Any) -> TableCheck:
    """The suite plus ``max(column) >= reference - max_age`` (naive UTC, like the lakehouse's timestamps)."""
    fresh = check.freshness
    if fresh is None:
        return check
    hours = fresh.max_age_hours or sla_hours
    if hours is None:  # the spec validator requires one of them
        raise ValueError(f"freshness of {check.table} has no max_age_hours and the pipeline no freshness_sla_hours")
    reference = freshness_reference(fresh.reference, context)
    oldest = (reference - dt.timedelta(hours=hours)).replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")
    label = "the end of the run's data interval" if fresh.reference == "data_interval_end" else "the gate's start"
    extra = Expectation(
        type="expect_column_max_to_be_between",
        name=FRESHNESS,
        column=fresh.column,
        min_value=oldest,
        severity=fresh.severity,
        hint=f"Stale data: the newest {fresh.column} must be at or after {oldest} UTC ({hours:g} h before {label}, "
        f"{reference:%Y-%m-%d %H:%M} UTC). The source stopped delivering, the extract's date filter or incremental "
        "watermark is stuck, or an upstream job ran late: check the bronze extract's row count and watermark for "
        "this date, then re-run it.",
    )
    return check.model_copy(update={"expectations": [*check.expectations, extra]})
