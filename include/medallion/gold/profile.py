"""dbt profile from the ``lakehouse`` connection, choosing the adapter by connection type.

The DAG is the same in every environment; only the connection differs. Cosmos picks a
profile mapping class when the DAG is parsed, which must not read connections, so this
mapping decides at run time: ``duckdb`` → dbt-duckdb (local), ``databricks`` → dbt-databricks.
"""

from __future__ import annotations

from typing import Any

from cosmos.profiles.base import BaseProfileMapping

from medallion import paths

#: dbt-duckdb connect attempts on a locked lakehouse file (it sleeps 2**attempt s between them).
LOCK_CONNECT_ATTEMPTS = 9


class LakehouseProfileMapping(BaseProfileMapping):
    airflow_connection_type = "duckdb"
    dbt_profile_type = "duckdb"
    required_fields: list[str] = []

    def __init__(self, conn_id: str, schema: str = "gold", **kwargs: Any):
        super().__init__(conn_id, **kwargs)
        self.schema = schema

    def _databricks(self) -> BaseProfileMapping:
        """Token auth, or OAuth M2M for a service principal: the provider's convention is
        ``extra.service_principal_oauth: true`` with the client id / secret as login / password."""
        from cosmos.profiles.databricks import DatabricksOauthProfileMapping, DatabricksTokenProfileMapping

        extra = self.conn.extra_dejson
        args = {"schema": self.schema, **({"catalog": extra["catalog"]} if extra.get("catalog") else {})}
        oauth = extra.get("service_principal_oauth") or extra.get("client_id")
        mapping = DatabricksOauthProfileMapping if oauth else DatabricksTokenProfileMapping
        return mapping(self.conn_id, profile_args=args)

    @property
    def profile(self) -> dict[str, Any]:
        conn_type = self.conn.conn_type
        if conn_type == "databricks":
            return self._databricks().profile
        if conn_type == "duckdb":
            from medallion.duck import offline_config

            return {
                "type": "duckdb",
                "path": str(paths.resolve(self.conn.host)),
                "schema": self.schema,
                "threads": 1,
                "config_options": offline_config(),
                # one writer per DuckDB file: wait for another local writer (up to ~8 minutes) instead of failing
                "retries": {"connect_attempts": LOCK_CONNECT_ATTEMPTS},
                **self.profile_args,
            }
        raise ValueError(
            f"connection {self.conn_id!r} has type {conn_type!r}; use 'duckdb' (local) or 'databricks' (warehouse)"
        )

    @property
    def env_vars(self) -> dict[str, str]:
        if self.conn.conn_type == "databricks":
            return self._databricks().env_vars
        return {}

    @property
    def mock_profile(self) -> dict[str, Any]:
        return {"type": "duckdb", "path": ":memory:", "schema": self.schema}
