"""``make demo``: the example pipeline end to end on the local runtime, then a failing run.

1. start the local services and generate the shop database;
2. run ``sales_orders`` for one date and print what each layer produced and what each gate said;
3. inject bad orders, run again: the silver gate must fail, gold must not run, and the
   alert received by the local Slack endpoint is printed;
4. stop every service it started. Exit 0 only if all of that behaved as expected.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import time
from contextlib import contextmanager
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


def demo() -> int:
    from medallion.local.runtime import prepare_environment
    from medallion.local.shop import generate_shop, inject_bad_orders

    started = time.monotonic()
    prepare_environment()
    ok = True
    with local_services() as state:
        from medallion.local.slack_server import clear_messages, read_messages
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

        injected = inject_bad_orders(shop, dt.date.fromisoformat(DEMO_DATE))
        say(f"\n▶ run 2: {injected} orders with negative prices and an unknown status injected; re-running …")
        second = logged_run(DEMO_PIPELINE, DEMO_DATE, "run2-bad-data")
        print_summary(second, state["lakehouse"])
        say("  silver tables kept their last good version; the rejected data stays in staging.* for inspection")
        gold_ran = any(t.startswith("gold.") and s == "success" for t, s in second.tasks.items())
        if second.tasks.get("silver_gate") != "failed" or gold_ran:
            ok = False
            say("✗ run 2: the silver gate should fail and block gold; task states: " + str(second.tasks))
        alerts = [m for m in read_messages(slack_dir) if "silver" in (m.get("text") or "")]
        mails = read_mail(mail_dir)
        if alerts:
            say(f"\n▶ alert received by the local Slack endpoint (channel {alerts[-1]['channel']}):\n")
            say("    " + alerts[-1]["text"].replace("\n", "\n    "))
            say(f"\n  (+ {len(mails)} e-mail(s) captured by the local SMTP server in {mail_dir})")
        else:
            ok = False
            say("✗ no alert reached the local Slack endpoint")
    say(
        f"\n{'✔ demo finished as expected' if ok else '✗ demo did not behave as expected'} "
        f"in {time.monotonic() - started:.0f}s"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(demo())
