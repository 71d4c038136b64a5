"""DuckDB, the local lakehouse: one file, one writer at a time, real transactions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from medallion import paths
from medallion.engines.base import Guard, LakehouseEngine, SqlTarget

if TYPE_CHECKING:  # duckdb itself is imported inside a task only
    from medallion import duck

#: dbt-duckdb connect attempts on a locked lakehouse file (it sleeps 2**attempt s between them).
LOCK_CONNECT_ATTEMPTS = 9
#: How long a read-only page view waits for a local writer's lock before showing the lakehouse as busy.
PEEK_WAIT_SECONDS = 1.0


def duckdb_target(database: str, s3: duck.S3Settings | None = None) -> SqlTarget:
    """DuckDB through duckdb-engine, offline, optionally able to read ``s3://``."""
    from medallion import duck

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


class DuckDBEngine(LakehouseEngine):
    conn_type = "duckdb"
    description = "local"
    type_names = {
        "TINYINT": "tinyint",
        "SMALLINT": "smallint",
        "INTEGER": "int",
        "BIGINT": "bigint",
        "FLOAT": "float",
        "DOUBLE": "double",
        "BOOLEAN": "boolean",
        "VARCHAR": "string",
        "DATE": "date",
        # Databricks `timestamp` is an instant; DuckDB has both, and the local engine writes naive ones
        "TIMESTAMP WITH TIME ZONE": "timestamp",
        "TIMESTAMP": "timestamp",
        "TIMESTAMP_NS": "timestamp",
        "TIMESTAMP_MS": "timestamp",
        "TIMESTAMP_S": "timestamp",
        "BLOB": "binary",
    }

    def sql_target(self, conn: Any) -> SqlTarget:
        from medallion import duck

        database = str(paths.resolve(conn.host))
        duck.wait_until_free(database)  # GE's own connection would fail on another local writer's lock
        return duckdb_target(database)

    def add_datasource(self, context: Any, name: str, target: SqlTarget) -> Any:
        return context.data_sources.add_sql(
            name=name, connection_string=target.connection_string, kwargs=target.engine_kwargs
        )

    def run_statements(self, conn: Any, statements: Sequence[str]) -> None:
        """One transaction: all tables of a layer change together."""
        if statements:
            self.publish(conn, statements, None)

    def query_all(self, conn: Any, sql: str) -> list[tuple[Any, ...]]:
        from medallion import duck

        con = duck.connect(paths.resolve(conn.host), read_only=False)
        try:
            return [tuple(r) for r in con.execute(sql).fetchall()]
        finally:
            con.close()

    def peek(self, conn: Any, queries: Sequence[str]) -> list[list[tuple[Any, ...]] | None]:
        """One read-only connection, given up after a second when a local writer holds the file (a page must
        not hang: it shows the lakehouse as busy)."""
        import duckdb

        from medallion import duck

        con = duck.connect(paths.resolve(conn.host), read_only=True, wait=PEEK_WAIT_SECONDS)
        out: list[list[tuple[Any, ...]] | None] = []
        try:
            for sql in queries:
                try:
                    out.append([tuple(r) for r in con.execute(sql).fetchall()])
                except duckdb.Error:  # e.g. a table not created yet
                    out.append(None)
        finally:
            con.close()
        return out

    def publish(self, conn: Any, statements: Sequence[str], guard: Guard | None) -> list[Any]:
        """The guard's check, every statement and its clean-up in ONE transaction."""
        from medallion import duck

        con = duck.connect(paths.resolve(conn.host))
        try:
            for sql in guard.setup if guard else ():
                con.execute(sql)
            con.execute("BEGIN TRANSACTION")
            try:
                if guard is not None:
                    held = guard.hold([tuple(r) for r in con.execute(guard.query).fetchall()])
                    if held:
                        con.execute("ROLLBACK")
                        return held
                for sql in statements:
                    con.execute(sql)
                con.execute("COMMIT")  # all tables of the layer change together
            except Exception:
                con.execute("ROLLBACK")
                raise
        finally:
            con.close()
        return []

    def ident(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def string_literal(self, text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    def regex_matches(self, column: str, pattern: str) -> str:
        return f"regexp_matches({column}, {pattern})"

    def replace_table(self, staging: str, public: str, keep: str | None) -> list[str]:
        """``CREATE OR REPLACE TABLE … AS SELECT`` (one copy; DuckDB cannot move a table between schemas)."""
        return [f"CREATE OR REPLACE TABLE {public} AS SELECT * FROM {staging}" + (f" WHERE {keep}" if keep else "")]

    def describe_sql(self, query: str) -> str:
        return f"DESCRIBE {query}"

    def canonical_type(self, text: str) -> str:
        return self.type_names.get(text, text)

    def dbt_profile(self, conn: Any, conn_id: str, schema: str, profile_args: dict[str, Any]) -> dict[str, Any]:
        from medallion import duck

        return {
            "type": "duckdb",
            "path": str(paths.resolve(conn.host)),
            "schema": schema,
            "threads": 1,
            "config_options": duck.offline_config(),
            # one writer per DuckDB file: wait for another local writer (up to ~8 minutes) instead of failing
            "retries": {"connect_attempts": LOCK_CONNECT_ATTEMPTS},
            **profile_args,
        }
