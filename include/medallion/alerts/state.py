"""What alerting remembers between callbacks: recent fingerprints (dedup) and each run's Slack
thread. Kept next to the data in the lake bucket, so every worker sees the same state."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from typing import Any

from medallion import connections

log = logging.getLogger(__name__)


def fingerprint(pipeline: str, task: str, failure_class: str, summary: str) -> str:
    """Same pipeline, task, class and message (numbers and ids blurred) → same fingerprint."""
    blurred = re.sub(r"[0-9a-f]{8,}|\d+", "#", summary.lower())
    return hashlib.sha256(f"{pipeline}|{task}|{failure_class}|{blurred}".encode()).hexdigest()[:24]


class S3AlertState:
    """Small JSON documents under ``alerts/<pipeline>/`` in the lake bucket; failures never block an alert."""

    def __init__(self, bucket: str, pipeline: str, aws_conn_id: str = connections.LAKE_S3):
        self.bucket, self.prefix, self.aws_conn_id = bucket, f"alerts/{pipeline}/", aws_conn_id

    def _hook(self) -> Any:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=self.aws_conn_id)

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            hook = self._hook()
            if not hook.check_for_key(self.prefix + key, bucket_name=self.bucket):
                return None
            return json.loads(hook.read_key(self.prefix + key, bucket_name=self.bucket))
        except Exception as exc:
            log.warning("alert state %s unreadable (%s); continuing without it", key, exc)
            return None

    def put(self, key: str, value: dict[str, Any]) -> None:
        try:
            self._hook().load_string(json.dumps(value), key=self.prefix + key, bucket_name=self.bucket, replace=True)
        except Exception as exc:
            log.warning("alert state %s not saved (%s)", key, exc)


def run_key(run_id: str) -> str:
    return "runs/" + re.sub(r"[^A-Za-z0-9_.-]", "_", run_id) + ".json"
