"""Catalog benchmark: server time of the catalog's home page and of one product page with N pipelines.

N specs of the example's shape (``bench_parse.generate_specs``' approach: one copy per pipeline with its
own tables) spread over 10 domains; every pipeline has a DAG in Airflow's database (its own, isolated)
with its last 5 runs, each layer of each run a gate report in a local S3 (moto) and each table a published
version in a DuckDB lakehouse, so both pages read everything they read in production. Requests go through
FastAPI's TestClient with Airflow's real auth (a JWT of the simple auth manager); the figure is the app's
``Server-Timing``, best of R after one warm-up (the first request, which indexes the specs, is printed too).
Prints figures and ends with one RESULT line.
Usage: python benchmarks/bench_catalog.py [N] [ROUNDS]
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
from pathlib import Path

from _common import isolated_environment

TMP = isolated_environment("catalog")
ROOT = Path(__file__).resolve().parents[1]
N = int(sys.argv[1]) if len(sys.argv) > 1 else 500
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
RUNS = 5
LAKEHOUSE = TMP / "lakehouse.duckdb"
PORT = __import__("medallion.local.service", fromlist=["free_port"]).free_port()
TABLES = ("silver.orders", "silver.customers")


def generate_specs(target: Path, n: int) -> list[tuple[str, str]]:
    """N copies of the example spec over 10 domains, each writing its own tables; returns (domain, id)."""
    shutil.copytree(ROOT / "dag_configs", target, ignore=shutil.ignore_patterns("marketing", "sales"))
    import yaml

    doc = yaml.safe_load((ROOT / "dag_configs/sales/orders.yaml").read_text())
    for notebook in doc["silver"]["notebooks"]:  # their unit tests name the example's own tables
        notebook.pop("tests", None)
        notebook.pop("tests_file", None)
    template = yaml.safe_dump(doc, sort_keys=False)
    assert all(t in template for t in TABLES), "the example spec changed"
    out = []
    for i in range(n):
        domain, suffix = f"domain{i % 10}", f"p{i:04d}"
        text = template
        for table in TABLES:
            text = text.replace(table, f"{table}_{suffix}")
        folder = target / domain
        if not folder.exists():  # the sales domain's defaults (owners, alerts, grants) in every domain
            folder.mkdir()
            shutil.copy(ROOT / "dag_configs/sales/defaults.yaml", folder / "defaults.yaml")
        (folder / f"orders_{i:04d}.yaml").write_text(text)
        out.append((domain, f"{domain}_orders_{i:04d}"))
    return out


def seed_airflow(ids: list[str]) -> list[str]:
    """A DAG row per pipeline and its last RUNS runs (Airflow's models, one transaction); returns the dates."""
    from airflow.models.dag import DagModel
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunType

    dates = [dt.datetime(2026, 11, 20 - k, tzinfo=dt.UTC) for k in range(RUNS)]
    with create_session() as session:
        session.add(DagBundleModel(name="dags-folder"))
        session.flush()
        for dag_id in ids:
            session.add(DagModel(dag_id=dag_id, bundle_name="dags-folder", is_paused=False))
        session.flush()
        for dag_id in ids:
            for k, when in enumerate(dates):
                run = DagRun(
                    dag_id=dag_id,
                    run_id=f"scheduled__{when.isoformat()}",
                    logical_date=when,
                    run_after=when,
                    data_interval=(when, when + dt.timedelta(days=1)),
                    run_type=DagRunType.SCHEDULED,
                    state=DagRunState.FAILED if k == 1 else DagRunState.SUCCESS,
                )
                run.end_date = when + dt.timedelta(days=1, minutes=20)
                session.add(run)
    return [d.date().isoformat() for d in dates]


def seed_lake(specs: dict, dates: list[str]) -> None:
    """Gate reports (JSON and HTML) for every layer and run in a moto S3, published versions in DuckDB."""
    import boto3
    import duckdb
    from moto.server import ThreadedMotoServer

    from medallion import layout

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=PORT)
    server.start()
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{PORT}",
        aws_access_key_id="k",
        aws_secret_access_key="s",
        region_name="us-east-1",
    )
    bucket = next(iter(specs.values())).lake.bucket
    s3.create_bucket(Bucket=bucket)
    rows = []
    for spec in specs.values():
        for ds in dates:
            for layer in ("bronze", "silver", "gold"):
                report = {"pipeline": spec.id, "layer": layer, "logical_date": ds, "run_id": f"scheduled__{ds}",
                          "status": "passed", "critical_failures": 0, "warnings": 0, "tables": []}  # fmt: skip
                key = layout.quality_report_key(spec, layer, ds, "report", "json")
                s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(report).encode())
        rows += [(f"{t}_{spec.id.rsplit('_', 1)[1]}", spec.id) for t in TABLES]
    con = duckdb.connect(str(LAKEHOUSE))
    con.execute("CREATE SCHEMA ops")
    con.execute(
        "CREATE TABLE ops.published_versions (table_name STRING, pipeline STRING, logical_date DATE, run_id STRING, "
        "published_at TIMESTAMP, staging STRING, semantics STRING)"
    )
    con.executemany(
        "INSERT INTO ops.published_versions VALUES (?, ?, DATE '2026-11-20', 'r', current_timestamp, 's', 'snapshot')",
        rows,
    )
    con.close()


