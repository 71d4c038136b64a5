"""The Astro CLI's project files: the CLI finds the project, and the image build context holds the
project but none of its local state (read with docker-py's own .dockerignore matcher)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from docker.utils.build import exclude_paths

ROOT = Path(__file__).resolve().parents[2]

#: local state, virtualenvs and build output, as a clean clone plus one `make test` and `make demo` leave them
LOCAL_STATE = [
    ".venv/bin/python",
    ".venv/lib/python3.11/site-packages/airflow/__init__.py",
    ".local/lakehouse.duckdb",
    ".local/airflow/airflow.db",
    ".local/logs/sales_orders-2026-11-20-run.log",
    ".local/sources/shop.sqlite",
    "test-artifacts/ui/dag_graph.png",
    ".git/HEAD",
    ".git/objects/ab/cdef",
    ".env",
    ".pytest_cache/v/cache/nodeids",
    ".ruff_cache/0.9.0/123",
    ".hypothesis/examples/ab/cd",
    "include/medallion/__pycache__/paths.cpython-311.pyc",
    "include/medallion.egg-info/PKG-INFO",
    "dbt_project/target/manifest.json",
    "dbt_project/target/partial_parse.msgpack",
    "dbt_project/logs/dbt.log",
    "dbt_project/dbt_packages/dbt_utils/dbt_project.yml",
    "lakehouse.duckdb",
    "logs/scheduler/latest",
]


def _project_files() -> list[str]:
    """The files the image needs: every one git tracks except the local-only settings file."""
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [p for p in tracked.splitlines() if p not in {".env", ".gitignore", ".dockerignore"} and (ROOT / p).exists()]


def _context(root: Path) -> set[str]:
    """The files ``docker build`` (and so ``astro dev start`` / ``astro deploy``) would send."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return {p for p in exclude_paths(str(root), patterns, dockerfile="Dockerfile") if (root / p).is_file()}


def test_astro_cli_recognises_the_project() -> None:
    config = yaml.safe_load((ROOT / ".astro" / "config.yaml").read_text(encoding="utf-8"))
    assert config["project"]["name"] == "medallion"


def test_example_env_holds_settings_but_no_secrets() -> None:
    lines = [
        line
        for line in (ROOT / ".env").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    settings = dict(line.split("=", 1) for line in lines)
    assert settings["AIRFLOW__LOGGING__REMOTE_LOGGING"] == "False"  # what the Dockerfile's comment asks for
    secret = re.compile(r"PASSWORD|SECRET|TOKEN|KEY|CONN_", re.I)
    assert not [name for name in settings if secret.search(name)]


@pytest.fixture(scope="module")
def clone_context(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The build context of a copy of the project plus the local state a clean clone gathers."""
    root = tmp_path_factory.mktemp("clone")
    for rel in _project_files():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, root / rel)
    for rel in LOCAL_STATE:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("local", encoding="utf-8")
    return _context(root)


def test_build_context_drops_local_state(clone_context: set[str]) -> None:
    assert sorted(p for p in LOCAL_STATE if p in clone_context) == []


def test_build_context_keeps_every_project_file(clone_context: set[str]) -> None:
    assert sorted(set(_project_files()) - clone_context) == []


def test_build_context_has_what_the_dockerfile_needs_for_the_manifest(clone_context: set[str]) -> None:
    """The Dockerfile runs `dbt deps` and `dbt parse` in dbt_project/: its sources and profile must be sent."""
    assert "dbt parse" in (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert {"dbt_project/dbt_project.yml", "dbt_project/profiles.yml", "requirements.txt"} <= clone_context
    assert any(p.startswith("dbt_project/models/") and p.endswith(".sql") for p in clone_context)
    assert any(p.startswith("dbt_project/macros/") for p in clone_context)


def test_the_checkouts_own_context_has_no_local_state() -> None:
    """This checkout as it is now (with whatever .venv, .local and caches it has)."""
    context = _context(ROOT)
    leaked = sorted(p for p in context if re.match(r"(\.venv|\.local|test-artifacts|\.git|\.hypothesis)/", p))
    assert not leaked, leaked[:20]
    assert "dags/medallion_dags.py" in context and "Dockerfile" in context
