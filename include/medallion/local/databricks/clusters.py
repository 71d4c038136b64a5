"""Clusters a run uses: launched per job cluster or task, attached when they already exist."""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from datetime import datetime
from typing import Any

from medallion.local.databricks.model import InfraError


def new_cluster_id() -> str:
    suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=8))
    return f"{datetime.now():%m%d-%H%M%S}-{suffix}"


class ClusterPool:
    """Clusters of one run, as Databricks bills them.

    A job cluster is launched once per run and shared by its tasks, a ``new_cluster`` is launched
    for every task, and an existing (or serverless) cluster is only attached, once per run.
    """

    def __init__(self, launch: Callable[[str], str], attach: Callable[[], object]) -> None:
        self._launch = launch
        self._attach = attach
        self._ready: dict[str, str | InfraError] = {}

    def acquire(self, spec: dict[str, Any]) -> str:
        if spec.get("new_cluster"):
            return self._launch(f"new_cluster of task {spec['task_key']}")
        if key := spec.get("job_cluster_key"):
            return self._once(f"job cluster {key}", lambda: self._launch(f"job cluster {key}"))
        cluster_id = str(spec.get("existing_cluster_id") or "serverless")

        def attach() -> str:
            self._attach()
            return cluster_id

        return self._once(cluster_id, attach)

    def _once(self, name: str, start: Callable[[], str]) -> str:
        """Start ``name`` on first use; a cluster that failed to start fails every later task."""
        if name not in self._ready:
            try:
                self._ready[name] = start()
            except InfraError as exc:
                self._ready[name] = exc
        ready = self._ready[name]
        if isinstance(ready, InfraError):
            raise ready
        return ready
