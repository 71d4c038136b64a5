"""Start and stop the local embedded runtime: S3, Databricks emulator, Slack, SMTP.

Everything binds 127.0.0.1 on the ports written in ``airflow_settings.yaml`` (the same
connections Airflow uses), runs in one background process, and is stopped by its PID. S3 objects
are written through to ``.local/s3/`` (``s3_server.py``), so they survive a restart or a crash.
``python -m medallion.local.services up`` runs them in the foreground.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from medallion import connections, paths
from medallion.errors import MedallionError
from medallion.local.service import port_holder, port_taken
from medallion.settings import AirflowSettings, load_settings, settings_path


class LocalRuntimeError(MedallionError):
    """The local runtime cannot start or be used; the message is one line a person can act on."""


@dataclass(frozen=True)
class LocalEndpoints:
    """Ports and paths of the local runtime, read from the connections."""

    s3_port: int
    databricks_port: int
    slack_port: int
    smtp_port: int
    pagerduty_port: int
    lakehouse: str
    shop_db: str
    bucket: str
    state_dir: str

    @classmethod
    def from_settings(cls, settings: AirflowSettings) -> LocalEndpoints:
        s3 = urlparse(settings.connection(connections.LAKE_S3)["extra"]["endpoint_url"])
        slack = urlparse(settings.connection(connections.SLACK)["extra"]["base_url"])
        pagerduty = urlparse(settings.connection(connections.PAGERDUTY)["extra"]["base_url"])
        return cls(
            s3_port=int(s3.port or 80),
            databricks_port=int(settings.connection(connections.DATABRICKS)["port"]),
            slack_port=int(slack.port or 80),
            smtp_port=int(settings.connection(connections.SMTP)["port"]),
            pagerduty_port=int(pagerduty.port or 80),
            lakehouse=settings.connection(connections.LAKEHOUSE_SQL)["host"],
            shop_db=settings.connections.get("shop_db", {}).get("host", str(paths.local_dir() / "shop.sqlite")),
            bucket=_lake_bucket(),
            state_dir=str(paths.local_dir()),
        )

    @property
    def slack_dir(self) -> Path:
        return Path(self.state_dir) / "slack"

    @property
    def mail_dir(self) -> Path:
        return Path(self.state_dir) / "mail"

    @property
    def pagerduty_dir(self) -> Path:
        return Path(self.state_dir) / "pagerduty"

    @property
    def s3_dir(self) -> Path:
        return Path(self.state_dir) / "s3"

    def served(self) -> list[tuple[int, str, str]]:
        """(port, connection id, what answers there) for every server of the runtime."""
        return [
            (self.s3_port, connections.LAKE_S3, "local S3"),
            (self.databricks_port, connections.DATABRICKS, "Databricks emulator"),
            (self.slack_port, connections.SLACK, "Slack capture"),
            (self.smtp_port, connections.SMTP, "SMTP capture"),
            (self.pagerduty_port, connections.PAGERDUTY, "PagerDuty capture"),
        ]

    def ports(self) -> list[int]:
        return [port for port, _, _ in self.served()]


def _lake_bucket() -> str:
    defaults = paths.config_dir() / "defaults.yaml"
    with defaults.open(encoding="utf-8") as fh:
        return (yaml.safe_load(fh) or {}).get("lake", {}).get("bucket", "medallion-lake")


def _state_file() -> Path:
    return paths.local_dir() / "services.json"


def _s3_settings(ep: LocalEndpoints, settings: AirflowSettings) -> Any:
    from medallion.duck import S3Settings

    conn = settings.connection(connections.LAKE_S3)
    return S3Settings(
        conn.get("login"),
        conn.get("password"),
        conn["extra"].get("region_name", "us-east-1"),
        f"http://127.0.0.1:{ep.s3_port}",
    )


def serve(
    settings: AirflowSettings | None = None,
    ready: threading.Event | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run every local service until ``stop`` is set (or SIGTERM/SIGINT)."""
    import boto3
    from botocore.exceptions import ClientError

    from medallion.local.databricks import DatabricksEmulator
    from medallion.local.pagerduty_server import PagerDutyServer
    from medallion.local.s3_server import PersistentS3Server
    from medallion.local.slack_server import SlackServer
    from medallion.local.smtp_server import SmtpServer

    settings = settings or load_settings()
    ep = LocalEndpoints.from_settings(settings)
    stop = stop or threading.Event()
    started: list[Any] = []

    def start(service: Any, port: int) -> Any:
        """Start one server; a port taken since the check names the server, connection and holder."""
        try:
            started.append(service.start())
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            conn_id, what = next((c, w) for p, c, w in ep.served() if p == port)
            raise LocalRuntimeError(
                f"{what} cannot listen on 127.0.0.1:{port} ({conn_id}): held by {port_holder(port)} ({exc})"
            ) from exc
        return service

    try:
        s3_server = start(PersistentS3Server(port=ep.s3_port, root=ep.s3_dir), ep.s3_port)
        print(f"local S3: {s3_server.restored} object(s) restored from {ep.s3_dir}", flush=True)
        conn = settings.connection(connections.LAKE_S3)
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{ep.s3_port}",
            region_name="us-east-1",
            aws_access_key_id=conn.get("login"),
            aws_secret_access_key=conn.get("password"),
        )
        try:
            s3.create_bucket(Bucket=ep.bucket)
        except ClientError as exc:  # restored from .local/s3
            if exc.response.get("Error", {}).get("Code") not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise
        emulator = DatabricksEmulator(
            port=ep.databricks_port,
            project_dir=paths.project_root(),
            lakehouse_path=Path(ep.lakehouse),
            s3=_s3_settings(ep, settings),
        )
        start(emulator, ep.databricks_port)
        start(SlackServer(port=ep.slack_port, store_dir=ep.slack_dir), ep.slack_port)
        start(SmtpServer(port=ep.smtp_port, store_dir=ep.mail_dir), ep.smtp_port)
        start(PagerDutyServer(port=ep.pagerduty_port, store_dir=ep.pagerduty_dir), ep.pagerduty_port)
        if ready is not None:
            ready.set()
        while not stop.wait(0.5):
            pass
    finally:
        for service in reversed(started):
            began = time.monotonic()
            try:
                service.stop()
            except Exception as exc:  # keep stopping the others
                print(f"warning: could not stop {type(service).__name__}: {exc}", file=sys.stderr)
            print(f"stopped {type(service).__name__} in {time.monotonic() - began:.1f}s", flush=True)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def check_ports_free(ep: LocalEndpoints) -> None:
    """Refuse to start on a taken port: name the port, the connection it serves and what holds it."""
    taken = [
        f"{port} ({conn_id}, {what}) is held by {port_holder(port)}"
        for port, conn_id, what in ep.served()
        if port_taken(port)
    ]
    if taken:
        raise LocalRuntimeError(
            "cannot start the local runtime: on 127.0.0.1 port "
            + "; port ".join(taken)
            + f". Stop that process, or give the connection another port in {settings_path()}"
        )


