"""Apply ``airflow_settings.yaml`` (the Astro CLI format) outside the Astro CLI.

The Astro CLI is the only tool that reads that file; locally we turn its connections into a
``LocalFilesystemBackend`` JSON file (no metadata-database round trip) and its variables into
the matching variables file; ``make ui`` applies the pools (``local/ui.py``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from medallion import paths

#: Connection types whose ``host`` is a file path; relative paths resolve against the project.
_FILE_HOST_TYPES = {"sqlite", "duckdb"}
_FIELD_MAP = {
    "conn_type": "conn_type",
    "conn_host": "host",
    "conn_schema": "schema",
    "conn_login": "login",
    "conn_password": "password",
    "conn_port": "port",
    "conn_extra": "extra",
    "conn_description": "description",
}


@dataclass(frozen=True)
class AirflowSettings:
    """The parsed content of ``airflow_settings.yaml``."""

    connections: dict[str, dict[str, Any]] = field(default_factory=dict)
    pools: dict[str, dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)

    def connection(self, conn_id: str) -> dict[str, Any]:
        """One connection as Airflow field names (``host``, ``port``, ``extra`` as a dict…)."""
        try:
            return self.connections[conn_id]
        except KeyError:
            raise KeyError(
                f"connection {conn_id!r} is not in airflow_settings.yaml; add it under airflow.connections"
            ) from None


def settings_path() -> Path:
    return Path(os.environ.get("MEDALLION_AIRFLOW_SETTINGS", paths.project_root() / "airflow_settings.yaml"))


def load_settings(path: Path | None = None) -> AirflowSettings:
    """Read the Astro-format settings file and normalise connection fields."""
    path = path or settings_path()
    with path.open(encoding="utf-8") as stream:
        doc = yaml.safe_load(stream) or {}
    section = doc.get("airflow") or {}
    connections: dict[str, dict[str, Any]] = {}
    for raw in section.get("connections") or []:
        conn = {_FIELD_MAP[k]: v for k, v in raw.items() if k in _FIELD_MAP and v not in (None, "")}
        if isinstance(conn.get("extra"), str):
            conn["extra"] = json.loads(conn["extra"]) if conn["extra"].strip() else {}
        if conn.get("conn_type") in _FILE_HOST_TYPES and conn.get("host"):
            conn["host"] = str(paths.resolve(conn["host"]))
        connections[raw["conn_id"]] = conn
    pools = {p["pool_name"]: p for p in section.get("pools") or []}
    variables = {v["variable_name"]: str(v["variable_value"]) for v in section.get("variables") or []}
    return AirflowSettings(connections=connections, pools=pools, variables=variables)


def write_connections_file(settings: AirflowSettings, target: Path) -> Path:
    """Write connections in the JSON shape ``LocalFilesystemBackend`` reads."""
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        conn_id: {k: (json.dumps(v) if k == "extra" else v) for k, v in conn.items()}
        for conn_id, conn in sorted(settings.connections.items())
    }
    target.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return target


def airflow_environment(airflow_home: Path, settings: AirflowSettings | None = None) -> dict[str, str]:
    """Environment for a local Airflow process: its home, quiet libraries, file-backed connections."""
    settings = settings or load_settings()
    conn_file = write_connections_file(settings, airflow_home / "connections.json")
    var_file = airflow_home / "variables.json"
    var_file.write_text(json.dumps(settings.variables, indent=2), encoding="utf-8")
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(paths.project_root() / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(paths.project_root() / "plugins"),  # the catalog, extra links
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__SECRETS__BACKEND": "airflow.secrets.local_filesystem.LocalFilesystemBackend",
        "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps(
            {"connections_file_path": str(conn_file), "variables_file_path": str(var_file)}
        ),
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "GX_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "MEDALLION_PROJECT_DIR": str(paths.project_root()),
    }
