"""What the benchmarks share: an isolated, quiet Airflow environment, timing and peak RSS.

Import this module before Airflow (it prepares the environment Airflow reads at import time).
"""

from __future__ import annotations

import gc
import os
import resource
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def isolated_environment(name: str) -> Path:
    """A temporary folder holding this benchmark's AIRFLOW_HOME (``~/airflow`` is left alone),
    with cosmos telemetry off and Airflow logging at ERROR. The caller removes the folder."""
    tmp = Path(tempfile.mkdtemp(prefix=f"medallion-bench-{name}-"))
    os.environ.setdefault("AIRFLOW_HOME", str(tmp / "airflow"))
    quiet_airflow()
    return tmp


def quiet_airflow() -> None:
    os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "False")
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall seconds of ``fn()`` (after a garbage collection) and its result."""
    gc.collect()
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, as the OS counts it."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_environment(tmp: Path, **extra: str) -> dict[str, str]:
    """Environment for measured child processes: this one's, plus a bytecode cache under ``tmp``.

    Without it (PYTHONDONTWRITEBYTECODE), every child compiles Airflow from source again, a
    cost no real worker pays; the cache stays out of the venv and goes with ``tmp``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return env | {"PYTHONPYCACHEPREFIX": str(tmp / "pycache")} | extra


@dataclass(frozen=True)
class ChildRun:
    seconds: float
    peak_rss_mb: float
    stdout: str


def run_child(argv: Sequence[str], env: dict[str, str] | None = None, timeout: float = 1800) -> ChildRun:
    """Run ``argv`` as a child process; its wall time and its own peak RSS (``wait4`` rusage,
    so each run is measured apart from earlier children). Linux starts a child's peak at its
    parent's RSS at fork time: keep the parent small (servers in processes of their own)."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, env=env)
        deadline = start + timeout
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"{argv[:3]} did not finish within {timeout:.0f}s")
                time.sleep(0.05)
        except BaseException:  # timeout, Ctrl-C: never leave the child running
            proc.kill()
            os.wait4(proc.pid, 0)
            raise
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        stdout = out.read().decode()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(argv[:4])} … exited with {proc.returncode}:\n{stdout[-2000:]}")
    return ChildRun(seconds, usage.ru_maxrss / 1024, stdout)
