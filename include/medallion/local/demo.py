"""``make demo``: the example pipeline end to end on the local runtime, then a failing run.

1. start the local services and generate the shop database;
2. run ``sales_orders`` for one date and print what each layer produced and what each gate said;
3. break the data three ways and run again each time, printing the alert the local Slack
   endpoint received: a refund booked as an order fails a gold dbt test; bad orders fail the
   silver gate (gold does not run); an unparseable signup date makes a Databricks notebook raise;
4. stop every service it started. Exit 0 only if all of that behaved as expected.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medallion import paths

DEMO_PIPELINE = "sales_orders"
DEMO_DATE = "2026-11-20"


def say(message: str) -> None:
    print(message, flush=True)


def shown(path: Path) -> str:
    """``path`` relative to the project when it is inside it (state may live elsewhere: MEDALLION_LOCAL_DIR)."""
    root = paths.project_root()
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def local_services() -> Any:
    """The running local runtime (`medallion local up`), or one started for the block and stopped after it."""
    from medallion.local import services

    return services.local_runtime(say)


def pipeline_spec(dag_id: str) -> Any:
    """The valid spec whose DAG is ``dag_id`` (None if there is none)."""
    from medallion.spec.project import load_project

    project = load_project(paths.config_dir(), select_gold=None)  # the parsed specs only
    return next((i.spec for i in project.valid.values() if i.spec.dag_id == dag_id), None)


def layer_tables(result: Any, spec: Any = None) -> list[str]:
    """Tables a run writes: silver notebook outputs and gold models, from the spec and task ids."""
    spec = spec or pipeline_spec(result.dag_id)
    silver = [t for nb in (spec.silver.notebooks if spec and spec.silver else []) for t in nb.outputs]
    runs = (re.fullmatch(r"gold\.(\w+?)(?:\.run|_run)", t) for t in result.tasks)
    gold = sorted({f"gold.{m.group(1)}" for m in runs if m})
    return silver + gold


def print_summary(
    result: Any, lakehouse: str, *, state_dir: Path | None = None, since: dt.datetime | None = None
) -> None:
    """What passed, failed and did not run, rows per layer (marking tables this run did not write), the gates'
    verdicts, and each failed task with the class of its alert."""
    from medallion.local.summary import summary_lines

    spec = pipeline_spec(result.dag_id)
    lines = summary_lines(
        result, lakehouse, spec=spec, tables=layer_tables(result, spec), state_dir=state_dir, since=since
    )
    for line in lines:
        say(f"  {line}")


def run_once(pipeline: str, ds: str) -> bool:
    """``medallion run``: one pipeline, one date, on the running local runtime or one started for it."""
    from medallion.local.runtime import prepare_environment
    from medallion.local.shop import ensure_example_shop

    prepare_environment()
    spec = pipeline_spec(pipeline)
    with local_services() as state:
        conn_ids = {getattr(s, "conn_id", None) for s in (spec.bronze.sources if spec and spec.bronze else [])}
        ensure_example_shop(conn_ids, dt.date.fromisoformat(ds), say)
        since = dt.datetime.now(dt.UTC)
        result = logged_run(pipeline, ds, "run")
        print_summary(result, state["lakehouse"], state_dir=Path(state["state_dir"]), since=since)
        return result.succeeded


@contextmanager
def output_to(log_file: Path) -> Any:
    """Send this process's stdout/stderr (Airflow's task logs) to a file, at the fd level."""
    import os

    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log_file.open("ab") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def logged_run(pipeline: str, ds: str, label: str) -> Any:
    """Run a pipeline with Airflow's task logs in .local/logs/, so the console stays readable."""
    from medallion.local.runtime import run_pipeline

    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    log_file = paths.local_dir() / "logs" / f"{pipeline}-{ds}-{label}-{stamp}.log"
    if log_file.exists():  # two runs in one second: keep both
        log_file = log_file.with_name(f"{log_file.stem}-{time.monotonic_ns()}.log")
    started = time.monotonic()
    with output_to(log_file):
        result = run_pipeline(pipeline, ds)
    say(f"  ({time.monotonic() - started:.0f}s; Airflow task logs: {shown(log_file)})")
    return result


