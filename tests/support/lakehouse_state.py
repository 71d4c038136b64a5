"""Test helpers for the session's shared lakehouse."""

from __future__ import annotations


def forget_earlier_runs(lakehouse: str) -> None:
    """Each test publishes its dates in its own order: no version history (snapshot rule), no recorded grants and
    no quarantine tables (their columns follow the suite that made them) from an earlier test of the session."""
    from medallion import duck

    con = duck.connect(lakehouse)
    try:
        con.execute("DROP TABLE IF EXISTS ops.published_versions")
        con.execute("DROP TABLE IF EXISTS ops.table_grants")
        con.execute("DROP SCHEMA IF EXISTS quarantine CASCADE")
    finally:
        con.close()
