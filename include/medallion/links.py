"""Operator extra links: the bronze partition and the quality report, one click from a task.

The URL is computed when the task runs (it knows the S3 endpoint) and kept in XCom; the UI
only reads it back, so the api-server never needs the AWS connection.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

PARTITION_URL_KEY = "bronze_partition_url"
REPORT_URL_KEY = "quality_report_url"


def browser_url(s3_uri: str, endpoint_url: str | None = None) -> str:
    """``s3://bucket/key`` → a URL a person can open: the S3 console, or a local S3 endpoint."""
    bucket, _, key = s3_uri.removeprefix("s3://").partition("/")
    if endpoint_url:  # local S3 (moto, MinIO): path-style URLs serve the objects themselves
        return f"{endpoint_url.rstrip('/')}/{bucket}/{quote(key)}"
    kind = "buckets" if key.endswith("/") or not key else "object"
    return f"https://s3.console.aws.amazon.com/s3/{kind}/{bucket}?prefix={quote(key)}"


def endpoint_of(aws_conn_id: str) -> str | None:
    from airflow.sdk import BaseHook

    return (BaseHook.get_connection(aws_conn_id).extra_dejson or {}).get("endpoint_url")


class _XComLink(BaseOperatorLink):
    xcom_key = ""

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        return XCom.get_value(key=self.xcom_key, ti_key=ti_key) or ""


class BronzePartitionLink(_XComLink):
    name = "Bronze partition (S3)"
    xcom_key = PARTITION_URL_KEY


class QualityReportLink(_XComLink):
    name = "Quality report"
    xcom_key = REPORT_URL_KEY
