"""Where the gates validate: the lakehouse connection decides (DuckDB file locally, a Databricks
SQL warehouse in production). A real warehouse is out of reach here, so the production side is
checked as far as it goes without one: the SQLAlchemy URL GE receives and the dialect it loads."""

from __future__ import annotations

import json

import pytest
import sqlalchemy
from airflow.models.connection import Connection

from medallion.quality.engine import lakehouse_target

TOKEN = "dapi+abc/def=="  # characters that break a URL unless quoted


def databricks(extra: dict) -> Connection:
    return Connection(
        conn_id="lakehouse",
        conn_type="databricks",
        host="https://adb-1234.5.azuredatabricks.net/",
        password=TOKEN,
        schema="silver",
        extra=json.dumps(extra),
    )


def test_databricks_lakehouse_gives_ge_a_warehouse_url_with_the_token_quoted() -> None:
    target = lakehouse_target(databricks({"http_path": "/sql/1.0/warehouses/abc123", "catalog": "prod"}))
    url = sqlalchemy.engine.make_url(target.connection_string)
    assert (target.kind, url.drivername, url.host, url.username) == (
        "databricks",
        "databricks",
        "adb-1234.5.azuredatabricks.net",
        "token",
    )
    assert url.password == TOKEN
    assert dict(url.query) == {"http_path": "/sql/1.0/warehouses/abc123", "catalog": "prod", "schema": "silver"}
    engine = sqlalchemy.create_engine(url)  # needs databricks-sqlalchemy (the image pins it); no connection yet
    assert engine.dialect.name == "databricks"
    compiled = sqlalchemy.select(sqlalchemy.func.count()).select_from(sqlalchemy.table("orders", schema="silver"))
    assert "FROM silver.orders" in str(compiled.compile(dialect=engine.dialect))
    assert target.databricks == {"catalog": "prod"}


def test_databricks_lakehouse_without_http_path_says_where_to_find_it() -> None:
    with pytest.raises(ValueError, match=r"extra\.http_path .*SQL Warehouses → Connection details"):
        lakehouse_target(databricks({}))


def test_unsupported_lakehouse_connection_type_is_explained() -> None:
    with pytest.raises(ValueError, match=r"must be 'duckdb' .* or 'databricks'"):
        lakehouse_target(Connection(conn_id="lakehouse", conn_type="postgres", host="db"))
