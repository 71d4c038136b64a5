"""The lakehouse engine protocol: everything that differs between DuckDB (local) and Databricks.

The gates, publish, quarantine, contract types and the dbt profile all ask the engine of the
``lakehouse`` connection (``engines.engine_for(conn)``) instead of comparing ``conn.conn_type``.
A new engine is one module with one subclass of :class:`LakehouseEngine` plus one line in
``engines/__init__.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from medallion import layout


@dataclass(frozen=True)
class SqlTarget:
    """How GE reaches the data: a SQLAlchemy URL plus engine kwargs, or a Databricks warehouse."""

    kind: str  # the engine's conn_type
    connection_string: str
    engine_kwargs: dict[str, Any]
    databricks: dict[str, Any] | None = None

    def add_datasource(self, context: Any, name: str) -> Any:
        from medallion.engines import engine_named

        return engine_named(self.kind).add_datasource(context, name, self)


@dataclass(frozen=True)
class Guard:
    """A check before publishing: ``setup`` statements, then ``query``; ``hold(rows)`` returns the
    reasons to publish nothing (empty: go on)."""

    setup: Sequence[str]
    query: str
    hold: Callable[[list[tuple[Any, ...]]], list[Any]]


class LakehouseEngine(ABC):
    """One lakehouse engine, claimed by the Airflow connection type of ``lakehouse``."""

    #: The Airflow ``conn_type`` this engine serves.
    conn_type: ClassVar[str]
    #: Where it runs, for error messages ("local", "SQL warehouse").
    description: ClassVar[str]
    #: Actual column type names (as ``DESCRIBE`` writes them) → canonical contract type.
    type_names: ClassVar[dict[str, str]]

    # --- Great Expectations -------------------------------------------------------------------
    @abstractmethod
    def sql_target(self, conn: Any) -> SqlTarget:
        """Where GE validates the ``lakehouse`` connection's tables."""

    @abstractmethod
    def add_datasource(self, context: Any, name: str, target: SqlTarget) -> Any:
        """Register ``target`` as a GE data source."""

    # --- statements ---------------------------------------------------------------------------
    @abstractmethod
    def run_statements(self, conn: Any, statements: Sequence[str]) -> None:
        """Run statements: in one transaction where the engine has them, else in order."""

    @abstractmethod
    def query_all(self, conn: Any, sql: str) -> list[tuple[Any, ...]]:
        """Every row of a query."""

    def peek(self, conn: Any, queries: Sequence[str]) -> list[list[tuple[Any, ...]] | None]:
        """The rows of each read-only query (None for one that failed), for page views that must not wait
        long: the catalog's."""
        out: list[list[tuple[Any, ...]] | None] = []
        for sql in queries:
            try:
                out.append(self.query_all(conn, sql))
            except Exception:  # a table not there yet: that part of the page says so
                out.append(None)
        return out

    @abstractmethod
    def publish(self, conn: Any, statements: Sequence[str], guard: Guard | None) -> list[Any]:
        """Run a publish's statements after ``guard``; returns the guard's reasons when it held them back."""

    # --- SQL dialect --------------------------------------------------------------------------
    @abstractmethod
    def ident(self, name: str) -> str:
        """A quoted identifier."""

    @abstractmethod
    def string_literal(self, text: str) -> str:
        """A quoted string literal."""

    def literal(self, value: Any) -> str:
        """A SQL literal for a bool, number or (any other value as) string."""
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int | float):
            return repr(value)
        return self.string_literal(str(value))

    @abstractmethod
    def regex_matches(self, column: str, pattern: str) -> str:
        """SQL TRUE where ``column`` contains a match of the regex literal ``pattern`` (search, not full match)."""

    @abstractmethod
    def replace_table(self, staging: str, public: str, keep: str | None) -> list[str]:
        """Statements making ``staging`` (rows matching ``keep``) the new version of ``public``."""

    # --- contract types -----------------------------------------------------------------------
    @abstractmethod
    def describe_sql(self, query: str) -> str:
        """The statement listing ``(column, type)`` of ``query``'s result."""

    def column_types(self, conn: Any, query: str) -> list[tuple[str, str]]:
        """``(column, engine type)`` of ``query``'s result."""
        rows = self.query_all(conn, self.describe_sql(query))
        return [(str(row[0]), str(row[1])) for row in rows if row[0] and not str(row[0]).startswith("#")]

    @abstractmethod
    def canonical_type(self, text: str) -> str:
        """A (whitespace-normalised, non-decimal) engine type as a canonical contract type."""

    # --- access policies (spec ``grants``) -----------------------------------------------------
    #: Whether the engine enforces table privileges; where not (DuckDB) grants are checked and recorded only.
    enforces_grants: ClassVar[bool] = False

    def show_grants_sql(self, table: str) -> str | None:
        """The statement listing a table's current grants; None where the engine has no grants."""
        return None

    def current_grants(self, rows: Sequence[Sequence[Any]]) -> set[tuple[str, str]]:
        """``(principal, privilege)`` held on the table itself, from ``show_grants_sql``'s rows."""
        return set()

    def grant_statements(
        self, table: str, wanted: Mapping[str, Sequence[str]], current: set[tuple[str, str]]
    ) -> list[str]:
        """GRANT what ``wanted`` adds to ``current``, REVOKE what ``current`` holds beyond it."""
        return []

    def apply_grants(
        self, conn: Any, table: str, wanted: Mapping[str, Sequence[str]], *, pipeline: str, run_id: str
    ) -> list[str]:
        """Bring a published table's grants to ``wanted`` (reading the current ones first) and record them in
        ``ops.table_grants``; returns the GRANT/REVOKE statements run (none where the engine has no grants)."""
        show = self.show_grants_sql(table)
        statements = []
        if show is not None:
            statements = self.grant_statements(table, wanted, self.current_grants(self.query_all(conn, show)))
        self.run_statements(conn, [*statements, *self.record_grants_sql(table, wanted, pipeline, run_id)])
        return statements

    def record_grants_sql(
        self, table: str, wanted: Mapping[str, Sequence[str]], pipeline: str, run_id: str
    ) -> list[str]:
        """Replace the table's rows in ``ops.table_grants`` with ``wanted`` (one row per group)."""
        lit = self.literal
        rows = ", ".join(
            f"({lit(table)}, {lit(group)}, {lit(', '.join(privs))}, {lit(pipeline)}, {lit(run_id)}, "
            f"current_timestamp, {lit(self.enforces_grants)})"
            for group, privs in sorted(wanted.items())
        )
        return [
            f"CREATE SCHEMA IF NOT EXISTS {layout.OPS_SCHEMA}",
            f"CREATE TABLE IF NOT EXISTS {layout.TABLE_GRANTS} (table_name STRING, principal STRING, "
            "privileges STRING, pipeline STRING, run_id STRING, recorded_at TIMESTAMP, enforced BOOLEAN)",
            f"DELETE FROM {layout.TABLE_GRANTS} WHERE table_name = {lit(table)}",
            *([f"INSERT INTO {layout.TABLE_GRANTS} VALUES {rows}"] if rows else []),
        ]

    # --- dbt ----------------------------------------------------------------------------------
    @abstractmethod
    def dbt_profile(self, conn: Any, conn_id: str, schema: str, profile_args: dict[str, Any]) -> dict[str, Any]:
        """The dbt profile (target) for the connection."""

    def dbt_env_vars(self, conn: Any, conn_id: str, schema: str) -> dict[str, str]:
        """Environment variables the profile refers to (secrets)."""
        return {}