@dataclass(frozen=True)
class FailureScenario:
    """One broken run of the demo: what is injected, what must fail, which alert must arrive."""

    label: str
    inject: Callable[[Path], str]  # changes the shop database; returns what it did
    failed_task: str  # this task must fail …
    not_run: str  # … and no task starting with this prefix may succeed
    alert_class: str  # the class of the Slack alert it must produce
    expect_in_alert: tuple[str, ...]
    note: str = ""
    unchanged: tuple[str, ...] = ()  # published tables whose row checksums must be the same after the run


def failure_scenarios() -> list[FailureScenario]:
    """Gold (dbt test), silver gate (GE), silver notebook (Databricks): one alert class each."""
    from medallion.local.shop import inject_bad_orders, inject_refund_order, inject_unparseable_signup

    day = dt.date.fromisoformat(DEMO_DATE)
    return [
        FailureScenario(
            "a refund booked as an order (quantity -100,000) makes the day's revenue negative",
            lambda shop: f"order {inject_refund_order(shop, day)} injected",
            failed_task="gold.daily_revenue.test",
            not_run="gold_gate",
            alert_class="dbt_test_failure",
            expect_in_alert=(
                "non_negative_daily_revenue_revenue",
                "failing row(s)",
                "compiled SQL",
                "readers still see the last good version",
            ),
            unchanged=("gold.daily_revenue", "gold.customer_lifetime_value"),
        ),
        FailureScenario(
            "orders with negative prices and an unknown status",
            lambda shop: f"{inject_bad_orders(shop, day)} orders injected",
            failed_task="silver_gate",
            not_run="gold",
            alert_class="quality_gate_failed",
            expect_in_alert=("expect_column_values_to_be_between", "unit_price"),
            note="silver tables kept their last good version; the rejected data stays in staging.* for inspection",
            unchanged=("silver.orders", "gold.daily_revenue"),
        ),
        FailureScenario(
            "a customer whose signup date is 'soon' breaks the customers notebook",
            lambda shop: f"customer {inject_unparseable_signup(shop)} injected",
            failed_task="silver.customers",
            not_run="silver_gate",
            alert_class="databricks_notebook_exception",
            expect_in_alert=("Conversion Error", "soon", "Databricks run page"),
        ),
    ]


def alert_of_class(messages: list[dict[str, Any]], failure_class: str) -> dict[str, Any] | None:
    found = [m for m in messages if f"Class: {failure_class}\n" in (m.get("text") or "")]
    return found[-1] if found else None


def show_alert(message: dict[str, Any], max_lines: int = 40) -> None:
    lines = message["text"].splitlines()
    shown = lines[:max_lines] + ([f"… ({len(lines) - max_lines} more lines)"] if len(lines) > max_lines else [])
    say(f"\n  alert received by the local Slack endpoint (channel {message['channel']}):\n")
    say("    " + "\n    ".join(shown))


def clear_alert_state(state: dict[str, Any]) -> int:
    """Forget alert state (dedup, threads) kept in the local S3, which survives restarts: the demo shows
    every alert it provokes, so a repeat of an earlier demo's failure must not be deduplicated."""
    import boto3

    from medallion import connections
    from medallion.settings import load_settings

    conn = load_settings().connection(connections.LAKE_S3)
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{state['s3_port']}",
        region_name=conn["extra"].get("region_name", "us-east-1"),
        aws_access_key_id=conn.get("login"),
        aws_secret_access_key=conn.get("password"),
    )
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=state["bucket"], Prefix="alerts/")
    keys = [{"Key": o["Key"]} for page in pages for o in page.get("Contents", [])]
    for start in range(0, len(keys), 1000):
        s3.delete_objects(Bucket=state["bucket"], Delete={"Objects": keys[start : start + 1000]})
    return len(keys)


