"""Expectations derived from a data product's contract, so the contract is enforced, not just documented."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from medallion.spec.models import Contract, Expectation, FreshnessCheck, PipelineSpec, TableCheck

if TYPE_CHECKING:
    from medallion.quality.gate import Outcome


def contract_expectations(contract: Contract) -> list[Expectation]:
    """Columns exist; non-nullable columns have no nulls; the primary key is unique."""
    hint = f"the data contract of {contract.table} promises this to consumers; fix the producer, or change the contract"
    out = [Expectation(type="expect_column_to_exist", column=c.name, hint=hint) for c in contract.columns]
    out += [
        Expectation(type="expect_column_values_to_not_be_null", column=c.name, hint=hint)
        for c in contract.columns
        if not c.nullable
    ]
    if len(contract.primary_key) == 1:
        out.append(Expectation(type="expect_column_values_to_be_unique", column=contract.primary_key[0], hint=hint))
    elif contract.primary_key:
        out.append(
            Expectation(type="expect_compound_columns_to_be_unique", column_list=list(contract.primary_key), hint=hint)
        )
    return out


def layer_checks(spec: PipelineSpec, layer: str) -> list[TableCheck]:
    """The spec's suites for ``layer`` plus contract-derived expectations (and freshness) for its tables."""
    checks = {c.table: c for c in getattr(spec.quality, layer)}
    for contract in spec.contracts:
        if contract.table.split(".", 1)[0] != layer:
            continue
        derived_all = contract_expectations(contract)
        check = checks.get(contract.table) or TableCheck(table=contract.table, expectations=derived_all)
        seen = {(e.type, repr(e.ge_kwargs())) for e in check.expectations}
        derived = [e for e in derived_all if (e.type, repr(e.ge_kwargs())) not in seen]
        update: dict[str, object] = {"expectations": [*check.expectations, *derived]}
        if contract.freshness_column and check.freshness is None:
            update["freshness"] = FreshnessCheck(column=contract.freshness_column)
        checks[contract.table] = check.model_copy(update=update)
    return list(checks.values())


def pii_columns(spec: PipelineSpec, table: str) -> set[str]:
    """Columns whose values must never appear in samples, reports or alerts."""
    return {c.name for contract in spec.contracts if contract.table == table for c in contract.columns if c.pii}


def layer_contracts(spec: PipelineSpec, layer: str) -> list[Contract]:
    """Contracts enforced by ``layer``'s gate: those naming a table of that layer (silver.x, gold.x)."""
    return [c for c in spec.contracts if c.table.split(".", 1)[0] == layer]


def column_types(conn: Any, query: str) -> list[tuple[str, str]]:
    """``(column, engine type)`` of ``query``'s result on the lakehouse connection (DuckDB or Databricks)."""
    from medallion.engines import engine_for

    return engine_for(conn).column_types(conn, query)


def contract_outcomes(contract: Contract, engine: str, actual: list[tuple[str, str]]) -> list[Outcome]:
    """A critical outcome per contract column that is missing or has another type than declared."""
    from medallion.quality.contract_types import violations
    from medallion.quality.gate import Outcome

    declared = {c.name: c.type for c in contract.columns}
    return [
        Outcome(
            "contract",
            {"column": v.column, "declared": v.declared},
            "critical",
            False,
            observed=v.actual or "missing from the table",
            hint=f"{v.describe()}: the contract of {contract.table} promises it to consumers; fix the producer "
            "(cast the column) or, if consumers agreed, the contract",
        )
        for v in violations(engine, declared, actual)
    ]
