"""The deployment files agree with each other: pins, settings, image build steps."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from medallion import connections

ROOT = Path(__file__).resolve().parents[2]


def pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            name, _, version = line.partition("==")
            out[re.sub(r"\[.*\]", "", name).lower()] = version
    return out


def test_image_requirements_are_pinned_and_match_the_local_lock() -> None:
    image, lock = pins(ROOT / "requirements.txt"), pins(ROOT / "requirements-local.lock")
    assert all(image.values()), [n for n, v in image.items() if not v]
    assert {name: lock.get(name) for name in image} == image


def test_dockerfile_builds_the_manifest_and_quiets_telemetry() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM astrocrpublic\.azurecr\.io/runtime:3\.\d+", dockerfile, re.M)
    assert "dbt parse" in dockerfile and "dbt deps" in dockerfile
    for env in ("AIRFLOW__COSMOS__ENABLE_TELEMETRY=False", "GX_ANALYTICS_ENABLED=false"):
        assert env in dockerfile


def test_image_sends_task_logs_to_the_lake_connection() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "AIRFLOW__LOGGING__REMOTE_LOGGING=True" in dockerfile
    assert f"AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID={connections.LAKE_S3}" in dockerfile
    assert re.search(r"REMOTE_BASE_LOG_FOLDER=s3://\$\{LOG_BUCKET\}/", dockerfile)
    doc = yaml.safe_load((ROOT / "airflow_settings.yaml").read_text())["airflow"]
    assert connections.LAKE_S3 in {c["conn_id"] for c in doc["connections"]}


def test_airflow_settings_list_every_connection_and_pool_the_factory_uses() -> None:
    doc = yaml.safe_load((ROOT / "airflow_settings.yaml").read_text())["airflow"]
    conn_ids = {c["conn_id"] for c in doc["connections"]}
    assert {
        connections.LAKE_S3,
        connections.DATABRICKS,
        connections.LAKEHOUSE_SQL,
        connections.SLACK,
        connections.SMTP,
        connections.PAGERDUTY,
    } <= conn_ids
    assert connections.LAKEHOUSE_POOL in {p["pool_name"] for p in doc["pools"]}
    for conn in doc["connections"]:  # placeholders only, never real secrets
        password = str(conn.get("conn_password") or "")
        assert not password or "placeholder" in password or password == "medallion-local", conn["conn_id"]
