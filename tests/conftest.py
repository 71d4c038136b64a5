"""Test session setup: an isolated local runtime (own ports, own state dir) and Airflow home.

Airflow reads its configuration at import time, so the environment is prepared here, before
any test module imports Airflow. Connections come from an overlay of airflow_settings.yaml
whose ports and paths are private to this session, so tests never touch a running demo.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
_state = Path(tempfile.mkdtemp(prefix="medallion-tests-"))


def _overlay_settings() -> Path:
    """Every configured port becomes a port free when the session starts (one per configured port,
    so connections that share a server still share it): parallel sessions and a running demo never collide."""
    from medallion.local.service import RESERVED_PORTS_ENV, free_port

    ports: dict[int, int] = {}

    def fresh(port: int | str) -> int:
        return ports.setdefault(int(port), free_port())

    doc = yaml.safe_load((ROOT / "airflow_settings.yaml").read_text(encoding="utf-8"))
    for conn in doc["airflow"]["connections"]:
        if conn.get("conn_port"):
            conn["conn_port"] = fresh(conn["conn_port"])
        extra = conn.get("conn_extra") or {}
        for key in ("endpoint_url", "base_url"):
            if key in extra:
                host, _, rest = extra[key].rpartition(":")
                port, slash, path = rest.partition("/")
                extra[key] = f"{host}:{fresh(port)}{slash}{path}"
        if conn["conn_type"] in {"duckdb", "sqlite"}:
            conn["conn_host"] = str(_state / Path(conn["conn_host"]).name)
    os.environ[RESERVED_PORTS_ENV] = ",".join(map(str, ports.values()))  # servers the tests start keep off them
    target = _state / "airflow_settings.yaml"
    target.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return target


os.environ["MEDALLION_LOCAL_DIR"] = str(_state)
os.environ["MEDALLION_AIRFLOW_SETTINGS"] = str(_overlay_settings())
os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "False")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from medallion.local.runtime import prepare_environment  # noqa: E402

prepare_environment(airflow_home=_state / "airflow")


def pytest_sessionfinish(session, exitstatus):
    from medallion.local import services

    services.stop_background()
    shutil.rmtree(_state, ignore_errors=True)


#: Fixtures that start a real server or process (moto S3, capture servers, the Jobs API emulator, PostgreSQL,
#: MariaDB, sshd, the local runtime, Airflow's components): a test that uses one is an integration test.
SERVER_FIXTURES = frozenset(
    {
        "api", "emulator", "gold_runtime", "landed", "lake", "listener", "mariadb", "postgres", "runtime",
        "s3_lake", "scheduler", "servers", "sftp", "slack", "smtp", "ui", "wap_runtime",
    }
)  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``-m integration`` / ``-m "not integration"`` split the suite: everything under ``tests/integration``,
    every test using a server fixture, and modules that start servers themselves (their ``pytestmark``)."""
    for item in items:
        in_integration_dir = "integration" in item.path.parts
        if in_integration_dir or SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
