"""The gold dbt profile comes from the ``lakehouse`` connection at run time. Production uses a
Databricks SQL warehouse (token or OAuth M2M); without a warehouse here, the rendered profile
is checked by dbt-databricks itself: ``dbt parse`` loads and validates the profile, no query."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from medallion.gold.profile import LakehouseProfileMapping

ROOT = Path(__file__).resolve().parents[3]
HOST = "adb-1234.5.azuredatabricks.net"
HTTP_PATH = "/sql/1.0/warehouses/abc123"


def rendered(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn: dict) -> tuple[dict, dict]:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    mapping = LakehouseProfileMapping(conn_id)
    return mapping.profile, mapping.env_vars


@pytest.mark.parametrize(
    ("conn", "auth"),
    [
        ({"password": "dapi-secret-token"}, "token"),
        (
            {"login": "sp-client-id", "password": "sp-client-secret", "extra": {"service_principal_oauth": True}},
            "oauth",
        ),
    ],
)
def test_databricks_profile_is_accepted_by_dbt_databricks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, conn: dict, auth: str
) -> None:
    extra = {"http_path": HTTP_PATH, "catalog": "prod", **conn.pop("extra", {})}
    conn_id = f"lakehouse_{auth}_test"
    profile, env = rendered(
        monkeypatch, conn_id, {"conn_type": "databricks", "host": HOST, "schema": "analytics", **conn, "extra": extra}
    )
    assert profile["type"] == "databricks" and profile["schema"] == "gold" and profile["catalog"] == "prod"
    assert profile["host"] == HOST and profile["http_path"] == HTTP_PATH
    secrets = {v for k, v in conn.items() if k in {"login", "password"}}
    assert secrets == set(env.values()), "secrets travel as environment variables"
    assert not secrets & {str(v) for v in profile.values()}, "never written into profiles.yml"
    if auth == "oauth":
        assert profile["auth_type"] == "oauth"
    (tmp_path / "profiles.yml").write_text(
        yaml.safe_dump({"medallion": {"target": "prod", "outputs": {"prod": profile}}}), encoding="utf-8"
    )
    dbt = str(Path(sys.executable).with_name("dbt"))
    where = ["--profiles-dir", str(tmp_path), "--target-path", str(tmp_path / "target")]
    result = subprocess.run(
        [dbt, "parse", *where, "--no-partial-parse"],
        cwd=ROOT / "dbt_project",
        env={**os.environ, **env, "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "target/manifest.json").is_file()
    assert json.loads((tmp_path / "target/manifest.json").read_text())["metadata"]["adapter_type"] == "databricks"