def _is_runtime(pid: int) -> bool:
    """True if ``pid`` is alive and is a local runtime process (not a recycled pid)."""
    try:
        os.kill(pid, 0)
        return b"medallion.local.services" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except (ProcessLookupError, PermissionError, FileNotFoundError):
        return False
    except OSError:  # no /proc: trust the signal
        return True


def running() -> dict[str, Any] | None:
    """The state of the local runtime `medallion local up` started, if it still runs (a stale state file
    left by a crash is removed)."""
    state_file = _state_file()
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError:
        state = {}
    if isinstance(state.get("pid"), int) and _is_runtime(state["pid"]):
        return state
    state_file.unlink(missing_ok=True)
    return None


@contextmanager
def local_runtime(say: Callable[[str], None] = print) -> Iterator[dict[str, Any]]:
    """The runtime `medallion local up` keeps running, if there is one; else one started for the block."""
    state = running()
    if state is not None:
        ep = LocalEndpoints.from_settings(load_settings())
        recorded = ("s3_port", "databricks_port", "slack_port", "smtp_port", "pagerduty_port")
        if [state.get(f) for f in recorded] != ep.ports():
            raise LocalRuntimeError(
                f"the local runtime running (pid {state['pid']}) uses other ports than {settings_path()}: "
                "stop it with `medallion local down`, then retry"
            )
        say(f"▶ using the local runtime already running (pid {state['pid']}; `medallion local down` stops it)")
        yield state
        return
    say("▶ starting local services (S3, Databricks emulator, Slack, SMTP, PagerDuty) on 127.0.0.1 …")
    state = start_background()
    try:
        yield state
    finally:
        stop_background()
        say("■ local services stopped")


def start_background(timeout: float = 60) -> dict[str, Any]:
    """Start ``serve`` in a child process; return its state once every port answers."""
    settings = load_settings()
    ep = LocalEndpoints.from_settings(settings)
    ports = ep.ports()
    state = running()
    if state is not None:
        raise LocalRuntimeError(f"the local runtime is already running (pid {state['pid']}): `medallion local down`")
    check_ports_free(ep)
    log_file = paths.local_dir() / "services.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "medallion.local.services", "up"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=os.environ.copy(),
        )
    deadline = time.monotonic() + timeout
    while not all(_port_open(p) for p in ports):
        if proc.poll() is not None:
            raise LocalRuntimeError(f"local services exited early (code {proc.returncode}): {_last_line(log_file)}")
        if time.monotonic() > deadline:
            proc.kill()
            raise LocalRuntimeError(f"local services did not start within {timeout:.0f}s; see {log_file}")
        time.sleep(0.2)
    state = {"pid": proc.pid, **asdict(ep)}
    _state_file().write_text(json.dumps(state, indent=2), encoding="utf-8")
    return state


def _last_line(log_file: Path) -> str:
    lines = [line for line in log_file.read_text(errors="replace").splitlines() if line.strip()]
    return f"{lines[-1].strip()} (see {log_file})" if lines else f"see {log_file}"


def _gone(pid: int) -> bool:
    """True once ``pid`` has exited and let go of its ports (our own child is reaped, not left a zombie)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0]:
            return True
    except ChildProcessError:  # not our child
        pass
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in {"Z", "X"}
    except FileNotFoundError:
        return True
    except (OSError, IndexError):  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


def stop_background(timeout: float = 8) -> bool:
    """Stop the process recorded in the state file; True if one was running."""
    state_file = _state_file()
    if not state_file.exists():
        return False
    pid = json.loads(state_file.read_text(encoding="utf-8"))["pid"]
    state_file.unlink()
    if not _is_runtime(pid):  # gone, or a recycled pid that is not ours to stop
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.1)
    if not _gone(pid):
        os.kill(pid, signal.SIGKILL)
        for _ in range(50):
            if _gone(pid):
                break
            time.sleep(0.1)
    return True


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if args[:1] != ["up"]:
        print("usage: python -m medallion.local.services up", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    ready = threading.Event()
    threading.Thread(target=lambda: (ready.wait(), print("local services ready", flush=True)), daemon=True).start()
    serve(ready=ready, stop=stop)
    print("local services stopped", flush=True)
    # every service is stopped; library threads (DuckDB, sqlframe) must not keep the process alive
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
