"""Build the SQL engine a gate validates against; never pull tables into pandas.

bronze: an in-memory DuckDB reading the committed parquet files straight from S3.
silver/gold: the lakehouse connection — DuckDB locally, a Databricks SQL warehouse in
production (GE's ``add_databricks_sql``), so validation queries run in the warehouse.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from enum import StrEnum
from types import SimpleNamespace
from typing import Any

from medallion import duck


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


@dataclass(frozen=True)
class SqlTarget:
    """How GE reaches the data: a SQLAlchemy URL plus engine kwargs, or a Databricks warehouse."""

    kind: str  # "duckdb" | "databricks"
    connection_string: str
    engine_kwargs: dict[str, Any]
    databricks: dict[str, Any] | None = None

    def add_datasource(self, context: Any, name: str) -> Any:
        if self.kind == "databricks":
            return context.data_sources.add_databricks_sql(name=name, connection_string=self.connection_string)
        return context.data_sources.add_sql(
            name=name, connection_string=self.connection_string, kwargs=self.engine_kwargs
        )


def duckdb_target(database: str, s3: duck.S3Settings | None = None) -> SqlTarget:
    """DuckDB through duckdb-engine, offline, optionally able to read ``s3://``."""
    config: dict[str, Any] = dict(duck.offline_config())
    connect_args: dict[str, Any] = {"config": config}
    if s3 is not None:
        connect_args["preload_extensions"] = ["httpfs"]
        config.update(_legacy_s3_settings(s3))
    return SqlTarget("duckdb", f"duckdb:///{database}", {"connect_args": connect_args})


def _legacy_s3_settings(s3: duck.S3Settings) -> dict[str, Any]:
    """S3 as DuckDB settings (config dict), since a SECRET needs a statement GE cannot run first."""
    from urllib.parse import urlparse

    settings: dict[str, Any] = {"s3_region": s3.region}
    if s3.key_id:
        settings |= {"s3_access_key_id": s3.key_id, "s3_secret_access_key": s3.secret or ""}
    if s3.session_token:
        settings["s3_session_token"] = s3.session_token
    if s3.endpoint_url:
        url = urlparse(s3.endpoint_url)
        settings |= {"s3_endpoint": url.netloc, "s3_url_style": "path", "s3_use_ssl": url.scheme == "https"}
    return settings


def lakehouse_target(conn: Any) -> SqlTarget:
    """Target for the ``lakehouse`` Airflow connection (duckdb file or databricks warehouse)."""
    if conn.conn_type == "duckdb":
        from medallion import paths

        database = str(paths.resolve(conn.host))
        duck.wait_until_free(database)  # GE's own connection would fail on another local writer's lock
        return duckdb_target(database)
    if conn.conn_type == "databricks":
        from urllib.parse import quote

        extra = conn.extra_dejson
        http_path = extra.get("http_path") or extra.get("sql_endpoint_http_path")
        if not http_path:
            raise ValueError(
                f"connection {conn.conn_id!r}: set extra.http_path to the SQL warehouse's HTTP path "
                "(Databricks → SQL Warehouses → Connection details), e.g. /sql/1.0/warehouses/<id>"
            )
        catalog = extra.get("catalog", "main")
        host = conn.host.removeprefix("https://").rstrip("/")
        query = f"http_path={quote(http_path)}&catalog={quote(catalog)}&schema={quote(conn.schema or 'default')}"
        url = f"databricks://token:{quote(conn.password or '', safe='')}@{host}?{query}"
        return SqlTarget("databricks", url, {}, databricks={"catalog": catalog})
    raise ValueError(
        f"connection {conn.conn_id!r} has type {conn.conn_type!r}; the lakehouse connection must be "
        "'duckdb' (local) or 'databricks' (SQL warehouse)"
    )
