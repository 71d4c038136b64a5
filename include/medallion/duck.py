"""DuckDB connections that work offline: bundled extensions, S3 secret from a connection.

DuckDB is the local lakehouse engine and the reader of landed parquet. It must never try to
download an extension (there may be no internet), so extensions come from the
``duckdb-ext-*`` wheels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import duckdb

LAYER_SCHEMAS = ("bronze", "silver", "gold", "staging", "quality")


def extension_directory() -> str:
    """Where the ``duckdb-ext-*`` wheels put the extension binaries."""
    import duckdb_ext  # type: ignore[import-not-found]

    return str(Path(next(iter(duckdb_ext.__path__))) / "extensions")


def offline_config() -> dict[str, Any]:
    """Connection config that forbids extension downloads (also used for dbt-duckdb)."""
    return {
        "extension_directory": extension_directory(),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }


@dataclass(frozen=True)
class S3Settings:
    """What DuckDB needs to reach an S3 endpoint (real AWS or the local server)."""

    key_id: str | None = None
    secret: str | None = None
    region: str = "us-east-1"
    endpoint_url: str | None = None
    session_token: str | None = None

    @classmethod
    def from_connection(cls, conn: Any) -> S3Settings:
        """Build from an Airflow ``aws`` connection (object with login/password/extra_dejson)."""
        extra = dict(getattr(conn, "extra_dejson", None) or {})
        return cls(
            key_id=getattr(conn, "login", None) or extra.get("aws_access_key_id"),
            secret=getattr(conn, "password", None) or extra.get("aws_secret_access_key"),
            region=extra.get("region_name", "us-east-1"),
            endpoint_url=extra.get("endpoint_url"),
            session_token=extra.get("aws_session_token"),
        )

    def secret_sql(self) -> str:
        """``CREATE SECRET`` statement; without keys DuckDB uses the AWS credential chain."""
        opts = ["TYPE s3", f"REGION {_q(self.region)}"]
        if self.key_id:
            opts += [f"KEY_ID {_q(self.key_id)}", f"SECRET {_q(self.secret or '')}"]
            if self.session_token:
                opts.append(f"SESSION_TOKEN {_q(self.session_token)}")
        else:
            opts.append("PROVIDER credential_chain")
        if self.endpoint_url:
            url = urlparse(self.endpoint_url)
            opts += [f"ENDPOINT {_q(url.netloc)}", "URL_STYLE 'path'", f"USE_SSL {url.scheme == 'https'}"]
        return f"CREATE OR REPLACE SECRET medallion_s3 ({', '.join(opts)})"


def _q(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def release_dbt_duckdb() -> None:
    """Close dbt-duckdb's cached connection if dbt ran in this process (cosmos DBT_RUNNER).

    DuckDB refuses a second connection to a file that this process already holds with a
    different configuration, and another process cannot open it at all; dbt-duckdb keeps
    its handle until told otherwise.
    """
    import sys

    manager = sys.modules.get("dbt.adapters.duckdb.connections")
    if manager is not None:
        env = manager.DuckDBConnectionManager._ENV
        if env is not None and getattr(env, "conn", None) is not None:
            env.conn.close()
            env.conn = None
        manager.DuckDBConnectionManager.close_all_connections()


def connect(
    database: str | Path = ":memory:",
    *,
    s3: S3Settings | None = None,
    read_only: bool = False,
    create_schemas: bool = False,
    wait: float | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open DuckDB offline; optionally able to read/write ``s3://`` and with the layer schemas.

    ``wait``: seconds to wait for another process's lock (default ``LOCK_WAIT_SECONDS``, for writers)."""
    if str(database) != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        release_dbt_duckdb()
    con = _connect_waiting(str(database), read_only, wait)
    if s3 is not None:
        con.execute("LOAD httpfs")
        con.execute(s3.secret_sql())
    if create_schemas and not read_only:
        for schema in LAYER_SCHEMAS:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    return con


#: How long a local writer waits for the lakehouse file held by another process before failing.
LOCK_WAIT_SECONDS = 600.0


def _connect_waiting(database: str, read_only: bool, wait: float | None = None) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect``, waiting while another process holds the file's single-writer lock.

    Every local lakehouse writer (tasks, the emulator's notebooks, dbt-duckdb with its own retries)
    goes through here, so two runs that reach the file together queue instead of failing.
    """
    import logging
    import time

    limit = LOCK_WAIT_SECONDS if wait is None else wait
    deadline = time.monotonic() + limit
    delay, warned = 0.2, False
    while True:
        try:
            return duckdb.connect(database, read_only=read_only, config=offline_config())
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() + delay > deadline:
                raise duckdb.IOException(
                    f"{exc}\nThe lakehouse {database} stayed locked by another writer for {limit:.0f} s; "
                    "a local run holds it (stop it, or let it finish), then retry."
                ) from exc
            if not warned:
                logging.getLogger(__name__).warning(
                    "lakehouse %s is locked by another writer (%s); waiting up to %.0f s",
                    database,
                    str(exc).splitlines()[0][:200],
                    deadline - time.monotonic(),
                )
                warned = True
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def wait_until_free(database: str | Path) -> None:
    """Wait (as ``connect`` does) until no other process holds the file, for a client that opens it itself
    (GE's SQLAlchemy engine); a writer that takes it in between fails that client, whose task retries."""
    if str(database) != ":memory:" and Path(database).exists():
        connect(database).close()
