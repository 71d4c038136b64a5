"""What alerting remembers between callbacks: the first alert of each failure (dedup and the
thread repeats go to), each run's Slack thread, and alerts no channel accepted yet. Kept next to
the data in the lake bucket, so every worker sees the same state."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from functools import cached_property
from typing import Any

from medallion import connections

log = logging.getLogger(__name__)

#: Alerts that reached no channel, for the next task that can reach one (any pipeline's task).
UNDELIVERED_PREFIX = "alerts/_undelivered/"


def _digest(*parts: str | None) -> str:
    return hashlib.sha256("|".join(p or "-" for p in parts).encode()).hexdigest()[:24]


def fingerprint(pipeline: str, layer: str | None, task: str, failure_class: str, logical_date: str) -> str:
    """The dedup key: the same pipeline, layer, task, class and logical date is the same failure (two
    models' failing tests are two failures, each alerted in full)."""
    return _digest(pipeline, layer, task, failure_class, logical_date)


def family(pipeline: str, layer: str | None, task: str, failure_class: str) -> str:
    """The same failure whatever the logical date: repeats on other dates join its first alert's thread."""
    return _digest(pipeline, layer, task, failure_class)


class S3AlertState:
    """Small JSON documents under ``alerts/`` in the lake bucket; failures never block an alert."""

    def __init__(self, bucket: str, pipeline: str, aws_conn_id: str = connections.LAKE_S3):
        self.bucket, self.prefix, self.aws_conn_id = bucket, f"alerts/{pipeline}/", aws_conn_id

    @cached_property
    def _hook(self) -> Any:
        """One S3 hook (one connection lookup, one boto3 client) for every read and write of this state."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from botocore.config import Config

        # alert state must not hold a task (or its alert) for long when S3 itself is the problem
        quick = Config(connect_timeout=5, read_timeout=15, retries={"mode": "standard", "max_attempts": 2})
        return S3Hook(aws_conn_id=self.aws_conn_id, config=quick)

    def get(self, key: str) -> dict[str, Any] | None:
        return self._read(self.prefix + key)

    def put(self, key: str, value: dict[str, Any]) -> bool:
        return self._write(self.prefix + key, value)

    def keep_undelivered(self, name: str, record: dict[str, Any]) -> bool:
        """Keep an alert that reached no channel; True once it is safely in the bucket."""
        return self._write(UNDELIVERED_PREFIX + name, record)

    def undelivered(self) -> list[str]:
        """Keys of kept alerts, oldest first (names start with the time of the first attempt)."""
        try:
            return sorted(self._hook.list_keys(bucket_name=self.bucket, prefix=UNDELIVERED_PREFIX) or [])
        except Exception as exc:
            log.warning("undelivered alerts not listed (%s); they stay for the next task", exc)
            return []

    def take(self, key: str) -> dict[str, Any] | None:
        """Read and remove a kept alert (so two tasks rarely send it twice); None if another took it."""
        record = self._read(key)
        if record is None:
            return None
        try:
            self._hook.delete_objects(bucket=self.bucket, keys=[key])
        except Exception as exc:
            log.warning("kept alert %s not removed (%s); leaving it for later", key, exc)
            return None
        return record

    def give_back(self, key: str, record: dict[str, Any]) -> None:
        self._write(key, record)

    def _read(self, key: str) -> dict[str, Any] | None:
        try:
            body = self._hook.conn.get_object(Bucket=self.bucket, Key=key)["Body"].read()  # one round trip
            return json.loads(body)
        except Exception as exc:
            if getattr(exc, "response", {}).get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            log.warning("alert state %s unreadable (%s); continuing without it", key, exc)
            return None

    def _write(self, key: str, value: dict[str, Any]) -> bool:
        try:
            self._hook.load_string(json.dumps(value), key=key, bucket_name=self.bucket, replace=True)
            return True
        except Exception as exc:
            log.warning("alert state %s not saved (%s)", key, exc)
            return False


def run_key(run_id: str) -> str:
    return "runs/" + re.sub(r"[^A-Za-z0-9_.-]", "_", run_id) + ".json"
