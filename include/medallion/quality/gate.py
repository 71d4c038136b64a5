"""Run one suite with Great Expectations and apply severity, which GE itself ignores.

critical failure → the gate fails without retry (bad data); warning → reported, run goes
on; an expectation that could not be evaluated → infrastructure error (retried).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from typing import Any

from medallion.duck import release_dbt_duckdb
from medallion.quality.engine import SqlTarget, quiet_import_gx
from medallion.spec.models import QUARANTINABLE, Expectation, TableCheck

SAMPLE_SIZE = 5


@dataclass
class Outcome:
    """One expectation's result with the severity and hint from the spec."""

    expectation: str
    kwargs: dict[str, Any]
    severity: str
    success: bool
    observed: Any = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    samples: list[Any] = field(default_factory=list)
    hint: str | None = None
    runbook: str | None = None
    error: str | None = None
    name: str | None = None
    quarantined: int | None = None  # rows set aside by this quarantine rule (then validated without them)

    def summary(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        detail = (
            f"{self.unexpected_count} unexpected ({self.unexpected_percent:.2f}%)"
            if self.unexpected_count is not None and self.unexpected_percent is not None
            else f"observed {self.observed!r}"
        )
        return f"{self.expectation}({args}): {detail}"


@dataclass
class TableGateResult:
    layer: str
    table: str
    query: str
    outcomes: list[Outcome]

    @property
    def critical_failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and not o.error and o.severity == "critical"]

    @property
    def warnings(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and not o.error and o.severity == "warning"]

    @property
    def infra_errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data |= {
            "passed": not self.critical_failures and not self.infra_errors,
            "evaluated": len(self.outcomes),
            "critical_failures": len(self.critical_failures),
            "warnings": len(self.warnings),
            "infra_errors": len(self.infra_errors),
        }
        return data


def ge_class_name(expectation_type: str) -> str:
    """``expect_column_values_to_not_be_null`` → ``ExpectColumnValuesToNotBeNull``."""
    return "".join(part.capitalize() for part in expectation_type.split("_"))


REDACTED = "***redacted (PII)***"


def run_table_check(
    target: SqlTarget,
    check: TableCheck,
    query: str,
    *,
    layer: str,
    suite_name: str,
    pii: set[str] = frozenset(),
) -> TableGateResult:
    """Validate ``query``'s rows against ``check`` and return outcomes in spec order."""
    gx = quiet_import_gx()
    release_dbt_duckdb()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    with closing_dbapi_connections():
        datasource = target.add_datasource(context, re.sub(r"\W", "_", suite_name))
        asset = datasource.add_query_asset(name="batch", query=query)
        batch = asset.add_batch_definition_whole_table("whole")
        suite = context.suites.add(gx.ExpectationSuite(name=suite_name))
        first_of: dict[str, int] = {}  # GE keeps one of identical expectations; evaluate each once
        for index, exp in enumerate(check.expectations):
            key = _identity(exp)
            if key in first_of:
                continue
            first_of[key] = index
            cls = getattr(gx.expectations, ge_class_name(exp.type))
            suite.add_expectation(cls(**exp.ge_kwargs(), meta={"medallion_index": index}))
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(data=batch, suite=suite, name=f"{suite_name}.run")
        )
        # counts only: GE would fetch samples for every expectation, passing or not (a scan each)
        result = definition.run(result_format={"result_format": "SUMMARY", "partial_unexpected_count": 0})
        by_index = {int(r.expectation_config.meta["medallion_index"]): r for r in result.results}
        outcomes = [_outcome(exp, by_index.get(first_of[_identity(exp)])) for exp in check.expectations]
        _add_samples(datasource.get_execution_engine(), target.kind, query, check.expectations, outcomes)
    for outcome, exp in zip(outcomes, check.expectations, strict=True):
        if exp.column in pii or pii & set(exp.column_list or ()):
            outcome.samples = [REDACTED for _ in outcome.samples]
    return TableGateResult(layer, check.table, query, outcomes)


def _add_samples(
    engine: Any, dialect: str, query: str, expectations: list[Expectation], outcomes: list[Outcome]
) -> None:
    """Up to ``SAMPLE_SIZE`` unexpected values of each failed row-level expectation, found by the engine."""
    import sqlalchemy as sa

    from medallion.quality.quarantine import failure_predicate, ident

    fetched: dict[str, list[Any]] = {}
    for exp, outcome in zip(expectations, outcomes, strict=True):
        if outcome.success or outcome.error or not outcome.unexpected_count or exp.type not in QUARANTINABLE:
            continue
        key = _identity(exp)
        if key not in fetched:
            columns = exp.column_list or [exp.column or ""]
            predicate = failure_predicate(exp, f"({query}) AS sample_source", dialect)
            select = ", ".join(ident(c, dialect) for c in columns)
            sql = f"SELECT {select} FROM ({query}) AS sample_batch WHERE {predicate} LIMIT {SAMPLE_SIZE}"
            rows = engine.execute_query(sa.text(sql)).fetchall()
            fetched[key] = [
                _plain(r[0]) if exp.column else {c: _plain(v) for c, v in zip(columns, r, strict=True)} for r in rows
            ]
        outcome.samples = fetched[key]


def _identity(exp: Expectation) -> str:
    return exp.type + json.dumps(exp.ge_kwargs(), sort_keys=True, default=str)


def _outcome(exp: Expectation, r: Any) -> Outcome:
    base = Outcome(
        exp.type, exp.ge_kwargs(), exp.severity.value, False, hint=exp.hint, runbook=exp.runbook, name=exp.name
    )
    if r is None:
        base.error = "Great Expectations returned no result for this expectation"
        return base
    info = r.exception_info or {}
    if info.get("raised_exception"):
        base.error = str(info.get("exception_message") or "expectation raised an exception")
        return base
    res = r.result or {}
    if not r.success and res.get("observed_value") is None and res.get("unexpected_count") is None:
        # GE reports some unsupported metrics as a plain failure with no evidence at all
        base.error = "the expectation could not be evaluated on this engine (no observed value)"
        return base
    base.success = bool(r.success)
    base.observed = _plain(res.get("observed_value"))
    base.unexpected_count = res.get("unexpected_count")
    base.unexpected_percent = res.get("unexpected_percent")
    base.samples = [_plain(v) for v in list(res.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]]
    return base


def _plain(value: Any) -> Any:
    """JSON- and human-friendly sample values (Decimal('-1.5') → -1.5, dates → ISO)."""
    import datetime as dt
    import decimal

    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


@contextmanager
def closing_dbapi_connections() -> Iterator[None]:
    """Close every DB-API connection SQLAlchemy opens inside the block.

    GE keeps engines (and a persisted connection) alive in caches; a DuckDB file stays locked
    by this process until its last connection closes, which would block the next writer.
    """
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    opened: list[Any] = []

    def remember(_dbapi_connection: Any, record: Any) -> None:
        opened.append(record)

    event.listen(Pool, "connect", remember)
    try:
        yield
    finally:
        event.remove(Pool, "connect", remember)
        for record in opened:
            with suppress(Exception):
                record.invalidate()  # closes the DB-API connection; the pool will not reuse it
