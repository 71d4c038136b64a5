"""The notebook unit tests as one Databricks one-time run (``runs/submit``), what ``silver_preflight`` sends.

Request shape (the same against a workspace and the local emulator; ``tests/unit/silver`` checks it
against the emulator)::

    POST /api/2.2/jobs/runs/submit
    {"run_name": "<pipeline> notebook unit tests",
     "tasks": [{"task_key": "notebook_tests",
                "notebook_task": {"notebook_path": "<workspace_root>/include/notebooks/_medallion/run_notebook_tests",
                                  "source": "WORKSPACE" | "GIT",
                                  "base_parameters": {"cases": <base64 zlib JSON of the resolved cases>,
                                                      "repo_root": "<workspace_root>",
                                                      "scratch_schema": "medallion_test_<pipeline>_<run>",
                                                      "scratch_root": "<silver.test_scratch_root or ''>"}},
                "new_cluster": {"spark_version": …, "node_type_id": …, "num_workers": 0,
                                "spark_conf": {"spark.master": "local[*]",
                                               "spark.databricks.cluster.profile": "singleNode"},
                                "custom_tags": {"ResourceClass": "SingleNode"}}
                # or, with silver.test_compute: serverless, "environment_key": "notebook_tests"
                }],
     "environments": [{"environment_key": "notebook_tests", "spec": {"client": "1"}}],   # serverless only
     "git_source": {…},                                                                     # source: GIT only
     "tags": {"medallion_pipeline": "<pipeline>", "medallion_step": "notebook_unit_tests"}}

then ``runs/get`` until the run is terminal and ``runs/get-output`` of its one task, whose
``notebook_output.result`` is the runner notebook's exit value: the results as JSON. The runner
drops each case's scratch schema when the case ends.
"""

from __future__ import annotations

import base64
import json
import time
import zlib
from typing import Any

from medallion.silver.workflow import notebook_workspace_path
from medallion.spec.models import PipelineSpec
from medallion.spec.notebook_cases import ResolvedCase

RUNNER_NOTEBOOK = "include/notebooks/_medallion/run_notebook_tests.py"
TASK_KEY = "notebook_tests"
TERMINAL = {"TERMINATED", "SKIPPED", "INTERNAL_ERROR"}


def encode_cases(cases: list[ResolvedCase]) -> str:
    """Cases as one widget value: JSON, zlib, base64 (notebook parameters are strings with a size limit)."""
    return base64.b64encode(zlib.compress(json.dumps([c.to_json() for c in cases]).encode(), 9)).decode()


def submit_request(spec: PipelineSpec, cases: list[ResolvedCase], scratch_schema: str) -> dict[str, Any]:
    """The ``runs/submit`` body of the test run: a small single-node job cluster, or serverless."""
    silver = spec.silver
    assert silver is not None
    task: dict[str, Any] = {
        "task_key": TASK_KEY,
        "notebook_task": {
            "notebook_path": notebook_workspace_path(spec, RUNNER_NOTEBOOK),
            "source": silver.source,
            "base_parameters": {
                "cases": encode_cases(cases),
                "repo_root": "." if silver.source == "GIT" else silver.workspace_root,
                "scratch_schema": scratch_schema,
                "scratch_root": silver.test_scratch_root or "",
            },
        },
        "timeout_seconds": silver.timeout_minutes * 60,
    }
    body: dict[str, Any] = {
        "run_name": f"{spec.id} notebook unit tests",
        "tasks": [task],
        "tags": {"medallion_pipeline": spec.id, "medallion_step": "notebook_unit_tests"},
    }
    if silver.test_compute == "serverless":
        task["environment_key"] = TASK_KEY
        body["environments"] = [{"environment_key": TASK_KEY, "spec": {"client": "1"}}]
    elif silver.compute.existing_cluster_id:
        task["existing_cluster_id"] = silver.compute.existing_cluster_id
    else:
        task["new_cluster"] = {
            "spark_version": silver.compute.spark_version,
            "node_type_id": silver.compute.node_type_id,
            "num_workers": 0,
            "spark_conf": {"spark.master": "local[*]", "spark.databricks.cluster.profile": "singleNode"},
            "custom_tags": {"ResourceClass": "SingleNode"},
            **({"policy_id": silver.compute.policy_id} if silver.compute.policy_id else {}),
        }
    if silver.git_source:
        body["git_source"] = silver.git_source.job_field()
    return body


def run_on_databricks(hook: Any, body: dict[str, Any], polling_seconds: float, log: Any) -> list[dict[str, Any]]:
    """Submit the test run through the provider's ``DatabricksHook``, wait, return the case results.

    Raises ``RuntimeError`` naming the run page when the runner itself did not finish (the cluster, a
    missing notebook): that is not a failed case, and the classifier decides whether it is retried.
    """
    run_id = hook.submit_run(body)
    log.info("Notebook unit tests: Databricks run %s (%s)", run_id, hook.get_run_page_url(run_id))
    while True:
        run = hook.get_run(run_id)
        state = run.get("state", {})
        if state.get("life_cycle_state") in TERMINAL:
            break
        time.sleep(polling_seconds)
    task = next((t for t in run.get("tasks", []) if t.get("task_key") == TASK_KEY), None)
    output = hook.get_run_output(task["run_id"]) if task else {}
    result = (output.get("notebook_output") or {}).get("result")
    if state.get("result_state") != "SUCCESS" or result is None:
        error = output.get("error") or state.get("state_message") or "no output"
        raise RuntimeError(
            f"Databricks notebook unit test run {run_id} did not finish ({state.get('result_state')}): {error}; "
            f"run page {run.get('run_page_url', '')}"
        )
    return json.loads(result)
