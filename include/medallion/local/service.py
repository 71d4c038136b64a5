"""What every local server shares: ``with Server(...) as s:`` starts it and always stops it."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Self


class LocalService:
    """Mixin for servers with ``start() -> Self`` and an idempotent ``stop()``."""

    def start(self) -> Self:  # pragma: no cover - implemented by each server
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - implemented by each server
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


def serve_in_background(server: Any, name: str, poll_interval: float = 0.1) -> threading.Thread:
    """``server.serve_forever()`` (a socketserver or werkzeug server) in a daemon thread, started."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": poll_interval}, name=name, daemon=True
    )
    thread.start()
    return thread


def shut_down(server: Any, thread: threading.Thread | None, timeout: float = 5) -> None:
    """Stop ``serve_forever``, release the port, and wait for the serving thread."""
    server.shutdown()
    server.server_close()
    if thread is not None:
        thread.join(timeout=timeout)


def reply(handler: Any, status: int, payload: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
    """Write one complete HTTP response from a ``BaseHTTPRequestHandler`` (the capture servers' answers)."""
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(payload)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(payload)


#: Ports handed out for local servers: below the kernel's ephemeral range (32768+ on Linux), so the client
#: side of an outgoing connection (boto3, HTTP hooks, another test session) can never take one between the
#: moment it is picked and the moment its server binds it.
_SERVER_PORTS = range(20000, 32000)


#: Ports this process (or, through the environment, its parent session) already handed out: a server that is
#: not listening yet, or stopped for a moment, must not lose its port to another server of the same session.
RESERVED_PORTS_ENV = "MEDALLION_RESERVED_PORTS"
_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now (for servers the tests and benchmarks start).

    Random within ``_SERVER_PORTS`` rather than the kernel's ``bind(0)`` choice, which comes from the
    ephemeral range that outgoing connections also draw from: two sessions starting servers while
    making requests used to collide ("Address already in use"). Never the same port twice in a process,
    nor one listed in ``MEDALLION_RESERVED_PORTS``."""
    reserved = _handed_out | {int(p) for p in os.environ.get(RESERVED_PORTS_ENV, "").split(",") if p.strip()}
    for _ in range(200):
        port = random.choice(_SERVER_PORTS)
        if port not in reserved and not port_taken(port):
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free TCP port on 127.0.0.1 in {_SERVER_PORTS.start}-{_SERVER_PORTS.stop - 1}")


def port_taken(port: int, host: str = "127.0.0.1") -> bool:
    """True if a server already listens on ``host:port`` (a bind fails; a socket in TIME_WAIT does not count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
        return False


def port_holder(port: int) -> str:
    """``pid N (command line)`` of the process listening on TCP ``port``, read from /proc, else
    "another process" (no /proc, or the process belongs to a user we may not inspect)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    if inodes:
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                    raw = (proc / "cmdline").read_bytes().decode(errors="replace")
                    command = " ".join(raw.replace("\0", " ").split())
                    return f"pid {proc.name} ({command[:100] or '?'})"
            except OSError:  # gone meanwhile, or not ours to read
                continue
    return "another process"


def wait_listening(
    process: subprocess.Popen, port: int, log: Path, *, what: str, timeout: float, banner: bytes = b""
) -> None:
    """Return once 127.0.0.1:``port`` accepts connections (and greets with ``banner``, if given);
    fail with the tail of the server's log if it exits or does not answer in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{what} exited with code {process.returncode}:\n{tail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if not banner or s.recv(64).startswith(banner):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer on 127.0.0.1:{port} within {timeout:.0f} s")


def stop_process(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM to the server's PID (a clean shutdown), SIGKILL if it is still there after ``timeout``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
