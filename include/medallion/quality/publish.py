"""Publish audited tables: the one step of write → audit → publish that readers can see.

Notebooks write ``staging.<pipeline>__<table>`` and dbt builds the run's models in
``staging_<pipeline>_<yyyymmdd>``; only after the layer's gate passes does this module make the
new versions visible in ``silver.*`` / ``gold.*``, so readers never see data that failed its gate
and a failed run leaves the last good version in place. Silver and gold publish through the same
functions.

Each published version is recorded in ``ops.published_versions`` (table, pipeline, logical date,
run, time, staging relation, load semantics). In ``snapshot`` mode a run older than the published
version does not overwrite it unless it is a declared backfill: ``publish`` returns the newer
versions it kept instead, and the caller warns.

Engines:
- DuckDB (local): the check, every table, the version rows and the staging clean-up in ONE
  transaction: readers see all tables of a layer change together or none.
- Databricks SQL warehouse: the statements of :func:`publish_statements` in order. Each statement
  is atomic on Delta, the sequence is not: between two tables of one publish a reader can see the
  first table new and the second still old (for seconds). Versions are recorded after the tables,
  so a retry after a partial publish repeats it whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from medallion import layout
from medallion.engines import Guard, engine_for, engine_named

SNAPSHOT, INCREMENTAL = "snapshot", "incremental"


@dataclass(frozen=True)
class Publication:
    """One staging relation → one public table; ``keep`` filters rows (quarantine), ``merge`` is
    ``(key columns, version column)`` for incremental load semantics (else the table is replaced)."""

    staging: str
    public: str
    keep: str | None = None
    merge: tuple[tuple[str, ...], str] | None = None


@dataclass(frozen=True)
class RunStamp:
    """Which run a published version came from (recorded in the lake)."""

    pipeline: str
    logical_date: str  # YYYY-MM-DD
    run_id: str
    semantics: str = SNAPSHOT


@dataclass(frozen=True)
class PublishedVersion:
    table: str
    logical_date: str
    run_id: str
    pipeline: str
    published_at: str

    def describe(self) -> str:
        return f"{self.table} = logical date {self.logical_date}, run {self.run_id} ({self.pipeline})"


@dataclass(frozen=True)
class PublishResult:
    """What ``publish`` did: tables published, or the newer versions that made it keep them back."""

    published: list[str]
    kept_newer: list[PublishedVersion]

    @property
    def skipped(self) -> bool:
        return bool(self.kept_newer)


VERSIONS_DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {layout.OPS_SCHEMA}",
    f"CREATE TABLE IF NOT EXISTS {layout.PUBLISHED_VERSIONS} (table_name STRING, pipeline STRING, "
    "logical_date DATE, run_id STRING, published_at TIMESTAMP, staging STRING, semantics STRING)",
)


def _literal(value: str, dialect: str) -> str:
    return engine_named(dialect).literal(value)


def table_statements(pub: Publication, dialect: str) -> list[str]:
    """The statements that make one staging relation the public table's new version.

    Replace: DuckDB ``CREATE OR REPLACE TABLE … AS SELECT`` (one copy; DuckDB cannot move a table
    between schemas); Databricks ``DEEP CLONE`` (one copy of the Delta files, no re-encoding), or
    ``AS SELECT … WHERE`` when quarantined rows are left out. Merge (incremental): create the table
    empty if it is new, then ``MERGE`` by key where the staged version is newer, so any date order
    converges to the newest version of each key.
    """
    source = f"(SELECT * FROM {pub.staging} WHERE {pub.keep})" if pub.keep else pub.staging
    if pub.merge is None:
        return engine_named(dialect).replace_table(pub.staging, pub.public, pub.keep)
    keys, version = pub.merge
    on = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    return [
        f"CREATE TABLE IF NOT EXISTS {pub.public} AS SELECT * FROM {pub.staging} WHERE 1 = 0",
        f"MERGE INTO {pub.public} AS t USING {source} AS s ON {on} "
        f"WHEN MATCHED AND s.{version} > t.{version} THEN UPDATE SET * "
        "WHEN NOT MATCHED THEN INSERT *",
    ]


def publish_statements(
    pubs: Sequence[Publication], dialect: str, stamp: RunStamp | None = None, drop_schema: str | None = None
) -> list[str]:
    """Every statement of one publish, in order: schemas, tables, then version rows, then staging clean-up."""
    schemas = dict.fromkeys(p.public.split(".", 1)[0] for p in pubs)  # first publish of a new lakehouse
    out = [f"CREATE SCHEMA IF NOT EXISTS {schema}" for schema in schemas]
    out += [sql for pub in pubs for sql in table_statements(pub, dialect)]
    if stamp is not None and pubs:
        lit = lambda v: _literal(v, dialect)  # noqa: E731
        rows = ", ".join(
            f"({lit(p.public)}, {lit(stamp.pipeline)}, DATE {lit(stamp.logical_date)}, {lit(stamp.run_id)}, "
            f"current_timestamp, {lit(p.staging)}, {lit(stamp.semantics)})"
            for p in pubs
        )
        out += [*VERSIONS_DDL, f"INSERT INTO {layout.PUBLISHED_VERSIONS} VALUES {rows}"]
    if drop_schema:
        out.append(f"DROP SCHEMA IF EXISTS {drop_schema} CASCADE")
    return out


def versions_query(tables: Sequence[str], dialect: str) -> str:
    """The current published version of each table (latest row per table)."""
    names = ", ".join(_literal(t, dialect) for t in tables)
    return (
        "SELECT table_name, CAST(logical_date AS STRING), run_id, pipeline, CAST(published_at AS STRING) "
        f"FROM {layout.PUBLISHED_VERSIONS} WHERE table_name IN ({names}) "
        "QUALIFY row_number() OVER (PARTITION BY table_name ORDER BY published_at DESC) = 1"
    )


def newer_versions(current: list[PublishedVersion], stamp: RunStamp, backfill: bool) -> list[PublishedVersion]:
    """Snapshot rule: a published version of a later logical date wins over this run (not a backfill)."""
    if stamp.semantics != SNAPSHOT or backfill:
        return []
    return [v for v in current if v.logical_date > stamp.logical_date]


def publish(
    conn: Any,
    items: Sequence[Publication],
    *,
    stamp: RunStamp | None = None,
    backfill: bool = False,
    drop_schema: str | None = None,
) -> PublishResult:
    """Publish on the ``lakehouse`` connection (DuckDB: one transaction; Databricks: in order)."""
    if not items:
        return PublishResult([], [])
    tables = [p.public for p in items]
    engine = engine_for(conn)
    guard = None
    if stamp is not None:
        guard = Guard(
            VERSIONS_DDL,
            versions_query(tables, engine.conn_type),
            lambda rows: newer_versions(_versions(rows), stamp, backfill),
        )
    kept = engine.publish(conn, publish_statements(items, engine.conn_type, stamp, drop_schema), guard)
    return PublishResult([], kept) if kept else PublishResult(tables, [])


def _versions(rows: Sequence[Sequence[Any]]) -> list[PublishedVersion]:
    return [PublishedVersion(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows]


def published_versions(conn: Any, tables: Sequence[str]) -> list[PublishedVersion]:
    """The version each table is published at now (tables never published are left out)."""
    if not tables:
        return []
    try:
        return _versions(query_all(conn, versions_query(tables, engine_for(conn).conn_type)))
    except Exception:  # no version recorded yet (table missing): nothing to show
        return []


def run_statements(conn: Any, statements: list[str]) -> None:
    """Statements on the lakehouse: one DuckDB transaction, or in order on a Databricks warehouse.

    On Databricks each Delta statement is atomic for readers; callers order them so a retry is safe.
    """
    engine_for(conn).run_statements(conn, statements)


def query_one(conn: Any, sql: str) -> tuple[Any, ...]:
    """The single row of an aggregate query on the lakehouse connection."""
    rows = query_all(conn, sql)
    return tuple(rows[0]) if rows else ()


def query_all(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    """Every row of a query on the lakehouse connection."""
    return engine_for(conn).query_all(conn, sql)
