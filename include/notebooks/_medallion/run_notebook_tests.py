# Databricks notebook source
# MAGIC %md
# MAGIC # medallion · notebook unit tests (silver_preflight)
# MAGIC Submitted by `silver_preflight` as a one-time run (`runs/submit`) before the pipeline's silver job.
# MAGIC Runs each case's notebook on this cluster's `spark` with the case's fixtures: bronze inputs as
# MAGIC committed partitions under `scratch_root`, given tables and outputs in the scratch schema, which is
# MAGIC dropped after each case. Exits with the results as JSON. Not a pipeline notebook: it has no tests.

# COMMAND ----------

import base64
import json
import sys
import zlib
from pathlib import Path

dbutils.widgets.text("cases", "")
dbutils.widgets.text("repo_root", "")
dbutils.widgets.text("scratch_schema", "medallion_notebook_tests")
dbutils.widgets.text("scratch_root", "")
# this notebook's own checkout (workspace files are on the driver's file system); else the widget
repo_root = Path(__file__).resolve().parents[3] if "__file__" in globals() else Path(dbutils.widgets.get("repo_root"))
scratch_root = dbutils.widgets.get("scratch_root") or None
payload = json.loads(zlib.decompress(base64.b64decode(dbutils.widgets.get("cases"))))

# COMMAND ----------

# the repository is deployed to the workspace with the notebooks: medallion is importable from include/
sys.path.insert(0, str(repo_root / "include"))
from medallion.silver.notebook_tests import run_cases
from medallion.spec.notebook_cases import ResolvedCase

own_builtins = globals().get("__builtins__")
results = run_cases(
    spark,
    [ResolvedCase.from_json(case) for case in payload],
    repo_root,
    engine="databricks",
    schema_prefix=dbutils.widgets.get("scratch_schema"),
    notebook_builtins=own_builtins if isinstance(own_builtins, dict) else None,
    scratch_root=Path(scratch_root) if scratch_root else None,
)
dbutils.notebook.exit(json.dumps([r.to_json() for r in results]))
