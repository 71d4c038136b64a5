"""A throwaway PostgreSQL server from the machine's binaries, for tests and benchmarks.

PostgreSQL refuses to run as root, so when we are root the server runs as the ``postgres``
user. It listens on 127.0.0.1 only, with password (scram) authentication, and is stopped by
``pg_ctl stop`` (and its data directory removed) when the context ends.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medallion.local.service import LocalService, free_port

BIN_DIRS = [Path("/usr/lib/postgresql") / v / "bin" for v in ("17", "16", "15", "14")]


def pg_bin() -> Path | None:
    """The folder with initdb/pg_ctl, or None when PostgreSQL is not installed."""
    return next((d for d in BIN_DIRS if (d / "initdb").is_file()), None)


@dataclass
class PostgresServer(LocalService):
    user: str = "medallion"
    password: str = "medallion-test"
    database: str = "shop"
    port: int = 0

    def __post_init__(self) -> None:
        self._dir: Path | None = None

    def _run(self, *args: str) -> None:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*as_postgres, *args], check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120
        )

    def start(self) -> PostgresServer:
        bindir = pg_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin")
        if not self.port:
            self.port = free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="medallion-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self._dir, "postgres", "postgres")
        data = self._dir / "data"
        pwfile = self._dir / "pw"
        pwfile.write_text(self.password)
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres", "postgres")
        self._run(
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            self.user,
            "--pwfile",
            str(pwfile),
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "-E",
            "UTF8",
        )
        self._run(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(self._dir / "log"),
            "-w",
            "-o",
            f"-h 127.0.0.1 -p {self.port} -k {self._dir}",
            "start",
        )
        # over the unix socket (trust), never prompting for a password
        self._run(str(bindir / "createdb"), "-h", str(self._dir), "-p", str(self.port), "-U", self.user, self.database)
        return self

    def stop(self) -> None:
        if self._dir is None:
            return
        bindir = pg_bin()
        try:
            self._run(str(bindir / "pg_ctl"), "-D", str(self._dir / "data"), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def connect(self) -> Any:
        """A psycopg2 connection as the owner, e.g. to create and fill tables."""
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user=self.user, password=self.password, dbname=self.database
        )

    def connection_json(self, password: str | None = None) -> dict[str, Any]:
        """An Airflow ``postgres`` connection for AIRFLOW_CONN_* variables."""
        return {
            "conn_type": "postgres",
            "host": "127.0.0.1",
            "port": self.port,
            "login": self.user,
            "password": self.password if password is None else password,
            "schema": self.database,
        }
