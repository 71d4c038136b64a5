"""A clean local run's task log holds what a person needs (rows, gates, links) and none of the
recurring third-party noise (README "Readable task logs").

`medallion run` in a child process, as a user runs it: Airflow configures its logging for the
whole process, and the log file is the one the command points the user at.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medallion import paths
from medallion.local.shop import generate_shop
from medallion.settings import load_settings

pytestmark = pytest.mark.slow
DS = "2026-11-20"

#: every line of these once appeared in each run's log (issue #12, "What we measured" 4)
NOISE = (
    "ProvidersManager.hooks is deprecated",
    "To enable emitting Openlineage events",
    "section/key [openlineage/namespace] not found in config",
    "Asset (Dataset) URIs validation rules changed",
    "Emitting event for inactive AssetModel",
    "for ephemeral docs site",
    "databricks_task_key has not be provided",
    "Generated databricks task_key",
)

#: what a person reading the log of a clean run looks for, task by task
USEFUL = (
    r"extracted [\d,]+ rows from source 'orders'",
    rf"committed s3://\S+/bronze/sales/orders/ds={DS}/ \(\d+ rows",
    r"bronze gate: passed \(report s3://\S+/bronze/ds=\S+/report\.json\)",
    r"Check the task run in Databricks: http://127\.0\.0\.1:\d+/#job/\d+/run/\d+",
    r"silver gate: passed \(report s3://\S+/report\.json\)",
    r"published .*staging\.\S+ → silver\.orders",
    r"OK created sql table model \S+\.daily_revenue",
    r"gold gate: passed \(report s3://\S+/report\.json\)",
)


@pytest.fixture(scope="module")
def run_log() -> str:
    generate_shop(Path(load_settings().connection("shop_db")["host"]), last_day=dt.date.fromisoformat(DS))
    started = time.time()
    result = subprocess.run(
        [sys.executable, "-m", "medallion.cli", "run", "sales_orders", "--date", DS],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    logs = [p for p in (paths.local_dir() / "logs").glob(f"sales_orders-{DS}-*.log") if p.stat().st_mtime >= started]
    assert len(logs) == 1, (logs, result.stdout)
    return logs[0].read_text(encoding="utf-8", errors="replace")


@pytest.mark.parametrize("noise", NOISE)
def test_no_known_noise(run_log: str, noise: str) -> None:
    lines = [line for line in run_log.splitlines() if noise in line]
    assert not lines, f"{len(lines)} line(s), e.g. {lines[0][:300]}"


@pytest.mark.parametrize("pattern", USEFUL)
def test_the_lines_a_person_needs(run_log: str, pattern: str) -> None:
    assert re.search(pattern, run_log), pattern
