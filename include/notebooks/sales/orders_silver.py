# Databricks notebook source
# MAGIC %md
# MAGIC # sales · orders → silver.orders
# MAGIC Typed, cleaned orders, deduplicated to the latest version of each order.
# MAGIC Written in the portable PySpark subset (see README): runs on Databricks and locally on
# MAGIC sqlframe/DuckDB. Idempotent per logical date: the table is rebuilt from the committed
# MAGIC bronze snapshot of `ds`.

# COMMAND ----------

import json

from pyspark.sql import Window
from pyspark.sql import functions as F

dbutils.widgets.text("ds", "")
dbutils.widgets.text("bronze_root", "")
dbutils.widgets.text("target_tables", "silver.orders")
ds = dbutils.widgets.get("ds")
bronze_root = dbutils.widgets.get("bronze_root")
target = dbutils.widgets.get("target_tables").split(",")[0]

# COMMAND ----------

# Readers trust only the files a committed manifest lists (never a directory listing).
# dbutils.fs.head, not spark.read.json: Spark's readers skip files named "_…" (like _SUCCESS).
manifest = json.loads(dbutils.fs.head(f"{bronze_root}/orders/ds={ds}/_manifest.json", 16 * 1024 * 1024))
raw = spark.read.parquet(*manifest["files"])

# COMMAND ----------

typed = raw.select(
    F.col("order_id").cast("bigint").alias("order_id"),
    F.col("customer_id").cast("bigint").alias("customer_id"),
    F.col("product_id").cast("bigint").alias("product_id"),
    F.col("quantity").cast("int").alias("quantity"),
    F.col("unit_price").cast("decimal(12,2)").alias("unit_price"),
    F.lower(F.trim(F.col("status"))).alias("status"),
    F.to_date(F.col("order_date")).alias("order_date"),
    F.col("updated_at").cast("timestamp").alias("updated_at"),
).where(F.col("order_id").isNotNull() & F.col("customer_id").isNotNull())

latest = Window.partitionBy("order_id").orderBy(F.col("updated_at").desc())
orders = (
    typed.withColumn("version_rank", F.row_number().over(latest))
    .where(F.col("version_rank") == 1)
    .drop("version_rank")
    .withColumn("amount", (F.col("quantity") * F.col("unit_price")).cast("decimal(14,2)"))
)

# COMMAND ----------

orders.write.mode("overwrite").saveAsTable(target)
written = spark.table(target).count()
dbutils.notebook.exit(f'{{"table": "{target}", "rows": {written}}}')
