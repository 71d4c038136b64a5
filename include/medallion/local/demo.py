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


@contextmanager
def local_services() -> Any:
    from medallion.local import services

    say("▶ starting local services (S3, Databricks emulator, Slack, SMTP) on 127.0.0.1 …")
    state = services.start_background()
    try:
        yield state
    finally:
        services.stop_background()
        say("■ local services stopped")


def table_rows(lakehouse: str, tables: list[str]) -> dict[str, int | str]:
    from medallion import duck

    out: dict[str, int | str] = {}
    con = duck.connect(lakehouse)
    try:
        for table in tables:
            try:
                out[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            except Exception:
                out[table] = "missing"
    finally:
        con.close()
    return out


def layer_tables(result: Any) -> list[str]:
    """Tables a run wrote: silver notebook outputs and gold models, from the spec and task ids."""
    from medallion.spec.project import load_project

    project = load_project(paths.project_root() / "dag_configs")
    spec = next((i.spec for i in project.valid.values() if i.spec.id == result.dag_id), None)
    silver = [t for nb in (spec.silver.notebooks if spec and spec.silver else []) for t in nb.outputs]
    runs = (re.fullmatch(r"gold\.(\w+?)(?:\.run|_run)", t) for t in result.tasks)
    gold = sorted({f"gold.{m.group(1)}" for m in runs if m})
    return silver + gold


def print_summary(result: Any, lakehouse: str) -> None:
    say(f"  run {result.dag_id} {result.logical_date}: {result.state}")
    for task_id, value in sorted(result.xcoms.items()):
        if task_id.startswith("bronze.extract_") and isinstance(value, dict):
            say(f"  bronze  {value['source']:<10} {value['rows']:>8,} rows landed → {value['partition']}")
    for table, rows in table_rows(lakehouse, layer_tables(result)).items():
        layer = table.split(".")[0]
        say(
            f"  {layer:<7} {table:<30} {rows:>8,} rows" if isinstance(rows, int) else f"  {layer:<7} {table:<30} {rows}"
        )
    for layer in ("bronze", "silver", "gold"):
        if f"{layer}_gate" not in result.tasks:
            continue
        report = result.xcoms.get(f"{layer}_gate") or {}
        extra = (
            (
                f" ({report.get('status')}: {report.get('critical_failures', 0)} critical, "
                f"{report.get('warnings', 0)} warning)"
            )
            if report
            else ""
        )
        say(f"  gate    {layer:<7} {result.tasks[f'{layer}_gate']}{extra}")


def run_once(pipeline: str, ds: str, *, with_services: bool = True) -> bool:
    """``medallion run``: one pipeline, one date, services started for the occasion."""
    from medallion.local.runtime import prepare_environment

    prepare_environment()
    with local_services() if with_services else _nothing():
        from medallion.settings import load_settings

        result = logged_run(pipeline, ds, "run")
        print_summary(result, load_settings().connection("lakehouse")["host"])
        return result.succeeded


@contextmanager
def _nothing() -> Any:
    yield None


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

    log_file = paths.local_dir() / "logs" / f"{pipeline}-{ds}-{label}.log"
    log_file.unlink(missing_ok=True)
    started = time.monotonic()
    with output_to(log_file):
        result = run_pipeline(pipeline, ds)
    say(
        f"  ({time.monotonic() - started:.0f}s; Airflow task logs: {log_file.relative_to(paths.project_root())})"
        if log_file.is_relative_to(paths.project_root())
        else f"  (Airflow task logs: {log_file})"
    )
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
            expect_in_alert=("non_negative_daily_revenue_revenue", "failing row(s)", "compiled SQL"),
        ),
        FailureScenario(
            "orders with negative prices and an unknown status",
            lambda shop: f"{inject_bad_orders(shop, day)} orders injected",
            failed_task="silver_gate",
            not_run="gold",
            alert_class="quality_gate_failed",
            expect_in_alert=("expect_column_values_to_be_between", "unit_price"),
            note="silver tables kept their last good version; the rejected data stays in staging.* for inspection",
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


def run_failure(number: int, scenario: FailureScenario, shop: Path, state: dict[str, Any]) -> bool:
    """Inject, re-run, check the expected task failed and nothing downstream ran, show the alert."""
    from medallion.local.slack_server import read_messages

    say(f"\n▶ run {number}: {scenario.label} ({scenario.inject(shop)}); re-running …")
    result = logged_run(DEMO_PIPELINE, DEMO_DATE, f"run{number}-{scenario.alert_class}")
    print_summary(result, state["lakehouse"])
    if scenario.note:
        say(f"  {scenario.note}")
    ok = True
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
            f"duplicates), {stats.customers:,} customers → {shop.relative_to(paths.project_root())}"
        )
        slack_dir, mail_dir = Path(state["state_dir"]) / "slack", Path(state["state_dir"]) / "mail"
        clear_messages(slack_dir)
        clear_mail(mail_dir)

        say(f"\n▶ run 1: {DEMO_PIPELINE} for {DEMO_DATE} (clean data) …")
        first = logged_run(DEMO_PIPELINE, DEMO_DATE, "run1")
        print_summary(first, state["lakehouse"])
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
