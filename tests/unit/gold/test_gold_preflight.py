"""Preflight (notebook lint before silver, dbt unit tests before gold) and dbt failure details.

The fast tests check the wiring and the alert content from dbt outcomes; the slow ones run
real dbt through cosmos inside real Airflow (``dag.test``) on the test session's DuckDB
lakehouse, with the local Slack/SMTP capture servers receiving the alerts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from medallion.alerts.classify import classify
from medallion.alerts.notifier import DbtWarningNotifier
from medallion.factory.alerting import dbt_warning_notifier, failure_notifier
from medallion.gold.dbt import unit_test_selection
from medallion.gold.results import CONTEXT_KEY, DbtOutcome, clean_message, failure_kind
from medallion.local.slack_server import SlackServer, read_messages
from medallion.local.smtp_server import SmtpServer, read_mail
from medallion.silver.preflight import NotebookLintFailed, NotebookLintOperator
from medallion.spec.load import SpecLoader

ROOT = Path(__file__).resolve().parents[3]
SPEC = SpecLoader(ROOT / "dag_configs").load(ROOT / "dag_configs/sales/orders.yaml")
DS = "2026-11-20"

FAILED_TEST = DbtOutcome(
    unique_id="test.medallion.non_negative_daily_revenue_revenue.2f0936ef31",
    name="non_negative_daily_revenue_revenue",
    resource_type="test",
    status="fail",
    message="Got 3 results, configured to fail if != 0",
    failures=3,
    model="daily_revenue",
    column="revenue",
    file="models/sales/schema.yml",
    compiled_path="target/compiled/medallion/models/sales/schema.yml/non_negative_daily_revenue_revenue.sql",
)


def context(task_id: str, outcomes: list[DbtOutcome], exc: Exception | None = None) -> dict:
    from dataclasses import asdict

    return {
        "exception": exc,
        "ti": SimpleNamespace(dag_id=SPEC.id, task_id=task_id, try_number=1),
        "task": SimpleNamespace(retries=0),
        "ds": DS,
        "run_id": f"manual__{DS}",
        CONTEXT_KEY: [asdict(o) for o in outcomes],
    }


def test_unit_test_selection_intersects_each_selector() -> None:
    assert unit_test_selection(["path:models/sales", "tag:x"]) == [
        "test_type:unit,path:models/sales",
        "test_type:unit,tag:x",
    ]


def test_unit_test_diff_loses_colours_and_blank_lines() -> None:
    raw = (
        "\n\n\x1b[32mactual\x1b[0m differs from \x1b[31mexpected\x1b[0m:\n\n"
        "\x1b[0;1m@@\x1b[0m,revenue\r\n→ ,21.00→20.00\r\n\n"
    )
    assert clean_message(raw) == "actual differs from expected:\n@@,revenue\n→ ,21.00→20.00"


def test_failure_kind_from_the_first_failed_node() -> None:
    unit = DbtOutcome("unit_test.m.daily_revenue.t", "t", "unit_test", "fail", "actual differs from expected")
    compile_error = DbtOutcome("model.m.x", "x", "model", "error", "Compilation Error in model x (models/x.sql)")
    db_error = DbtOutcome("model.m.y", "y", "model", "error", "Runtime Error: Binder Error")
    passed = DbtOutcome("test.m.ok", "ok", "test", "pass")
    assert failure_kind([passed, unit]) == "dbt_unit_test_failure"
    assert failure_kind([FAILED_TEST]) == "dbt_test_failure"
    assert failure_kind([compile_error]) == "dbt_compile_error"
    assert failure_kind([db_error]) is None and failure_kind([passed]) is None
    assert classify(RuntimeError("Failure in unit_test t: actual differs from expected"), "gold").name == (
        "dbt_unit_test_failure"
    )


def test_failed_dbt_test_alert_names_node_test_rows_and_compiled_sql() -> None:
    exc = RuntimeError("dbt invocation completed with errors: non_negative_daily_revenue_revenue: Got 3 results")
    alert = failure_notifier(SPEC).alert(context("gold.daily_revenue.test", [FAILED_TEST], exc))  # as the DAG wires it
    assert alert.failure_class == "dbt_test_failure" and alert.layer == "gold"
    assert (
        alert.summary == "dbt test non_negative_daily_revenue_revenue on daily_revenue.revenue: fail, 3 failing row(s)"
    )
    text = alert.text()
    assert (
        "fail, 3 failing row(s) (compiled SQL: dbt_project/target/compiled/medallion/models/sales/schema.yml/"
        "non_negative_daily_revenue_revenue.sql) — Got 3 results, configured to fail if != 0"
    ) in text
    assert "airflow tasks clear sales_orders --task-regex '^gold.daily_revenue.test$'" in text


def test_warn_severity_tests_send_a_warning_alert(tmp_path: Path) -> None:
    """The cosmos on_warning_callback posts a warning through real slack-sdk; it never raises."""
    warned = DbtOutcome(
        "test.medallion.not_null_customer_lifetime_value_email.7d",
        "not_null_customer_lifetime_value_email",
        "test",
        "warn",
        "Got 1 result, configured to warn if != 0",
        failures=1,
        model="customer_lifetime_value",
        column="email",
    )
    from urllib.parse import urlparse

    from medallion.settings import load_settings

    settings = load_settings()  # the test overlay of airflow_settings.yaml: the notifier's connections
    slack_port = urlparse(settings.connection("slack_alerts")["extra"]["base_url"]).port
    slack = SlackServer(port=slack_port, store_dir=tmp_path / "slack").start()
    smtp = SmtpServer(port=settings.connection("smtp_alerts")["port"], store_dir=tmp_path / "mail").start()
    try:
        ctx = context("gold.customer_lifetime_value.test", [FAILED_TEST, warned])
        ctx |= {"test_names": [warned.name], "test_results": [warned.message]}
        dbt_warning_notifier(SPEC)(ctx)  # as the DAG wires it
    finally:
        slack.stop()
        smtp.stop()
    assert read_mail(tmp_path / "mail")
    message = read_messages(tmp_path / "slack")[-1]
    assert message["channel"] == "#sales-data-alerts"
    text = message["text"]
    assert text.startswith("dbt test warning: sales_orders · gold")
    assert "Severity: warning" in text and "Class: dbt_test_warning" in text
    assert "not_null_customer_lifetime_value_email on customer_lifetime_value.email: warn, 1 failing row(s)" in text
    assert "non_negative_daily_revenue_revenue" not in text  # failures are not warnings


def write_notebook(path: Path, body: str) -> Path:
    path.write_text("# Databricks notebook source\n" + body, encoding="utf-8")
    return path


def test_notebook_lint_task_fails_with_file_line_and_alternative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDALLION_PROJECT_DIR", str(tmp_path))  # the lint reads notebooks inside the repository only
    good = write_notebook(tmp_path / "good.py", "df = spark.table('silver.x')\n")
    bad = write_notebook(tmp_path / "bad.py", "df = spark.table('silver.x')\ndf.selectExpr('a + 1 as b')\n")
    assert NotebookLintOperator(task_id="t", notebooks=[str(good)]).execute({})["findings"] == 0
    with pytest.raises(NotebookLintFailed) as err:
        NotebookLintOperator(task_id="t", notebooks=[str(good), str(bad)]).execute({})
    assert "bad.py:3:4: select-expr" in str(err.value) and "portable alternative" in str(err.value)
    assert classify(err.value, "silver").name == "notebook_not_portable"
    with pytest.raises(NotebookLintFailed, match="notebook file not found"):
        NotebookLintOperator(task_id="t", notebooks=[str(tmp_path / "nope.py")]).execute({})


def test_example_notebooks_pass_the_preflight_lint() -> None:
    paths = [nb.path for nb in SPEC.silver.notebooks]
    assert NotebookLintOperator(task_id="t", notebooks=paths).execute({})["notebooks"] == paths


def test_preflight_tasks_sit_before_silver_and_gold() -> None:
    from medallion.factory.loader import load_dags

    dag = load_dags(ROOT / "dag_configs")["sales_orders"]
    lint, unit = dag.task_dict["silver_preflight"], dag.task_dict["gold_preflight"]
    assert lint.upstream_task_ids == set() and lint.downstream_task_ids == {"silver.launch"}
    assert unit.upstream_task_ids == {"silver_publish"}  # gold reads published silver
    assert unit.downstream_task_ids == {"gold.daily_revenue.run", "gold.customer_lifetime_value.run"}
    assert unit.select == ["test_type:unit,path:models/sales"] and unit.retries == dag.default_args["retries"]
    model_test = dag.task_dict["gold.daily_revenue.test"]
    assert isinstance(model_test.on_warning_callback, DbtWarningNotifier)
    assert model_test.callback is unit.callback  # both keep dbt's run results for the alert


# --------------------------------------------------------------------------- end to end (real dbt)

BROKEN_MODEL = (  # parses (the manifest builds), fails to compile when run: a macro that does not exist
    "select 1 as x {% if execute %}{{ undefined_macro() }}{% endif %}\n"
)
CHECK_MODEL = "select status, count(*) as orders from {{ source('silver', 'orders') }} group by status\n"
CHECK_SCHEMA = """version: 2
unit_tests:
  - name: order_counts_by_status
    model: order_counts
    given:
      - input: source('silver', 'orders')
        rows:
          - {order_id: 1, status: paid}
          - {order_id: 2, status: paid}
    expect:
      rows:
        - {status: paid, orders: 3}
