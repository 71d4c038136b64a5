"""Build the SQL engine a gate validates against; never pull tables into pandas.

bronze: an in-memory DuckDB reading the committed parquet files straight from S3.
silver/gold: the lakehouse connection's engine (``medallion.engines``) — DuckDB locally, a
Databricks SQL warehouse in production (GE's ``add_databricks_sql``), so validation queries run
in the warehouse. This module also makes GE work on DuckDB (persisted connection, regex).
"""

from __future__ import annotations

import logging
import os
from enum import StrEnum
from types import SimpleNamespace
from typing import Any

from medallion.engines import SqlTarget, engine_for
from medallion.engines.duckdb import duckdb_target

__all__ = ["SqlTarget", "duckdb_target", "lakehouse_target", "quiet_import_gx"]


class _DuckDBDialect(StrEnum):
    """GE keeps one persisted connection only for dialects in a private tuple of enums."""

    DUCKDB = "duckdb"


def quiet_import_gx() -> Any:
    """Import Great Expectations (≈6 s) inside a task only, with analytics and chatter off."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx
    from great_expectations.execution_engine import sqlalchemy_execution_engine as see

    # this one module sets its own logger to INFO at import ("Created temporary directory … for
    # ephemeral docs site" in every gate's log): back to the level of the rest of GE
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)

    # DuckDB results vanish when GE closes its connection between metric queries: persist it.
    if _DuckDBDialect.DUCKDB not in see._PERSISTED_CONNECTION_DIALECTS:
        see._PERSISTED_CONNECTION_DIALECTS = (*see._PERSISTED_CONNECTION_DIALECTS, _DuckDBDialect.DUCKDB)
        _give_duckdb_a_dialect_module(see.SqlAlchemyExecutionEngine)
    return gx


def _give_duckdb_a_dialect_module(engine_cls: Any) -> None:
    """GE finds no dialect module for DuckDB and then silently fails regex expectations.

    duckdb-engine's dialect derives from PostgreSQL's, so GE's PostgreSQL expressions apply,
    except regex: PostgreSQL's ``~`` is a full match in DuckDB, so use ``regexp_matches``.
    """
    from sqlalchemy.dialects import postgresql

    class DuckDBAsPostgres(postgresql.dialect):  # type: ignore[misc,valid-type]
        """Marks GE's dialect module as DuckDB for the regex expression."""

    original_init = engine_cls.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        if self.dialect_name == _DuckDBDialect.DUCKDB and self.dialect_module is None:
            self.dialect_module = SimpleNamespace(dialect=DuckDBAsPostgres)

    engine_cls.__init__ = init
    _search_regex_on_duckdb(DuckDBAsPostgres)


def _search_regex_on_duckdb(marker: type) -> None:
    """GE's regex expectations search (``re.search``, Databricks ``regexp_like``); so must DuckDB's."""
    import sqlalchemy as sa
    from great_expectations.expectations.metrics import util
    from great_expectations.expectations.metrics.column_map_metrics import column_values_match_regex

    original = util.get_dialect_regex_expression

    def regex_expression(column: Any, regex: str, dialect: Any, positive: bool = True) -> Any:
        if getattr(dialect, "dialect", None) is marker:
            found = sa.func.regexp_matches(column, sa.literal(regex))
            return found if positive else sa.not_(found)
        return original(column, regex, dialect, positive)

    util.get_dialect_regex_expression = regex_expression
    column_values_match_regex.get_dialect_regex_expression = regex_expression


def lakehouse_target(conn: Any) -> SqlTarget:
    """Target for the ``lakehouse`` Airflow connection, built by its engine (``medallion.engines``)."""
    return engine_for(conn).sql_target(conn)
