"""Databricks, the production lakehouse: a SQL warehouse; each Delta statement is atomic, a sequence is not."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from medallion.engines.base import Guard, LakehouseEngine, SqlTarget
from medallion.spec.sqltypes import DECLARED

_SIZED_STRING = re.compile(r"^(?:varchar|char)\s*\(\s*\d+\s*\)$", re.IGNORECASE)  # Databricks stores these as string


class DatabricksEngine(LakehouseEngine):
    conn_type = "databricks"
    description = "SQL warehouse"
    #: ``DESCRIBE`` on Databricks reports the same SQL type names a contract declares (spec.sqltypes).
    type_names = DECLARED

    def sql_target(self, conn: Any) -> SqlTarget:
        """GE's ``add_databricks_sql``: validation queries run in the warehouse."""
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

    def add_datasource(self, context: Any, name: str, target: SqlTarget) -> Any:
        return context.data_sources.add_databricks_sql(name=name, connection_string=target.connection_string)

    def run_statements(self, conn: Any, statements: Sequence[str]) -> None:
        """In order; each Delta statement is atomic for readers, so callers order them for a safe retry."""
        if not statements:
            return
        from airflow.providers.databricks.hooks.databricks_sql import DatabricksSqlHook

        DatabricksSqlHook(databricks_conn_id=conn.conn_id).run(list(statements))

    def query_all(self, conn: Any, sql: str) -> list[tuple[Any, ...]]:
        from airflow.providers.common.sql.hooks.handlers import fetch_all_handler
        from airflow.providers.databricks.hooks.databricks_sql import DatabricksSqlHook

        rows = DatabricksSqlHook(databricks_conn_id=conn.conn_id).run(sql, handler=fetch_all_handler) or []
        return [tuple(r) for r in rows]

    def publish(self, conn: Any, statements: Sequence[str], guard: Guard | None) -> list[Any]:
        """The guard, then the statements in order: between two tables a reader can see one new, one old."""
        if guard is not None:
            self.run_statements(conn, list(guard.setup))
            held = guard.hold(self.query_all(conn, guard.query))
            if held:
                return held
        self.run_statements(conn, statements)
        return []

    def ident(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def string_literal(self, text: str) -> str:
        """Databricks string literals treat backslashes as escapes."""
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def regex_matches(self, column: str, pattern: str) -> str:
        return f"{column} RLIKE {pattern}"

    def replace_table(self, staging: str, public: str, keep: str | None) -> list[str]:
        """``DEEP CLONE`` (one copy of the Delta files, no re-encoding), or ``AS SELECT … WHERE`` with a filter."""
        if keep:
            return [f"CREATE OR REPLACE TABLE {public} AS SELECT * FROM {staging} WHERE {keep}"]
        return [f"CREATE OR REPLACE TABLE {public} DEEP CLONE {staging}"]

    def describe_sql(self, query: str) -> str:
        return f"DESCRIBE QUERY {query}"

    enforces_grants = True

    def show_grants_sql(self, table: str) -> str:
        return f"SHOW GRANTS ON TABLE {table}"

    def current_grants(self, rows: Sequence[Sequence[Any]]) -> set[tuple[str, str]]:
        """Rows are ``(principal, action_type, object_type, object_key)``; grants inherited from the schema
        or catalog are listed too, but only the table's own are the spec's to manage."""
        return {(str(r[0]), str(r[1]).upper()) for r in rows if len(r) < 3 or str(r[2]).upper() == "TABLE"}

    def grant_statements(
        self, table: str, wanted: Mapping[str, Sequence[str]], current: set[tuple[str, str]]
    ) -> list[str]:
        """One GRANT per group missing privileges, one REVOKE per group holding privileges the spec no longer
        lists (groups dropped from the spec lose everything medallion granted on the table)."""
        want = {(group, priv.upper()) for group, privs in wanted.items() for priv in privs}
        out = []
        for verb, pairs, word in (("GRANT", want - current, "TO"), ("REVOKE", current - want, "FROM")):
            for group in sorted({g for g, _ in pairs}):
                privs = ", ".join(sorted(p for g, p in pairs if g == group))
                out.append(f"{verb} {privs} ON TABLE {table} {word} {self.ident(group)}")
        return out

    def canonical_type(self, text: str) -> str:
        if _SIZED_STRING.match(text):
            return "string"
        return self.type_names.get(text.lower(), text.lower())

    def _profile_mapping(self, conn: Any, conn_id: str, schema: str) -> Any:
        """Token auth, or OAuth M2M for a service principal: the provider's convention is
        ``extra.service_principal_oauth: true`` with the client id / secret as login / password."""
        from cosmos.profiles.databricks import DatabricksOauthProfileMapping, DatabricksTokenProfileMapping

        extra = conn.extra_dejson
        args = {"schema": schema, **({"catalog": extra["catalog"]} if extra.get("catalog") else {})}
        oauth = extra.get("service_principal_oauth") or extra.get("client_id")
        mapping = DatabricksOauthProfileMapping if oauth else DatabricksTokenProfileMapping
        return mapping(conn_id, profile_args=args)

    def dbt_profile(self, conn: Any, conn_id: str, schema: str, profile_args: dict[str, Any]) -> dict[str, Any]:
        return self._profile_mapping(conn, conn_id, schema).profile

    def dbt_env_vars(self, conn: Any, conn_id: str, schema: str) -> dict[str, str]:
        return self._profile_mapping(conn, conn_id, schema).env_vars