def own_connections() -> None:
    """The project's connections with this benchmark's S3 port and lakehouse file (an overlay settings file)."""
    import yaml

    doc = yaml.safe_load((ROOT / "airflow_settings.yaml").read_text())
    for conn in doc["airflow"]["connections"]:
        if conn["conn_id"] == "aws_lake":
            conn["conn_extra"]["endpoint_url"] = f"http://127.0.0.1:{PORT}"
        if conn["conn_id"] == "lakehouse":
            conn["conn_host"] = str(LAKEHOUSE)
    (TMP / "airflow_settings.yaml").write_text(yaml.safe_dump(doc))
    os.environ["MEDALLION_AIRFLOW_SETTINGS"] = str(TMP / "airflow_settings.yaml")
    os.environ["MEDALLION_LOCAL_DIR"] = str(TMP)


def main() -> None:
    from medallion.local.runtime import prepare_environment

    own_connections()

    prepare_environment(airflow_home=TMP / "airflow")
    pipelines = generate_specs(TMP / "dag_configs", N)
    dates = seed_airflow([pid for _, pid in pipelines])

    from airflow.api_fastapi.app import init_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    from medallion.catalog.app import create_app

    auth = init_auth_manager()
    token = auth.generate_jwt(SimpleAuthManagerUser(username="bench", role="admin"))
    app = create_app(TMP / "dag_configs")
    catalog = app.state.catalog.get()
    assert len(catalog.products) == N, f"{len(catalog.products)} of {N} specs indexed: {catalog.invalid[:3]}"
    seed_lake({pid: p.spec for pid, p in catalog.products.items()}, dates)
    app.state.catalog = type(app.state.catalog)(TMP / "dag_configs")  # cold again, for the first request
    client = TestClient(app, root_path="/catalog")
    headers = {"Authorization": f"Bearer {token}"}
    product = pipelines[N // 2][1]

    def server_ms(path: str) -> float:
        response = client.get(path, headers=headers)
        assert response.status_code == 200, response.text[:500]
        return float(response.headers["Server-Timing"].split("dur=")[1])

    first = server_ms("/")
    home = min(server_ms("/") for _ in range(ROUNDS))
    server_ms(f"/products/{product}")
    page = min(server_ms(f"/products/{product}") for _ in range(ROUNDS))
    body = client.get("/", headers=headers).text
    assert body.count('class="product"') == N, "the home page should list every pipeline"
    detail = client.get(f"/api/products/{product}", headers=headers).json()
    assert len(detail["runs"]) == RUNS and all(all(r["gates"].values()) for r in detail["runs"]), json.dumps(detail)[
        :3000
    ]
    print(f"pipelines: {N} in 10 domains, {RUNS} runs each, 3 gate reports per run")
    print(f"home: first request (indexes the specs) {first:.0f} ms, then best of {ROUNDS} {home:.0f} ms")
    print(f"product page ({product}: {RUNS} runs x 3 gate reports from S3, published versions): {page:.0f} ms")
    print(f"RESULT catalog pipelines={N} home_ms={home:.0f} product_ms={page:.0f}")


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
