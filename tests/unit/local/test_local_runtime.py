"""The local runtime around a run: taken ports, a runtime already running, S3 state that survives
stop and kill -9, the example shop generated when missing, and `medallion run` of an invalid spec.

Real servers on this session's free ports (tests/conftest.py), real boto3 / S3Hook against them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from boto3.s3.transfer import TransferConfig

from medallion.cli import main as cli
from medallion.local import services
from medallion.settings import load_settings

pytestmark = pytest.mark.integration  # every test here starts the servers it checks

ROOT = Path(__file__).resolve().parents[3]


def s3_client(state: dict) -> object:
    conn = load_settings().connection("aws_lake")
    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{state['s3_port']}",
        region_name="us-east-1",
        aws_access_key_id=conn["login"],
        aws_secret_access_key=conn["password"],
    )


def listing(s3: object, bucket: str) -> dict[str, tuple[str, object, int]]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"]: (o["ETag"], o["LastModified"], o["Size"]) for p in pages for o in p.get("Contents", [])}


@pytest.fixture
def listener() -> object:
    """A process that holds the overlay's S3 port (started and stopped by its PID)."""
    port = services.LocalEndpoints.from_settings(load_settings()).s3_port
    code = (
        "import socket, time\n"
        f"s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', {port}))\n"
        "s.listen(); print('listening', flush=True); time.sleep(120)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "listening"
        yield proc, port
    finally:
        proc.kill()
        proc.wait()


def test_a_taken_port_is_refused_in_one_line_naming_port_connection_and_holder(
    listener: tuple, capsys: pytest.CaptureFixture
) -> None:
    proc, port = listener
    assert cli(["local", "up"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"port {port} (aws_lake, local S3) is held by pid {proc.pid} (" in err
    assert "airflow_settings.yaml" in err  # where to give it another port
    assert services.running() is None


def test_a_port_taken_after_the_check_names_the_server_and_its_holder(listener: tuple) -> None:
    """Between the check and the bind another process can take a port: the runtime's last line says which."""
    proc, port = listener
    with pytest.raises(services.LocalRuntimeError) as raised:
        services.serve(stop=threading.Event())
    assert str(raised.value).startswith(
        f"local S3 cannot listen on 127.0.0.1:{port} (aws_lake): held by pid {proc.pid} ("
    )


def test_run_and_up_use_the_runtime_already_running(capsys: pytest.CaptureFixture) -> None:
    assert cli(["local", "up"]) == 0
    state = services.running()
    assert state is not None
    try:
        assert cli(["local", "up"]) == 0
        assert f"already running (pid {state['pid']})" in capsys.readouterr().out
        with pytest.raises(services.LocalRuntimeError, match=r"already running \(pid \d+\)"):
            services.start_background()
        said: list[str] = []
        with services.local_runtime(said.append) as used:
            assert used["pid"] == state["pid"]
        assert said == [
            f"▶ using the local runtime already running (pid {state['pid']}; `medallion local down` stops it)"
        ]
        assert services.running() is not None  # not stopped by the block that only used it
    finally:
        assert cli(["local", "down"]) == 0
    assert services.running() is None


def test_a_stale_state_file_is_not_a_running_runtime() -> None:
    state_file = Path(os.environ["MEDALLION_LOCAL_DIR"]) / "services.json"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state_file.write_text(json.dumps({"pid": dead.pid}), encoding="utf-8")
    assert services.running() is None
    assert not state_file.exists()


def _land(bucket: str, ds: str, rows: int, tmp: Path) -> dict:
    """Commit a bronze partition and a gate report through the project's own code (S3Hook)."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from medallion.bronze.landing import Manifest, commit_partition

    hook = S3Hook(aws_conn_id="aws_lake")
    part = tmp / f"{ds}.parquet"
    pq.write_table(pa.table({"order_id": list(range(rows)), "updated_at": [f"{ds} 10:00"] * rows}), part)
    manifest = Manifest(
        source={"name": "orders"},
        dag_id="sales_orders",
        run_id=f"manual__{ds}",
        task_id="bronze.extract_orders",
        try_number=1,
        logical_date=ds,
        extracted_at=f"{ds}T12:00:00",
        row_count=rows,
        bytes=0,
        checksum="",
        schema=[],
        files=[],
        watermark={"column": "updated_at", "value": f"{ds} 10:00"},
    )
    commit_partition(hook, bucket, f"bronze/sales/orders/ds={ds}/", [(part, rows)], manifest)
    outcome = {"expectation": "expect_table_row_count_to_be_between", "success": True, "observed": rows}
    report = {"status": "passed", "tables": [{"table": "silver.orders", "outcomes": [outcome]}]}
    hook.load_string(json.dumps(report), f"quality/sales/sales_orders/silver/ds={ds}/report.json", bucket, replace=True)
    return report


def test_local_s3_state_survives_stop_and_kill_9(tmp_path: Path) -> None:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from medallion.bronze.landing import manifest_before
    from medallion.quality.volume import row_counts_from_reports

    state = services.start_background()
    try:
        s3, bucket = s3_client(state), state["bucket"]
        _land(bucket, "2026-11-18", 3, tmp_path)
        _land(bucket, "2026-11-18", 5, tmp_path)  # a re-run replaces the partition (and deletes stale files)
        _land(bucket, "2026-11-19", 7, tmp_path)
        big = tmp_path / "big.bin"
        big.write_bytes(os.urandom(11 * 1024 * 1024))
        chunks = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
        s3.upload_file(str(big), bucket, "bronze/files/big.bin", Config=chunks)
        s3.put_object(Bucket=bucket, Key="alerts/sales_orders/gone.json", Body=b"{}")
        s3.delete_object(Bucket=bucket, Key="alerts/sales_orders/gone.json")
        before = listing(s3, bucket)
        assert before["bronze/files/big.bin"][0].endswith('-3"')  # a multipart ETag

        services.stop_background()  # graceful
        state = services.start_background()
        assert listing(s3_client(state), bucket) == before

        os.kill(state["pid"], signal.SIGKILL)  # a crash: nothing flushed on the way out
        os.waitpid(state["pid"], 0)  # our child (start_background started it): reaped once dead
        assert services.running() is None  # its state file is stale now
        state = services.start_background()
        s3 = s3_client(state)
        assert listing(s3, bucket) == before
        assert s3.get_object(Bucket=bucket, Key="bronze/files/big.bin")["Body"].read() == big.read_bytes()

        # a crash in the middle of a write leaves a data file without its record, or a temp file;
        # a record whose data is gone is skipped: the restart serves the last acknowledged state
        services.stop_background()
        objects = Path(state["state_dir"]) / "s3" / bucket / "objects"
        orphan, tmp = objects / ("0" * 40 + ".deadbeef.data"), objects / ".x.json.1.2.tmp"
        lost = objects / ("f" * 40 + ".json")
        orphan.write_bytes(b"half")
        tmp.write_bytes(b"{")
        lost.write_text(json.dumps({"key": "lost", "data": "nowhere.data", "etag": "x"}))
        state = services.start_background()
        s3 = s3_client(state)
        assert listing(s3, bucket) == before
        assert not orphan.exists() and not tmp.exists() and not lost.exists()

        hook = S3Hook(aws_conn_id="aws_lake")
        previous = manifest_before(hook, bucket, "bronze/sales/orders/", "bronze/sales/orders/ds=2026-11-20/")
        assert previous["logical_date"] == "2026-11-19" and previous["watermark"]["value"] == "2026-11-19 10:00"
        files = [k for k in before if k.startswith("bronze/sales/orders/ds=2026-11-18/")]
        assert len(files) == 2  # the re-run's file and its manifest: the first attempt's file stayed deleted
        reports = sorted(  # what the silver gate reads as volume history for 2026-11-20
            k
            for k in before
            if k.startswith("quality/sales/sales_orders/silver/ds=")
            and k.endswith("/report.json")
            and k < "quality/sales/sales_orders/silver/ds=2026-11-20/"
        )
        history = row_counts_from_reports((json.loads(hook.read_key(k, bucket)) for k in reports), "silver.orders")
        assert history == [5, 7]  # volume history continues
    finally:
        services.stop_background()


def test_ensure_example_shop_generates_the_missing_database_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medallion.local.shop import ensure_example_shop

    doc = yaml.safe_load(Path(os.environ["MEDALLION_AIRFLOW_SETTINGS"]).read_text(encoding="utf-8"))
    shop = tmp_path / "sources" / "shop.sqlite"
    for conn in doc["airflow"]["connections"]:
        if conn["conn_id"] == "shop_db":
            conn["conn_host"] = str(shop)
    overlay = tmp_path / "airflow_settings.yaml"
    overlay.write_text(yaml.safe_dump(doc), encoding="utf-8")
    monkeypatch.setenv("MEDALLION_AIRFLOW_SETTINGS", str(overlay))
    said: list[str] = []
    day = dt.date(2026, 11, 20)
    assert ensure_example_shop({"other_db"}, day, said.append) is None and not shop.exists()
    assert ensure_example_shop({"shop_db", None}, day, said.append) == shop and shop.is_file()
    assert said == [
        f"▶ {shop} (shop_db) was missing: generated the example shop database (100,000 orders up to 2026-11-20)"
    ]
    assert ensure_example_shop({"shop_db"}, day, said.append) is None and len(said) == 1


def test_run_of_an_invalid_spec_prints_its_errors_like_validate(
    configs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    spec = configs / "sales" / "orders.yaml"
    spec.write_text(spec.read_text().replace("tier: 1", "tier: first"), encoding="utf-8")
    monkeypatch.setenv("MEDALLION_CONFIG_DIR", str(configs))
    assert cli(["validate", str(configs)]) == 1
    validate_err = capsys.readouterr().err
    assert cli(["run", "sales_orders", "--date", "2026-11-20"]) == 1
    err = capsys.readouterr().err
    problems = [line for line in validate_err.splitlines() if "orders.yaml:" in line]
    assert problems and all(line in err for line in problems)
    assert "Traceback" not in err and "KeyError" not in err
    assert "error: sales_orders cannot run:" in err and "`medallion validate " in err
    assert cli(["run", "invalid__sales_orders", "--date", "2026-11-20"]) == 1
    assert "cannot run" in capsys.readouterr().err
    assert cli(["run", "no_such_pipeline", "--date", "2026-11-20"]) == 1
    assert "error: no pipeline 'no_such_pipeline'" in capsys.readouterr().err
    assert cli(["run", "sales_orders", "--date", "20-11-2026"]) == 2


@pytest.mark.slow
def test_two_pytest_sessions_at_once_both_start_the_local_services(tmp_path: Path) -> None:
    probe = Path(__file__).parent / "local_services_probe.py"  # not a test_*.py: run only from here
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDALLION_", "AIRFLOW"))}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(probe)]
    procs = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = []
    for proc in procs:
        try:
            outputs.append(proc.communicate(timeout=420)[0])
        except subprocess.TimeoutExpired:
            proc.kill()
            outputs.append(proc.communicate()[0])
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0 and "1 passed" in out, out[-3000:]


def test_port_holder_names_the_listening_process() -> None:
    from medallion.local.service import port_holder, port_taken

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.listen()
        assert port_taken(port)
        assert port_holder(port).startswith(f"pid {os.getpid()} (")
    assert port_holder(port) == "another process"


@pytest.mark.slow
def test_medallion_run_on_a_fresh_clone_then_a_failing_run_summary(capsys: pytest.CaptureFixture) -> None:
    """`medallion run` generates the missing shop database, runs, and summarises; a run whose silver gate
    fails names the task and its alert class and marks the tables it did not write."""
    from medallion.local.shop import inject_bad_orders

    shop = Path(load_settings().connection("shop_db")["host"])
    shop.unlink(missing_ok=True)
    code = cli(["run", "sales_orders", "--date", "2026-11-20"])
    out = capsys.readouterr().out
    assert code == 0, "\n".join(line for line in out.splitlines() if line.startswith(("  ", "▶")))
    assert f"▶ {shop} (shop_db) was missing: generated the example shop database" in out
    assert "run sales_orders 2026-11-20: success (" in out and " failed" not in out
    assert "gate    silver  passed: all " in out and "expectations met" in out
    assert "not written by this run" not in out
    logs = sorted((Path(os.environ["MEDALLION_LOCAL_DIR"]) / "logs").glob("sales_orders-2026-11-20-run-*.log"))

    inject_bad_orders(shop, dt.date(2026, 11, 20))
    assert cli(["run", "sales_orders", "--date", "2026-11-20"]) == 1
    out = capsys.readouterr().out
    assert "failed  silver_gate: alert quality_gate_failed (" in out, out
    assert "gate    silver  failed: " in out and "expectations not met (" in out
    assert "silver.orders" in out and "(not written by this run: left by an earlier run)" in out
    assert "gate    gold    not run (upstream failed)" in out
    assert "tasks   gold    7 not run (upstream failed)" in out  # preflight, 2 models x (run, test), gate, publish
    again = sorted((Path(os.environ["MEDALLION_LOCAL_DIR"]) / "logs").glob("sales_orders-2026-11-20-run-*.log"))
    assert len(again) == len(logs) + 1  # each run its own log file


def test_summary_names_the_failed_task_its_alert_class_and_marks_tables_this_run_did_not_write(tmp_path: Path) -> None:
    from slack_sdk import WebClient

    from medallion import duck
    from medallion.alerts.message import Alert
    from medallion.local.runtime import RunResult
    from medallion.local.slack_server import SlackServer
    from medallion.local.smtp_server import SmtpServer
    from medallion.local.summary import summary_lines

    lakehouse = str(tmp_path / "lakehouse.duckdb")
    con = duck.connect(lakehouse)
    con.execute("CREATE SCHEMA silver; CREATE TABLE silver.orders AS SELECT range AS id FROM range(1234)")
    con.close()
    tasks = {
        "bronze.extract_orders": "success",
        "bronze_gate": "success",
        "silver.launch": "success",
        "silver.orders": "success",
        "silver_gate": "failed",
        "silver_publish": "upstream_failed",
        "gold_preflight": "upstream_failed",
        "gold.daily_revenue.run": "upstream_failed",
        "gold_gate": "upstream_failed",
    }
    report = {
        "status": "passed",
        "critical_failures": 0,
        "warnings": 0,
        "tables": [{"table": "orders", "evaluated": 6, "outcomes": [{}] * 6}],
    }
    xcoms = {"bronze_gate": report, "bronze.extract_orders": {"source": "orders", "rows": 5, "partition": "s3://l/p/"}}
    result = RunResult("sales_orders", "2026-11-20", "failed", tasks, xcoms, run_id="manual__1")
    alert = Alert(
        severity="critical",
        title="Data quality gate failed",
        summary="silver gate failed: 1 critical expectation(s) failed",
        pipeline="sales_orders",
        domain="sales",
        layer="silver",
        task="silver_gate",
        logical_date="2026-11-20",
        attempt="try 1 of 1",
        failure_class="quality_gate_failed",
    )
    since = dt.datetime.now(dt.UTC)
    with SlackServer(store_dir=tmp_path / "slack") as slack, SmtpServer(store_dir=tmp_path / "mail"):
        WebClient(token="xoxb-t", base_url=slack.url).chat_postMessage(channel="#sales", text=alert.text())
        lines = summary_lines(result, lakehouse, tables=["silver.orders"], state_dir=tmp_path, since=since)
        later = summary_lines(
            result, lakehouse, tables=["silver.orders"], state_dir=tmp_path, since=dt.datetime.now(dt.UTC)
        )
    assert lines[0] == "run sales_orders 2026-11-20: failed (4 passed, 1 failed, 4 not run (upstream failed))"
    assert "tasks   silver  2 passed, 1 failed, 1 not run (upstream failed)" in lines
    assert "tasks   gold    3 not run (upstream failed)" in lines
    assert "failed  silver_gate: alert quality_gate_failed (Data quality gate failed) sent to Slack" in lines
    assert any(
        line.startswith("failed  silver_gate: alert quality_gate_failed (") and "not repeated" in line for line in later
    )
    assert (
        "silver  silver.orders                     1,234 rows  (not written by this run: left by an earlier run)"
        in lines
    )
    assert "gate    bronze  passed: all 6 expectations met" in lines
    assert "gate    silver  failed" in lines
    assert "gate    gold    not run (upstream failed)" in lines
    passed = {**tasks, "silver_gate": "success", "silver_publish": "success"}
    ok = RunResult("sales_orders", "2026-11-20", "success", passed, xcoms, run_id="manual__2")
    assert not any("not written" in line for line in summary_lines(ok, lakehouse, tables=["silver.orders"]))


def test_gate_line_reads_as_expectations() -> None:
    from medallion.local.summary import gate_line

    report = {
        "status": "warning",
        "critical_failures": 0,
        "warnings": 2,
        "quarantined": 3,
        "tables": [{"evaluated": 9}],
    }
    assert gate_line("silver", "success", report) == (
        "passed with warnings: 2 of 9 expectations not met (2 warning), 3 row(s) quarantined"
    )
    failed = {"status": "failed", "critical_failures": 1, "warnings": 0, "tables": [{"evaluated": 4}]}
    assert gate_line("silver", "failed", failed) == "failed: 1 of 4 expectations not met (1 critical)"
