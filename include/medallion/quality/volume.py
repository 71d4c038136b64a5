"""Volume anomalies: a table's row count against the average of its last gate runs.

The count is a Great Expectations ``expect_table_row_count_to_be_between`` (pushed down like
every other expectation); its bounds come from the row counts kept in earlier gate reports.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from medallion.spec.models import Expectation, TableCheck

ROW_COUNT = "expect_table_row_count_to_be_between"


def volume_bounds(history: list[int], tolerance: float) -> tuple[int, int]:
    mean = sum(history) / len(history)
    return math.floor(mean * (1 - tolerance)), math.ceil(mean * (1 + tolerance))


def with_volume_expectation(check: TableCheck, history: list[int]) -> TableCheck:
    """The suite plus a row-count expectation (bounded once enough history exists)."""
    volume = check.volume
    if volume is None:
        return check
    recent = history[-volume.lookback_runs :]
    if len(recent) < volume.min_history:
        extra = Expectation(
            type=ROW_COUNT,
            min_value=0,
            severity="warning",
            hint=f"volume check learning: {len(recent)} of {volume.min_history} runs of history",
        )
    else:
        low, high = volume_bounds(recent, volume.tolerance)
        extra = Expectation(
            type=ROW_COUNT,
            min_value=low,
            max_value=high,
            severity=volume.severity,
            hint=f"the last {len(recent)} runs averaged {sum(recent) / len(recent):,.0f} rows "
            f"(±{volume.tolerance:.0%}); a partial extract, a duplicated load or a changed filter upstream?",
        )
    return check.model_copy(update={"expectations": [*check.expectations, extra]})


def row_count_of(table_result: dict[str, Any]) -> int | None:
    """The row count a gate observed for a table, unless that count was itself an anomaly."""
    for outcome in table_result.get("outcomes", []):
        if outcome["expectation"] == ROW_COUNT and outcome["success"] and isinstance(outcome.get("observed"), int):
            return outcome["observed"]
    return None


def row_counts_from_reports(reports: Iterable[dict[str, Any]], table: str) -> list[int]:
    """Normal row counts of ``table`` in passed (or warning-only) gate reports, in the given order."""
    counts = []
    for report in reports:
        if report.get("status") not in {"passed", "warning"}:
            continue
        for result in report.get("tables", []):
            count = row_count_of(result) if result.get("table") == table else None
            if count is not None:
                counts.append(count)
    return counts
