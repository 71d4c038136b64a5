"""``make ui``: Airflow's UI on the local embedded runtime, everything bound to 127.0.0.1.

``airflow standalone`` opens log-serving ports on all interfaces, so the components run
separately: api-server on 127.0.0.1, scheduler and triggerer with ``--skip-serve-logs``, and
the dag-processor. Ctrl-C (or SIGTERM) stops all of them and the local services.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from medallion import paths

USER, PASSWORD = "admin", "admin"


def _airflow() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def ui_environment(port: int) -> dict[str, str]:
    from medallion.local.runtime import prepare_environment

    prepare_environment()
    home = Path(os.environ["AIRFLOW_HOME"])
    passwords = home / "simple_auth_manager_passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD}), encoding="utf-8")
    env = os.environ.copy()
    env.update(
        {
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "True",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        }
    )
    return env


def apply_pools(env: dict[str, str]) -> None:
    from medallion.settings import load_settings

    for name, pool in load_settings().pools.items():
        subprocess.run(
            [_airflow(), "pools", "set", name, str(pool.get("pool_slot", 1)), pool.get("pool_description", "")],
            env=env,
            check=True,
            capture_output=True,
        )


def wait_healthy(port: int, timeout: float = 180) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=2) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(1)
    return False


def run_ui(port: int = 8080) -> int:
    from medallion.local import services

    env = ui_environment(port)
    apply_pools(env)
    services.start_background()
    logs = paths.local_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    commands = {
        "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(port)],
        "scheduler": ["scheduler", "--skip-serve-logs"],
        "dag-processor": ["dag-processor"],
        "triggerer": ["triggerer", "--skip-serve-logs"],
    }
    procs: list[subprocess.Popen] = []
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    try:
        for name, args in commands.items():
            with (logs / f"ui-{name}.log").open("ab") as log:
                procs.append(
                    subprocess.Popen(
                        [_airflow(), *args], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                    )
                )
        print(f"▶ starting Airflow (logs in {logs}) …", flush=True)
        if not wait_healthy(port):
            print(f"✗ the api-server did not answer on 127.0.0.1:{port}; see {logs}/ui-api-server.log", flush=True)
            return 1
        print(
            f"✔ Airflow UI: http://127.0.0.1:{port}  (login {USER} / {PASSWORD}); Ctrl-C stops everything", flush=True
        )
        while not stop["now"] and all(p.poll() is None for p in procs):
            time.sleep(1)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        services.stop_background()
        print("■ Airflow and the local services stopped", flush=True)
