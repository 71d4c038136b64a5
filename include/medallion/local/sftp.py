"""A throwaway OpenSSH SFTP server from the machine's ``sshd``, for tests and demos.

It gets its own host key, client key, ``authorized_keys`` and config in a temporary folder,
listens on 127.0.0.1 only, accepts only that key for the current user, serves ``internal-sftp``
and is stopped by its PID (then the folder is removed).
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medallion.local.service import LocalService, free_port, stop_process, wait_listening

SSHD = "/usr/sbin/sshd"


def sshd_available() -> bool:
    return Path(SSHD).is_file() and shutil.which("ssh-keygen") is not None


@dataclass
class SftpServer(LocalService):
    port: int = 0
    start_timeout: float = 30.0

    def __post_init__(self) -> None:
        self._dir: Path | None = None
        self._process: subprocess.Popen | None = None
        self.user = getpass.getuser()

    @property
    def folder(self) -> Path:
        assert self._dir is not None, "server not started"
        return self._dir

    @property
    def client_key(self) -> Path:
        return self.folder / "client_ed25519"

    @property
    def host_public_key(self) -> str:
        """``ssh-ed25519 AAAA…``: what a client pins (the sftp connection's ``host_key`` extra)."""
        return " ".join((self.folder / "host_ed25519.pub").read_text().split()[:2])

    def start(self) -> SftpServer:
        if not sshd_available():
            raise RuntimeError(f"OpenSSH server ({SSHD}) or ssh-keygen is not installed")
        self.port = self.port or free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="medallion-sftp-"))
        for key in ("host_ed25519", "client_ed25519"):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", key, "-f", str(self.folder / key)],
                check=True,
                capture_output=True,
                stdin=subprocess.DEVNULL,
            )
        shutil.copy(self.folder / "client_ed25519.pub", self.folder / "authorized_keys")
        config = self.folder / "sshd_config"
        config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.folder / 'host_ed25519'}\n"
            f"PidFile {self.folder / 'sshd.pid'}\nAuthorizedKeysFile {self.folder / 'authorized_keys'}\n"
            f"AllowUsers {self.user}\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n"
            "Subsystem sftp internal-sftp\nLogLevel VERBOSE\n"
        )
        if os.geteuid() == 0:  # sshd's privilege separation directory (the Debian service creates it)
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        log = (self.folder / "sshd.log").open("wb")
        self._process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()
        try:
            wait_listening(
                self._process,
                self.port,
                self.folder / "sshd.log",
                what="sshd",
                timeout=self.start_timeout,
                banner=b"SSH-",
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process, timeout=10)
            self._process = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def connection_json(self, key_file: Path | None = None) -> dict[str, Any]:
        """An Airflow ``sftp`` connection: this server's key pinned, the client key as ``key_file``."""
        return {
            "conn_type": "sftp",
            "host": "127.0.0.1",
            "port": self.port,
            "login": self.user,
            "extra": {
                "key_file": str(key_file or self.client_key),
                "host_key": self.host_public_key,
                "look_for_keys": "false",
            },
        }
