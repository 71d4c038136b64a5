"""dbt profile from the ``lakehouse`` connection, choosing the adapter by the connection's engine.

The DAG is the same in every environment; only the connection differs. Cosmos picks a
profile mapping class when the DAG is parsed, which must not read connections, so this
mapping decides at run time through ``medallion.engines``: ``duckdb`` → dbt-duckdb (local),
``databricks`` → dbt-databricks.
"""

from __future__ import annotations

from typing import Any

from cosmos.profiles.base import BaseProfileMapping

from medallion.engines.duckdb import LOCK_CONNECT_ATTEMPTS

__all__ = ["LOCK_CONNECT_ATTEMPTS", "LakehouseProfileMapping"]


class LakehouseProfileMapping(BaseProfileMapping):
    airflow_connection_type = "duckdb"
    dbt_profile_type = "duckdb"
    required_fields: list[str] = []

    def __init__(self, conn_id: str, schema: str = "gold", **kwargs: Any):
        super().__init__(conn_id, **kwargs)
        self.schema = schema

    @property
    def profile(self) -> dict[str, Any]:
        from medallion.engines import engine_for

        return engine_for(self.conn).dbt_profile(self.conn, self.conn_id, self.schema, self.profile_args)

    @property
    def env_vars(self) -> dict[str, str]:
        from medallion.engines import engine_for

        return engine_for(self.conn).dbt_env_vars(self.conn, self.conn_id, self.schema)

    @property
    def mock_profile(self) -> dict[str, Any]:
        return {"type": "duckdb", "path": ":memory:", "schema": self.schema}