def show_unchanged(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Print each published table's row checksum before and after the failed run; True if none changed."""
    ok = True
    for table, was in before.items():
        same = was is not None and after.get(table) == was
        ok = ok and same
        rows = f"{was[0]:,} rows, checksum {was[1] & 0xFFFFFFFF:08x}" if was else "missing"
        say(
            f"  ✔ {table} unchanged after the failed run ({rows}): the last good version is still published"
            if same
            else f"  ✗ {table} changed although the run failed: {was} → {after.get(table)}"
        )
    return ok


def run_failure(number: int, scenario: FailureScenario, shop: Path, state: dict[str, Any]) -> bool:
    """Inject, re-run, check the expected task failed and nothing downstream ran, show the alert."""
    from medallion.local.slack_server import read_messages
    from medallion.wap import table_checksums

    say(f"\n▶ run {number}: {scenario.label} ({scenario.inject(shop)}); re-running …")
    since = dt.datetime.now(dt.UTC)
    before = table_checksums(state["lakehouse"], list(scenario.unchanged))
    result = logged_run(DEMO_PIPELINE, DEMO_DATE, f"run{number}-{scenario.alert_class}")
    print_summary(result, state["lakehouse"], state_dir=Path(state["state_dir"]), since=since)
    if scenario.note:
        say(f"  {scenario.note}")
    ok = show_unchanged(before, table_checksums(state["lakehouse"], list(scenario.unchanged)))
    downstream_ran = any(t.startswith(scenario.not_run) and s == "success" for t, s in result.tasks.items())
    if result.tasks.get(scenario.failed_task) != "failed" or downstream_ran:
        ok = False
        say(f"✗ run {number}: {scenario.failed_task} should fail and block {scenario.not_run}: {result.tasks}")
    alert = alert_of_class(read_messages(Path(state["state_dir"]) / "slack"), scenario.alert_class)
    if alert is None:
        say(f"✗ run {number}: no {scenario.alert_class} alert reached the local Slack endpoint")
        return False
    missing = [s for s in scenario.expect_in_alert if s not in alert["text"]]
    if missing:
        ok = False
        say(f"✗ run {number}: the alert does not mention {missing}")
    show_alert(alert)
    return ok


def demo() -> int:
    from medallion.local.runtime import prepare_environment
    from medallion.local.shop import generate_shop

    started = time.monotonic()
    prepare_environment()
    ok = True
    with local_services() as state:
        from medallion.local.slack_server import clear_messages
        from medallion.local.smtp_server import clear_mail, read_mail

        shop = Path(state["shop_db"])
        stats = generate_shop(shop, last_day=dt.date.fromisoformat(DEMO_DATE))
        say(
            f"▶ shop database: {stats.orders:,} orders ({stats.order_rows:,} rows with late updates and "
            f"duplicates), {stats.customers:,} customers → {shown(shop)}"
        )
        slack_dir, mail_dir = Path(state["state_dir"]) / "slack", Path(state["state_dir"]) / "mail"
        clear_messages(slack_dir)
        clear_mail(mail_dir)
        clear_alert_state(state)

        say(f"\n▶ run 1: {DEMO_PIPELINE} for {DEMO_DATE} (clean data) …")
        since = dt.datetime.now(dt.UTC)
        first = logged_run(DEMO_PIPELINE, DEMO_DATE, "run1")
        print_summary(first, state["lakehouse"], state_dir=Path(state["state_dir"]), since=since)
        if not first.succeeded:
            ok = False
            say("✗ run 1 should have succeeded; task states: " + str(first.tasks))
        for number, scenario in enumerate(failure_scenarios(), start=2):
            ok = run_failure(number, scenario, shop, state) and ok
        say(f"\n  (+ {len(read_mail(mail_dir))} e-mail(s) captured by the local SMTP server in {mail_dir})")
    say(
        f"\n{'✔ demo finished as expected' if ok else '✗ demo did not behave as expected'} "
        f"in {time.monotonic() - started:.0f}s"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(demo())
