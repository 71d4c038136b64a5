"""Bronze benchmark: a 10-column PostgreSQL table landed in S3 as parquet, ours vs SqlToS3Operator.

A real PostgreSQL server (the machine's binaries, ``medallion.local.postgres``) and the local S3
server (moto, 127.0.0.1) are started here; the table is generated inside PostgreSQL with
``generate_series``. Each extract runs in its own child process so the OS measures its peak RSS
alone (``wait4``): our ``LandSqlSourceOperator`` (DuckDB's postgres scanner → parquet → commit
with manifest) and the amazon provider's ``SqlToS3Operator`` (pandas → parquet), both on the same
table, the same connections and the same S3. Ours also runs on a 1M-row table to show that its
memory does not grow with the table. Prints figures and ends with one RESULT line.
Usage: python benchmarks/bench_bronze.py [--rows N]   (default 10,000,000; SqlToS3Operator needs
about 1.2 GB per million rows, so the run waits until that much memory is free)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

from _common import child_environment, isolated_environment, peak_rss_mb, run_child, timed

BUCKET = "bench-lake"
PG_CONN, S3_CONN = "bench_pg", "bench_s3"
DS = "2026-11-20"
SMALL_ROWS = 1_000_000
SQLTOS3_BYTES_PER_ROW = 1400  # measured peak (12 GB at 10M rows) plus headroom
COLUMNS = (
    "order_id bigint, customer_id int, amount numeric(12,2), quantity int, unit_price double precision, "
    "status text, channel text, created_at timestamptz, order_date date, paid boolean"
)


def generate_table(server, name: str, rows: int) -> None:
    """``rows`` rows of a typical orders table, made by PostgreSQL itself (seconds, not minutes)."""
    con = server.connect()
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute(f"CREATE TABLE {name} ({COLUMNS})")
        cur.execute(
            f"INSERT INTO {name} SELECT g, (g % 100000)::int, round((g % 100000) * 0.37, 2), g % 7 + 1, "
            "(g % 1000) / 10.0, (ARRAY['paid','shipped','cancelled','returned'])[g % 4 + 1], 'web-' || g % 13, "
            "timestamptz '2026-01-01 00:00+00' + g * interval '1 second', date '2026-01-01' + (g % 365)::int, "
            f"g % 3 <> 0 FROM generate_series(1, {rows}) g"
        )
        cur.execute(f"VACUUM (FREEZE, ANALYZE) {name}")  # both extracts read the same settled pages
    con.close()


def child(kind: str, table: str) -> None:
    """One extract in this (child) process; prints how long ``execute`` took and what it landed."""
    if kind == "ours":
        from medallion.bronze.operator import LandSqlSourceOperator

        ti = SimpleNamespace(dag_id="bench_bronze", task_id="extract", try_number=1, xcom_push=lambda **_: None)
        operator = LandSqlSourceOperator(
            task_id="extract",
            source_name=table,
            conn_id=PG_CONN,
            query=f"SELECT * FROM {table}",
            bucket=BUCKET,
            partition_key=f"bronze/bench/{table}/ds={DS}/",
            aws_conn_id=S3_CONN,
        )
        seconds, result = timed(lambda: operator.execute({"ti": ti, "run_id": f"bench__{DS}", "ds": DS}))
        print(json.dumps({"seconds": seconds, "rows": result["rows"], "bytes": result["bytes"]}))
        return
    from airflow.providers.amazon.aws.transfers.sql_to_s3 import SqlToS3Operator

    operator = SqlToS3Operator(
        task_id="sql_to_s3",
        query=f"SELECT * FROM {table}",
        s3_bucket=BUCKET,
        s3_key=f"sqltos3/{table}.parquet",
        sql_conn_id=PG_CONN,
        aws_conn_id=S3_CONN,
        file_format="parquet",
        replace=True,
    )
    seconds, _ = timed(lambda: operator.execute({}))
    print(json.dumps({"seconds": seconds}))


def parquet_rows(s3_port: int, key: str) -> tuple[int, int]:
    """(rows, bytes) of a parquet object, from its footer only."""
    import pyarrow.parquet as pq
    from pyarrow import fs

    s3 = fs.S3FileSystem(
        access_key="bench", secret_key="bench", endpoint_override=f"127.0.0.1:{s3_port}", scheme="http"
    )
    path = f"{BUCKET}/{key}"
    with s3.open_input_file(path) as fh:
        return pq.ParquetFile(fh).metadata.num_rows, s3.get_file_info(path).size


def wait_for_memory(needed_gb: float, max_wait: float = 1800) -> None:
    """Another benchmark may be holding memory: SqlToS3Operator would otherwise be killed."""
    deadline = time.monotonic() + max_wait
    while True:
        with open("/proc/meminfo") as fh:
            info = {line.split(":")[0]: int(line.split()[1]) for line in fh}
        free_gb = info["MemAvailable"] / 1024 / 1024
        if free_gb >= needed_gb:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {free_gb:.1f} GB available, SqlToS3Operator needs about {needed_gb:.0f} GB")
        print(f"waiting for memory: {free_gb:.1f} GB available, {needed_gb:.1f} GB needed", flush=True)
        time.sleep(30)


@contextlib.contextmanager
def s3_server(port: int, timeout: float = 60) -> Iterator[None]:
    """The local S3 server (moto) with the lake bucket, in a process of its own: Linux starts a
    child's peak RSS from its parent's, so what moto stores must not live in this process."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/{BUCKET}", method="PUT")
                urllib.request.urlopen(request, timeout=5).close()  # create the bucket
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the local S3 server did not start on 127.0.0.1:{port}") from None
                time.sleep(0.2)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure(kind: str, table: str, env: dict[str, str]) -> dict:
    """One extract in a fresh child: ``execute`` seconds (timed in the child, after the imports
    every worker has already paid), the child's wall seconds and its peak RSS."""
    run = run_child([sys.executable, str(Path(__file__).resolve()), "--child", kind, "--table", table], env=env)
    landed = next(json.loads(line) for line in reversed(run.stdout.splitlines()) if line.startswith('{"seconds"'))
    return landed | {"wall": run.seconds, "rss": run.peak_rss_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--child", choices=["ours", "sqltos3"], help=argparse.SUPPRESS)
    parser.add_argument("--table", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.table)

    from medallion.local.postgres import PostgresServer, pg_bin
    from medallion.local.service import free_port

    if pg_bin() is None:
        sys.exit("PostgreSQL binaries are not installed (scripts/system_packages.sh)")
    tmp = isolated_environment("bronze")
    rows, small = args.rows, SMALL_ROWS if args.rows > SMALL_ROWS else max(args.rows // 10, 1)
    s3_port = free_port()
    try:
        with s3_server(s3_port), PostgresServer(database="bench") as pg:
            began = time.perf_counter()
            generate_table(pg, "orders_full", rows)
            generate_table(pg, "orders_small", small)
            print(f"generated {rows:,} + {small:,} rows in PostgreSQL in {time.perf_counter() - began:.1f}s")
            env = child_environment(
                tmp,
                **{
                    f"AIRFLOW_CONN_{PG_CONN.upper()}": json.dumps(pg.connection_json()),
                    f"AIRFLOW_CONN_{S3_CONN.upper()}": json.dumps(
                        {
                            "conn_type": "aws",
                            "login": "bench",
                            "password": "bench",
                            "extra": {"region_name": "us-east-1", "endpoint_url": f"http://127.0.0.1:{s3_port}"},
                        }
                    ),
                },
            )
            generate_table(pg, "orders_warmup", 1000)
            for kind in ("ours", "sqltos3"):  # fills the bytecode cache: no run pays for compiling imports
                measure(kind, "orders_warmup", env)
            ours = measure("ours", "orders_full", env)
            ours_small = measure("ours", "orders_small", env)
            assert ours["rows"] == rows and ours_small["rows"] == small, (ours, ours_small)
            wait_for_memory(max(2.0, rows * SQLTOS3_BYTES_PER_ROW / 1e9))
            theirs = measure("sqltos3", "orders_full", env)
            parent_mb = peak_rss_mb()  # Linux counts it in every child's peak: it must stay well below
            theirs_rows, theirs_bytes = parquet_rows(s3_port, "sqltos3/orders_full.parquet")
            assert theirs_rows == rows, theirs_rows
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"table: {rows:,} rows x 10 columns ({COLUMNS}); times are execute(), peak RSS the whole child process")
    print(
        f"ours (LandSqlSourceOperator: DuckDB postgres scanner → parquet zstd → S3, manifest last): "
        f"{ours['seconds']:.1f}s ({ours['wall']:.1f}s child wall), {rows / ours['seconds']:,.0f} rows/s, "
        f"peak RSS {ours['rss']:.0f} MB, {ours['bytes'] / 1e6:.0f} MB landed"
    )
    print(f"peak RSS of this (parent) process while the runs forked from it: {parent_mb:.0f} MB")
    print(f"ours at {small:,} rows: {ours_small['seconds']:.1f}s, peak RSS {ours_small['rss']:.0f} MB")
    print(
        f"SqlToS3Operator (pandas → parquet → S3): {theirs['seconds']:.1f}s ({theirs['wall']:.1f}s child wall), "
        f"{rows / theirs['seconds']:,.0f} rows/s, peak RSS {theirs['rss']:.0f} MB, {theirs_bytes / 1e6:.0f} MB landed"
    )
    print(
        f"RESULT bronze rows={rows} seconds={ours['seconds']:.1f} rows_per_sec={rows / ours['seconds']:.0f} "
        f"speedup_vs_sqltos3={theirs['seconds'] / ours['seconds']:.1f} "
        f"rss_ratio_vs_sqltos3={ours['rss'] / theirs['rss']:.3f} "
        f"peak_rss_mb_1m={ours_small['rss']:.0f} peak_rss_mb_10m={ours['rss']:.0f}"
    )


if __name__ == "__main__":
    main()
