"""A failing notebook unit test blocks a real run of the example pipeline on the local runtime.

The example project is copied with the orders notebook's dedup broken (it keeps the oldest version)
and run through real Airflow (``dag.test()``) against the local services started in the background
(moto S3, the Jobs API emulator serving the copy, the Slack capture server), as ``medallion run``
does: ``silver_preflight`` submits the cases as one Databricks run, the broken case fails it, the
silver job never starts, gold does not run, and the alert names the case with its diff.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from urllib.request import Request, urlopen

import pytest

from medallion.local.slack_server import read_messages

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # the local services, a whole pipeline run
ROOT = Path(__file__).resolve().parents[3]
DS = "2026-11-20"
ORDERS_NB = "include/notebooks/sales/orders_silver.py"
DEDUP_ORDER = 'orderBy(F.col("updated_at").desc())'
BROKEN_CASE = "sales_orders::orders::keeps_latest_version_of_each_order"


@pytest.fixture(scope="module")
def blocked_runtime(tmp_path_factory: pytest.TempPathFactory):
    """The example project with the dedup mutated, and the local services serving it."""
    from medallion.local import services
    from medallion.local.shop import generate_shop

    root = tmp_path_factory.mktemp("broken-project")
    shutil.copytree(ROOT / "dag_configs", root / "dag_configs")
    shutil.copytree(ROOT / "include/notebooks", root / "include/notebooks")
    (root / "dbt_project").symlink_to(ROOT / "dbt_project")  # gold is parsed, never run
    notebook = root / ORDERS_NB
    text = notebook.read_text(encoding="utf-8")
    assert DEDUP_ORDER in text, "the orders notebook changed: update DEDUP_ORDER"
    notebook.write_text(text.replace(DEDUP_ORDER, 'orderBy(F.col("updated_at").asc())'), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDALLION_PROJECT_DIR", str(root))  # the emulator (a child process) and the preflight read it
        mp.setenv("MEDALLION_CONFIG_DIR", str(root / "dag_configs"))  # dag.test() re-parses the DAG folder
        state = services.start_background()
        try:
            generate_shop(Path(state["shop_db"]), orders=2_000, customers=200, last_day=dt.date.fromisoformat(DS))
            yield state, root
        finally:
            services.stop_background()


def test_a_failing_notebook_case_blocks_silver_and_gold_and_alerts(blocked_runtime) -> None:
    from medallion.local.runtime import run_pipeline
    from medallion.settings import load_settings

    state, root = blocked_runtime
    result = run_pipeline("sales_orders", DS, config_dir=root / "dag_configs")

    assert result.tasks["silver_preflight"] == "failed", result.tasks
    assert result.tasks["silver.launch"] == "upstream_failed", result.tasks
    gold = {t: s for t, s in result.tasks.items() if t.startswith("gold")}
    assert gold and all(s == "upstream_failed" for s in gold.values()), gold
    assert not result.succeeded

    token = load_settings().connection("databricks_default")["password"]
    url = f"http://127.0.0.1:{state['databricks_port']}/api/2.1/jobs/runs/list?limit=25"
    with urlopen(Request(url, headers={"Authorization": f"Bearer {token}"}), timeout=10) as response:
        runs = json.loads(response.read()).get("runs", [])
    assert [r["run_name"] for r in runs] == ["sales_orders notebook unit tests"], runs  # no silver job run

    alerts = [m["text"] for m in read_messages(Path(state["state_dir"]) / "slack") if "sales_orders" in m["text"]]
    [alert] = [a for a in alerts if "Class: notebook_unit_test_failed" in a]
    assert "Layer / task: silver / silver_preflight" in alert
    assert f"{BROKEN_CASE} [databricks]" in alert
    assert "row order_id=1: quantity: 2 → 1; status: 'shipped' → 'placed'" in alert
