# Databricks notebook source
# MAGIC %md
# MAGIC # sales · customers → silver.customers
# MAGIC Trimmed, lower-cased e-mails, typed signup dates, one row per customer.
# MAGIC Portable PySpark subset (see README); idempotent per logical date.

# COMMAND ----------

import json

from pyspark.sql import functions as F

dbutils.widgets.text("ds", "")
dbutils.widgets.text("bronze_root", "")
dbutils.widgets.text("target_tables", "silver.customers")
ds = dbutils.widgets.get("ds")
bronze_root = dbutils.widgets.get("bronze_root")
target = dbutils.widgets.get("target_tables").split(",")[0]

# COMMAND ----------

# dbutils.fs.head, not spark.read.json: Spark's readers skip files named "_…" (like _SUCCESS).
manifest = json.loads(dbutils.fs.head(f"{bronze_root}/customers/ds={ds}/_manifest.json", 16 * 1024 * 1024))
raw = spark.read.parquet(*manifest["files"])

customers = (
    raw.select(
        F.col("customer_id").cast("bigint").alias("customer_id"),
        F.lower(F.trim(F.col("email"))).alias("email"),
        F.upper(F.trim(F.col("country"))).alias("country"),
        F.to_date(F.col("signup_date")).alias("signup_date"),
    )
    .where(F.col("customer_id").isNotNull())
    .dropDuplicates(["customer_id"])
)

# COMMAND ----------

customers.write.mode("overwrite").saveAsTable(target)
written = spark.table(target).count()
dbutils.notebook.exit(f'{{"table": "{target}", "rows": {written}}}')
