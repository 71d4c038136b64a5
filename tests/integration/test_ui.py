"""`medallion ui`: Airflow's components on 127.0.0.1 with the factory's DAGs, stopped cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from medallion.local.ui import PASSWORD, USER, wait_healthy

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(port: int, path: str, token: str | None = None, body: dict | None = None) -> dict:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode() if body else None,
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def listening_ports(pid_group: int) -> list[str]:
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    return [line.split()[3] for line in out.splitlines() if "airflow" in line or f"pid={pid_group}" in line]


def test_ui_serves_the_factory_dags_on_loopback_only() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("medallion")), "ui", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert wait_healthy(port, timeout=240), "api-server did not come up"
        token = api(port, "/auth/token", body={"username": USER, "password": PASSWORD})["access_token"]
        deadline, dags = time.monotonic() + 180, {}
        while time.monotonic() < deadline and "sales_orders" not in dags:
            dags = {d["dag_id"]: d for d in api(port, "/api/v2/dags", token)["dags"]}
            time.sleep(2)
        assert {"sales_orders", "marketing_customer_segments"} <= set(dags)
        assert "domain:sales" in {t["name"] for t in dags["sales_orders"]["tags"]}
        details = api(port, "/api/v2/dags/sales_orders/details", token)
        assert "## Bronze (S3)" in details["doc_md"] and "## Contract" in details["doc_md"]
        pools = {p["name"]: p["slots"] for p in api(port, "/api/v2/pools", token)["pools"]}
        assert pools.get("lakehouse_writers") == 1
        exposed = [a for a in listening_ports(proc.pid) if not a.startswith(("127.0.0.1:", "[::1]:"))]
        assert exposed == [], f"listening beyond loopback: {exposed}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        output, _ = proc.communicate(timeout=90)
    assert "stopped" in output
    assert not wait_healthy(port, timeout=2)
