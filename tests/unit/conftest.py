"""Fixtures shared by the unit tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    """A copy of the project's dag_configs to break in place."""
    target = tmp_path / "dag_configs"
    shutil.copytree(ROOT / "dag_configs", target)
    return target
