"""``medallion new <domain>/<name>``: a spec, a notebook and a dbt model that validate and run
on the local runtime as they are, for a data engineer to edit."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from medallion import paths

SPEC = """# yaml-language-server: $schema=../schema.json
description: >-
  TODO: what this data product is, who uses it and for what.
start_date: {today}
owners:
  - name: TODO team
    email: {domain}-data@example.com

bronze:
  sources:
    - kind: sql
      name: {name}
      conn_id: shop_db   # an Airflow connection; credentials never go in this file
      query: >-
        SELECT 1 AS id, '{name}' AS label, '{{{{ ds }}}}' AS extracted_for

silver:
  notebooks:
    - name: {name}
      path: include/notebooks/{domain}/{name}_silver.py
      outputs: [silver.{domain}_{name}]

gold:
  select: ["{name}_daily"]

quality:
  bronze:
    - table: {name}
      expectations:
        - type: expect_table_row_count_to_be_between
          min_value: 1
  silver:
    - table: silver.{domain}_{name}
      expectations:
        - type: expect_column_values_to_not_be_null
          column: id
  gold:
    - table: gold.{name}_daily
      expectations:
        - type: expect_column_values_to_be_unique
          column: extracted_for
"""

NOTEBOOK = """# Databricks notebook source
# MAGIC %md
# MAGIC # {domain} · {name} → silver.{domain}_{name}
# MAGIC Portable PySpark subset (see README). Reads the committed bronze partition of `ds`.

# COMMAND ----------

from pyspark.sql import functions as F

dbutils.widgets.text("ds", "")
dbutils.widgets.text("bronze_root", "")
dbutils.widgets.text("target_tables", "silver.{domain}_{name}")
ds = dbutils.widgets.get("ds")
target = dbutils.widgets.get("target_tables").split(",")[0]

# COMMAND ----------

manifest = spark.read.json(f"{{dbutils.widgets.get('bronze_root')}}/{name}/ds={{ds}}/_manifest.json").collect()[0]
rows = spark.read.parquet(*manifest["files"])
cleaned = rows.select(F.col("id").cast("bigint").alias("id"), F.trim(F.col("label")).alias("label"),
                      F.to_date(F.col("extracted_for")).alias("extracted_for"))
cleaned.write.mode("overwrite").saveAsTable(target)
dbutils.notebook.exit(str(spark.table(target).count()))
"""

MODEL = """-- {name} per day (gold, {domain} domain).
select extracted_for, count(*) as rows_count
from {{{{ source('silver', '{domain}_{name}') }}}}
group by extracted_for
"""

SOURCES = """version: 2

sources:
  - name: silver
    schema: silver
    tables:
      - name: {domain}_{name}

models:
  - name: {name}_daily
    columns:
      - name: extracted_for
        data_tests: [not_null, unique]
"""


def scaffold(target: str) -> list[Path]:
    """Write the files for ``<domain>/<name>``; refuse to overwrite anything."""
    import datetime as dt

    match = re.fullmatch(r"([a-z][a-z0-9_]*)/([a-z][a-z0-9_]*)", target)
    if not match:
        raise ValueError(f"{target!r}: write <domain>/<name> in lower case, e.g. sales/returns")
    domain, name = match.groups()
    root = paths.project_root()
    values = {"domain": domain, "name": name, "today": (dt.date.today() - dt.timedelta(days=30)).isoformat()}
    files = {
        root / "dag_configs" / domain / f"{name}.yaml": SPEC,
        root / "include" / "notebooks" / domain / f"{name}_silver.py": NOTEBOOK,
        root / "dbt_project" / "models" / domain / f"{name}_daily.sql": MODEL,
        root / "dbt_project" / "models" / domain / f"{name}_sources.yml": SOURCES,
    }
    existing = [p for p in files if p.exists()]
    if existing:
        raise FileExistsError(f"{', '.join(map(str, existing))} already exist(s); pick another name")
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values), encoding="utf-8")
    rebuild_manifest(root / "dbt_project")
    return list(files)


def rebuild_manifest(project_dir: Path) -> None:
    """``dbt parse`` so cosmos and ``validate`` see new models."""
    dbt = Path(sys.executable).with_name("dbt")
    result = subprocess.run(
        [str(dbt), "parse", "--profiles-dir", ".", "--target", "parse", "-q"],
        cwd=project_dir,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"dbt parse failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
