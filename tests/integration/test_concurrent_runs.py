"""Two dates of one pipeline triggered at once under the real scheduler never mix.

`medallion ui` starts the real components (api-server, scheduler, dag-processor, triggerer) on
free ports of 127.0.0.1 with this session's isolated state; the REST API unpauses a gold-only
pipeline and triggers two dates together. The factory's rule (one active run per
pipeline, gold staging per logical date) must make every published table version match the one run
that audited it: its logical date, its run id, its own staging schema, and no overlap between the
two runs' write → audit → publish.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from medallion import duck
from medallion.local.service import free_port
from medallion.local.ui import PASSWORD, USER, wait_healthy

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "sales_gold_wap"
DATES = ("2026-11-18", "2026-11-19")  # older than other tests' dates: the snapshot rule never blocks them
GOLD = ("gold.customer_lifetime_value", "gold.daily_revenue")


def api(port: int, path: str, token: str | None = None, body: dict | None = None, method: str | None = None) -> dict:
    import json
    import urllib.request

    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
        method=method,
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def lake_rows(sql: str) -> list[tuple]:
    from medallion.settings import load_settings

    con = duck.connect(load_settings().connection("lakehouse")["host"])
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    """The real Airflow components on a free port, loading one gold-only pipeline over silver tables."""
    configs = tmp_path_factory.mktemp("concurrent") / "dag_configs"
    (configs / "sales").mkdir(parents=True)
    shutil.copy(ROOT / "dag_configs/defaults.yaml", configs / "defaults.yaml")
    shutil.copy(ROOT / "dag_configs/sales/defaults.yaml", configs / "sales/defaults.yaml")
    (configs / "sales/gold_wap.yaml").write_text(
        "description: gold only, two dates at once\nstart_date: 2026-11-01\nschedule: null\n"
        "defaults: {retries: 0}\ngold:\n  select: [path:models/sales]\n",
        encoding="utf-8",
    )
    lake_rows("CREATE SCHEMA IF NOT EXISTS silver")
    lake_rows(
        "CREATE OR REPLACE TABLE silver.customers AS SELECT * FROM (VALUES (1::BIGINT, 'a@example.com', 'PT', "
        "DATE '2026-01-01')) t(customer_id, email, country, signup_date)"
    )
    lake_rows(
        "CREATE OR REPLACE TABLE silver.orders AS SELECT 10::BIGINT order_id, 1::BIGINT customer_id, "
        "1::BIGINT product_id, 2::INT quantity, 10.00::DECIMAL(12,2) unit_price, 20.00::DECIMAL(14,2) amount, "
        "'paid' status, DATE '2026-11-20' order_date, TIMESTAMP '2026-11-20 10:00' updated_at"
    )
    port = free_port()
    env = os.environ | {"MEDALLION_CONFIG_DIR": str(configs)}
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("medallion")), "ui", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env=env,
    )
    try:
        assert wait_healthy(port, timeout=240), "api-server did not come up"
        token = api(port, "/auth/token", body={"username": USER, "password": PASSWORD})["access_token"]
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if DAG_ID in {d["dag_id"] for d in api(port, "/api/v2/dags", token)["dags"]}:
                break
            time.sleep(2)
        yield port, token
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=90)
        lake_rows(f"DELETE FROM ops.published_versions WHERE pipeline = '{DAG_ID}'")  # other tests' dates are free


def test_two_dates_at_once_each_published_version_matches_its_run(scheduler: tuple[int, str]) -> None:
    port, token = scheduler
    api(port, f"/api/v2/dags/{DAG_ID}", token, {"is_paused": False}, method="PATCH")
    runs = {
        ds: api(port, f"/api/v2/dags/{DAG_ID}/dagRuns", token, {"logical_date": f"{ds}T00:00:00Z"})["dag_run_id"]
        for ds in DATES
    }
    deadline, states = time.monotonic() + 900, {}
    while time.monotonic() < deadline:
        states = {ds: api(port, f"/api/v2/dags/{DAG_ID}/dagRuns/{rid}", token)["state"] for ds, rid in runs.items()}
        if all(s in ("success", "failed") for s in states.values()):
            break
        time.sleep(5)
    assert states == dict.fromkeys(DATES, "success"), states

    def window(run_id: str) -> tuple[dt.datetime, dt.datetime]:
        tis = api(port, f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", token)["task_instances"]
        starts = [dt.datetime.fromisoformat(t["start_date"]) for t in tis if t["start_date"]]
        ends = [dt.datetime.fromisoformat(t["end_date"]) for t in tis if t["end_date"]]
        return min(starts), max(ends)

    first, second = sorted((window(rid) for rid in runs.values()), key=lambda w: w[0])
    assert first[1] <= second[0], "the two runs' tasks overlapped"  # one active run per pipeline

    versions = lake_rows(
        "SELECT table_name, CAST(logical_date AS VARCHAR), run_id, staging FROM ops.published_versions "
        f"WHERE pipeline = '{DAG_ID}' ORDER BY published_at, table_name"
    )
    assert len(versions) == 2 * len(GOLD)
    for table, ds, run_id, staging in versions:
        assert run_id == runs[ds]  # the run that audited this version published it
        assert staging == f"staging_{DAG_ID}_{ds.replace('-', '')}.{table.split('.', 1)[1]}"
        published = api(
            port, f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/gold_publish/xcomEntries/return_value", token
        )["value"]
        assert table in str(published) and ds in str(published)
    # the later date is what readers see now, and no run left its staging schema behind
    current = lake_rows(
        "SELECT table_name, CAST(logical_date AS VARCHAR) FROM ops.published_versions "
        "QUALIFY row_number() OVER (PARTITION BY table_name ORDER BY published_at DESC) = 1 ORDER BY 1"
    )
    assert current == [(t, max(DATES)) for t in GOLD]
    schemas = "SELECT schema_name FROM information_schema.schemata"
    leftover = lake_rows(f"{schemas} WHERE schema_name LIKE 'staging_{DAG_ID}_%'")
    assert leftover == []
