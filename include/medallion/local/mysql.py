"""A throwaway MariaDB (MySQL protocol) server from the machine's binaries, for tests and benchmarks.

``mariadb-install-db`` creates a data directory in a temporary folder, ``mariadbd`` serves it on
127.0.0.1 only (and on a private unix socket the setup uses), a database and a user with a
password are created, and the server is stopped by its PID (then the folder is removed).
"""

from __future__ import annotations

import getpass
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medallion.local.service import LocalService, free_port, stop_process, wait_listening


def mariadb_bin(name: str) -> str | None:
    """A MariaDB program (``mariadbd`` lives in /usr/sbin, often not on a user's PATH)."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")


def mariadb_available() -> bool:
    return all(mariadb_bin(n) for n in ("mariadbd", "mariadb-install-db", "mariadb"))


@dataclass
class MariaDBServer(LocalService):
    user: str = "medallion"
    password: str = "medallion-test"
    database: str = "shop"
    port: int = 0
    start_timeout: float = 60.0

    def __post_init__(self) -> None:
        self._dir: Path | None = None
        self._process: subprocess.Popen | None = None

    @property
    def socket_path(self) -> Path:
        assert self._dir is not None, "server not started"
        return self._dir / "mysqld.sock"

    def start(self) -> MariaDBServer:
        if not mariadb_available():
            raise RuntimeError("MariaDB binaries (mariadbd, mariadb-install-db, mariadb) are not installed")
        self.port = self.port or free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="medallion-mariadb-"))
        os_user = getpass.getuser()
        data = self._dir / "data"
        subprocess.run(
            [
                str(mariadb_bin("mariadb-install-db")),
                "--no-defaults",
                f"--datadir={data}",
                f"--user={os_user}",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=180,
        )
        log = (self._dir / "server.log").open("wb")
        self._process = subprocess.Popen(
            [
                str(mariadb_bin("mariadbd")),
                "--no-defaults",
                f"--datadir={data}",
                f"--socket={self.socket_path}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--user={os_user}",
                f"--pid-file={self._dir / 'mariadbd.pid'}",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=32M",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        try:
            wait_listening(
                self._process, self.port, self._dir / "server.log", what="mariadbd", timeout=self.start_timeout
            )
            self.sql(
                f"CREATE DATABASE `{self.database}`",
                f"CREATE USER '{self.user}'@'127.0.0.1' IDENTIFIED BY '{self.password}'",
                f"GRANT ALL ON `{self.database}`.* TO '{self.user}'@'127.0.0.1'",
            )
        except BaseException:
            self.stop()
            raise
        return self

    def sql(self, *statements: str, database: str = "") -> str:
        """Run statements as the server's administrator over the private socket; their output."""
        done = subprocess.run(
            [
                str(mariadb_bin("mariadb")),
                "--no-defaults",
                f"--socket={self.socket_path}",
                f"--user={getpass.getuser()}",
                "--batch",
                *([database] if database else []),
                "-e",
                ";\n".join(statements),
            ],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=300,
        )
        if done.returncode:
            raise RuntimeError(f"MariaDB statement failed: {done.stderr.strip()}")
        return done.stdout

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process, timeout=30)
            self._process = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def connection_json(self, password: str | None = None) -> dict[str, Any]:
        """An Airflow ``mysql`` connection for AIRFLOW_CONN_* variables. The provider's default
        client is mysqlclient (a C extension built against libmysqlclient); the connection extra
        selects mysql-connector-python, which installs from a wheel."""
        return {
            "conn_type": "mysql",
            "host": "127.0.0.1",
            "port": self.port,
            "login": self.user,
            "password": self.password if password is None else password,
            "schema": self.database,
            "extra": {"client": "mysql-connector-python"},
        }