"""


@pytest.fixture(scope="module")
def gold_runtime(tmp_path_factory: pytest.TempPathFactory):
    """Services, a dbt project copy with a broken model and a failing unit test, and two gold-only specs."""
    from medallion import duck
    from medallion.local import services
    from medallion.settings import load_settings

    base = tmp_path_factory.mktemp("gold")
    project = base / "dbt"
    shutil.copytree(ROOT / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    (project / "models/broken").mkdir()
    (project / "models/broken/broken.sql").write_text(BROKEN_MODEL, encoding="utf-8")
    (project / "models/checks").mkdir()
    (project / "models/checks/order_counts.sql").write_text(CHECK_MODEL, encoding="utf-8")
    (project / "models/checks/schema.yml").write_text(CHECK_SCHEMA, encoding="utf-8")
    dbt = Path(sys.executable).with_name("dbt")
    subprocess.run([str(dbt), "parse", "--profiles-dir", ".", "--target", "parse", "-q"], cwd=project, check=True)

    configs = base / "dag_configs"
    shutil.copytree(ROOT / "dag_configs", configs)
    for name, select in (
        ("gold_checks", ["path:models/sales", "path:models/broken"]),
        ("gold_unit", ["path:models/checks"]),
    ):
        (configs / f"sales/{name}.yaml").write_text(  # one retry: model errors use it, failed tests do not
            f"description: gold only ({name})\nstart_date: 2026-11-01\ndefaults: {{retries: 1}}\n"
            f"gold:\n  project_dir: {project}\n  select: {json.dumps(select)}\n",
            encoding="utf-8",
        )

    lakehouse = load_settings().connection("lakehouse")["host"]
    con = duck.connect(lakehouse)
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS silver")
        con.execute(
            "CREATE OR REPLACE TABLE silver.customers AS SELECT * FROM (VALUES "
            "(1::BIGINT, 'a@example.com', 'PT', DATE '2026-01-01'), (2, NULL, 'ES', DATE '2026-02-01')) "
            "t(customer_id, email, country, signup_date)"
        )
        # order 12 is a refund booked as an order for a customer silver does not know: daily revenue < 0
        con.execute(
            "CREATE OR REPLACE TABLE silver.orders AS SELECT order_id::BIGINT order_id, "
            "customer_id::BIGINT customer_id, 1::BIGINT product_id, quantity::INT quantity, "
            "10.00::DECIMAL(12,2) unit_price, "
            "(quantity * 10.00)::DECIMAL(14,2) amount, 'paid' status, DATE '2026-11-20' order_date, "
            "TIMESTAMP '2026-11-20 10:00' updated_at FROM (VALUES (10, 1, 2), (11, 2, 1), (12, 999, -100)) "
            "t(order_id, customer_id, quantity)"
        )
        con.execute("DROP TABLE IF EXISTS gold.order_counts")
    finally:
        con.close()
    state = services.start_background()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MEDALLION_CONFIG_DIR", str(configs))  # dag.test() re-parses the DAG folder
            yield state, configs, lakehouse
    finally:
        services.stop_background()


def alerts_for(state: dict, pipeline: str) -> list[dict]:
    return [m for m in read_messages(Path(state["state_dir"]) / "slack") if f": {pipeline} · " in (m.get("text") or "")]


@pytest.mark.slow
def test_dbt_test_failure_compile_error_and_warning_reach_alerts(gold_runtime) -> None:
    from medallion.local.runtime import run_pipeline

    state, configs, _ = gold_runtime
    result = run_pipeline("sales_gold_checks", DS, config_dir=configs)
    assert result.tasks["gold_preflight"] == "success"
    assert result.tasks["gold.daily_revenue.test"] == "failed"
    assert result.tasks["gold.broken_run"] == "failed"
    assert result.tasks["gold.customer_lifetime_value.test"] == "success"  # warn severity does not fail
    texts = {m["text"].split(":", 1)[0]: m["text"] for m in alerts_for(state, "sales_gold_checks")}

    failed_test = texts["dbt test failed"]
    assert "Class: dbt_test_failure" in failed_test and "Layer / task: gold / gold.daily_revenue.test" in failed_test
    assert "Attempt: try 1 of 2" in failed_test  # bad data is not retried
    assert "dbt test non_negative_daily_revenue_revenue on daily_revenue.revenue: fail, 1 failing row(s)" in failed_test
    assert "configured to fail if != 0" in failed_test
    assert "compiled SQL: " in failed_test and "/target/compiled/medallion/models/sales/schema.yml/" in failed_test

    compile_error = texts["dbt compilation error"]
    assert "Class: dbt_compile_error" in compile_error and "dbt model broken: error" in compile_error
    assert "Attempt: try 1 of 2" in compile_error  # a model that does not compile is not retried either
    assert "Compilation Error in model broken (models/broken/broken.sql)" in compile_error
    assert "'undefined_macro' is undefined" in compile_error

    warning = texts["dbt test warning"]
    assert "Severity: warning" in warning
    assert "not_null_customer_lifetime_value_email on customer_lifetime_value.email: warn, 1 failing row(s)" in warning


@pytest.mark.slow
def test_failing_unit_test_stops_the_run_before_any_gold_table(gold_runtime) -> None:
    from medallion import duck
    from medallion.local.runtime import run_pipeline

    state, configs, lakehouse = gold_runtime
    result = run_pipeline("sales_gold_unit", DS, config_dir=configs)
    assert result.tasks["gold_preflight"] == "failed"
    assert result.tasks["gold.order_counts_run"] == "upstream_failed", result.tasks
    con = duck.connect(lakehouse, read_only=True)
    try:
        query = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'gold'"
        tables = {r[0] for r in con.execute(query).fetchall()}
    finally:
        con.close()
    assert "order_counts" not in tables
    [alert] = alerts_for(state, "sales_gold_unit")
    text = alert["text"]
    assert text.startswith("dbt unit test failed (preflight): sales_gold_unit · gold")
    assert "Layer / task: gold / gold_preflight" in text and "Attempt: try 1 of 2" in text
    assert "dbt unit test order_counts_by_status on order_counts: fail" in text
    assert "actual differs from expected:" in text and "3→2" in text.replace(" ", "")  # expected→actual
    assert "order_counts: fail (defined in: " in text and "models/checks/schema.yml) — actual differs" in text
