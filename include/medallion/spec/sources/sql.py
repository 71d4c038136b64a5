"""Source kind `sql`: rows of a query on an Airflow SQL connection (operator: bronze/sources/sql.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from medallion.spec.base import Identifier, StrictModel


class Incremental(StrictModel):
    """Extract only rows newer than the last committed extract's high watermark."""

    column: Identifier = Field(description="monotonic column, e.g. updated_at or an id")
    initial: str | int | float = Field("1970-01-01", description="watermark of the very first run (and after a reset)")


class SqlSource(StrictModel):
    """Rows from a query on an Airflow SQL connection (credentials live in the connection)."""

    kind: Literal["sql"]
    name: Identifier
    conn_id: str
    query: str = Field(description="SELECT statement; Jinja templates such as {{ ds }} are rendered")
    on_empty: Literal["fail", "warn", "allow"] = "fail"
    incremental: Incremental | None = None
    batch_rows: Annotated[int, Field(ge=1000, le=1_000_000)] = 100_000
    engine: Literal["auto", "dbapi"] = Field(
        "auto",
        description="auto: an Arrow-native engine where the connection type has one (PostgreSQL: DuckDB's "
        "postgres scanner), else DB-API cursors; dbapi: always stream through the hook's DB-API cursor",
    )
