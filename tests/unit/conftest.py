"""Fixtures shared by the unit tests."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlparse
from urllib.request import Request, urlopen

import pytest
from lakehouse_state import forget_earlier_runs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    """A copy of the project's dag_configs to break in place."""
    target = tmp_path / "dag_configs"
    shutil.copytree(ROOT / "dag_configs", target)
    return target


CUSTOMERS_SQL_SOURCE = """    - kind: sql
      name: customers
      conn_id: shop_db
      query: SELECT customer_id, email, country, signup_date FROM customers"""


@pytest.fixture
def dag_with_customers_source(configs: Path) -> Callable[[str], object]:
    """Build the example pipeline's DAG with its ``customers`` bronze source replaced by a YAML block."""

    def build(source_yaml: str) -> object:
        from medallion.factory.loader import load_dags

        spec = configs / "sales/orders.yaml"
        text = spec.read_text()
        assert CUSTOMERS_SQL_SOURCE in text, "the example spec changed: update CUSTOMERS_SQL_SOURCE"
        spec.write_text(text.replace(CUSTOMERS_SQL_SOURCE, source_yaml))
        return load_dags(configs)["sales_orders"]

    return build


@pytest.fixture
def lake() -> Iterator[tuple[object, str]]:
    """The test overlay's aws_lake S3 (moto, with the example bucket) and lakehouse file, as operators find them."""
    import boto3
    from moto.server import ThreadedMotoServer

    from medallion.settings import load_settings
    from medallion.spec.load import SpecLoader

    bucket = SpecLoader(ROOT / "dag_configs").load(ROOT / "dag_configs/sales/orders.yaml").lake.bucket
    settings = load_settings()
    conn = settings.connection("aws_lake")
    port = urlparse(conn["extra"]["endpoint_url"]).port
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        # moto keeps objects per process: start from an empty lake, not from an earlier test's alert state
        urlopen(Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST"), timeout=10).close()
        client = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id=conn["login"],
            aws_secret_access_key=conn["password"],
        )
        client.create_bucket(Bucket=bucket)
        lakehouse = settings.connection("lakehouse")["host"]
        forget_earlier_runs(lakehouse)
        yield client, lakehouse
    finally:
        server.stop()


@pytest.fixture
def s3_lake(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    """A moto S3 server on a free port (so parallel test sessions never share it), a fresh bucket,
    and the Airflow connection ``aws_test`` reaching it: ``.client``, ``.bucket``, ``.conn_id``."""
    import boto3
    from moto.server import ThreadedMotoServer

    from medallion.local.service import free_port

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    extra = {"region_name": "us-east-1", "endpoint_url": endpoint}
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_TEST", json.dumps({"conn_type": "aws", "login": "k", "password": "s", "extra": extra})
    )
    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    bucket = f"lake-{uuid.uuid4().hex[:12]}"  # moto keeps objects per process: a bucket per test
    client.create_bucket(Bucket=bucket)
    try:
        yield SimpleNamespace(client=client, bucket=bucket, conn_id="aws_test", endpoint=endpoint, server=server)
    finally:
        server.stop()
