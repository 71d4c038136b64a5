"""Fixtures shared by the unit tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    """A copy of the project's dag_configs to break in place."""
    target = tmp_path / "dag_configs"
    shutil.copytree(ROOT / "dag_configs", target)
    return target


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
        client = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id=conn["login"],
            aws_secret_access_key=conn["password"],
        )
        client.create_bucket(Bucket=bucket)
        yield client, settings.connection("lakehouse")["host"]
    finally:
        server.stop()
