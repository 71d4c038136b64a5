"""Lakehouse engines, chosen by the ``lakehouse`` connection's type in this one place."""

from __future__ import annotations

from typing import Any

from medallion.engines.base import Guard, LakehouseEngine, SqlTarget
from medallion.engines.databricks import DatabricksEngine
from medallion.engines.duckdb import DuckDBEngine

__all__ = ["ENGINES", "Guard", "LakehouseEngine", "SqlTarget", "apply_grants", "engine_for", "engine_named"]

#: conn_type → engine; a new engine is one module and one entry here.
ENGINES: dict[str, LakehouseEngine] = {e.conn_type: e for e in (DuckDBEngine(), DatabricksEngine())}


def engine_named(conn_type: str, conn_id: str = "lakehouse") -> LakehouseEngine:
    """The engine for an Airflow connection type; a clear error naming the supported ones."""
    try:
        return ENGINES[conn_type]
    except KeyError:
        supported = " or ".join(f"{t!r} ({e.description})" for t, e in ENGINES.items())
        raise ValueError(
            f"connection {conn_id!r} has type {conn_type!r}; the lakehouse connection must be {supported}"
        ) from None


def engine_for(conn: Any) -> LakehouseEngine:
    """The engine of a ``lakehouse`` Airflow connection."""
    return engine_named(conn.conn_type, getattr(conn, "conn_id", "lakehouse"))


def apply_grants(conn: Any, spec: Any, tables: list[str], run_id: str) -> dict[str, list[str]]:
    """After a publish: each table's grants as the spec sets them (``PipelineSpec.grants_for``), applied where the
    engine has grants and recorded in ``ops.table_grants``; ``{table: GRANT/REVOKE statements run}``."""
    engine = engine_for(conn)
    return {t: engine.apply_grants(conn, t, spec.grants_for(t), pipeline=spec.id, run_id=run_id) for t in tables}
