"""A throwaway MariaDB (MySQL protocol) server from the machine's binaries, for tests and benchmarks.

``mariadb-install-db`` creates a data directory in a temporary folder, ``mariadbd`` serves it on
127.0.0.1 only (and on a private unix socket the setup uses), a database and a user with a
password are created, and the server is stopped by its PID (then the folder is removed).
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medallion.local.service import LocalService, free_port


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
            self._wait_ready()
            self.sql(
                f"CREATE DATABASE `{self.database}`",
                f"CREATE USER '{self.user}'@'127.0.0.1' IDENTIFIED BY '{self.password}'",
                f"GRANT ALL ON `{self.database}`.* TO '{self.user}'@'127.0.0.1'",
            )
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self._process is not None and self._dir is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                log = (self._dir / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"mariadbd exited with code {self._process.returncode}:\n{log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"mariadbd did not listen on 127.0.0.1:{self.port} within {self.start_timeout:.0f} s")

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
            if self._process.poll() is None:
                os.kill(self._process.pid, signal.SIGTERM)  # clean shutdown
                try:
                    self._process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
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
