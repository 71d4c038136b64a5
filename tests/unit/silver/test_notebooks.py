"""Notebooks under include/notebooks: the portability lint, and a real run of each on the local engine.

The lint tests pin every rule of ``medallion.silver.lint`` to a line of a deliberately bad
notebook. The run tests execute every repository notebook with the emulator's runner (sqlframe
on DuckDB, no mocks) against a bronze partition committed to a local directory exactly as the
bronze extract commits it to S3 (parquet files + a one-line ``_manifest.json`` listing them),
then check that the output table is cleaned and deduplicated as the notebook promises.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from notebook_files import NOTEBOOKS_DIR, datasets_read, pipeline_notebooks

from medallion.bronze.landing import LandedFile, Manifest, file_sha256, schema_fields
from medallion.duck import connect
from medallion.layout import MANIFEST_NAME
from medallion.local.databricks import run_notebook
from medallion.silver.lint import lint_notebook, lint_paths
from medallion.silver.lint_rules import (
    DELTA,
    HIDDEN_FILE_READ,
    MONOTONIC_ID,
    NOT_A_NOTEBOOK,
    QUOTED_DATETIME_FORMAT,
    RDD,
    SELECT_EXPR,
    SQL_STATEMENT,
    SYNTAX_ERROR,
    UDF,
    WRITER_PARTITION_BY,
    LintFinding,
)

NOTEBOOKS = pipeline_notebooks()
DS = "2026-11-20"
HEADER = "# Databricks notebook source\n"
SEP = "# COMMAND ----------\n"


def _ids(path: Path) -> str:
    return path.relative_to(NOTEBOOKS_DIR).as_posix()


# =========================================================================== lint


def test_repository_notebooks_are_portable() -> None:
    assert NOTEBOOKS, f"no notebooks found under {NOTEBOOKS_DIR}"
    findings = lint_paths([NOTEBOOKS_DIR])
    assert not findings, "\n".join(f.format() for f in findings)


# Each offending line ends with ``# expect: <rule>``; comments, Markdown and docstrings carry the
# same words as bait (the lint must not flag them).
BAD_NOTEBOOK = r'''# Databricks notebook source
# MAGIC %md
# MAGIC Prose may say selectExpr, MERGE INTO, F.udf, df.rdd, write.partitionBy or format("delta").

# COMMAND ----------

"""spark.sql("CREATE TABLE x (a INT)") and monotonically_increasing_id() are only words here."""
from pyspark.sql import Window
from pyspark.sql import functions as F

table = "staging.t_orders"
# MERGE INTO silver.orders ...; df.selectExpr("x"); F.udf(lambda v: v)
spark.sql(
    f"\n  create table if not exists {table} (order_id BIGINT)"  # expect: sql-ddl
)
spark.sql(f"SELECT * FROM {table}")
df = spark.table(table)
manifest = spark.read.json(f"{root}/orders/ds={ds}/_manifest.json")  # expect: hidden-file-read

# COMMAND ----------

picked = df.selectExpr("order_id + 1 AS order_id")  # expect: select-expr
ids = df.withColumn("row_id", F.monotonically_increasing_id())  # expect: monotonically-increasing-id
shout = F.udf(lambda s: s.upper())  # expect: udf
latest = Window.partitionBy("order_id").orderBy(F.col("updated_at").desc())
when = df.select(F.to_timestamp("ts", "yyyy-MM-dd'T'HH:mm").alias("ts"))  # expect: quoted-datetime-format
plain = df.select(F.to_timestamp("ts", "yyyy-MM-dd HH:mm").alias("ts"))
pairs = df.rdd.map(lambda row: row)  # expect: rdd
label = "{}".format("delta")

# COMMAND ----------

(
    df.write.mode("overwrite")
    .partitionBy("order_date")  # expect: write-partition-by
    .saveAsTable(table)
)
df.write.format("delta").mode("overwrite").saveAsTable(table)  # expect: delta
'''

ALL_RULES = {
    SQL_STATEMENT,
    SELECT_EXPR,
    MONOTONIC_ID,
    UDF,
    WRITER_PARTITION_BY,
    DELTA,
    QUOTED_DATETIME_FORMAT,
    RDD,
    HIDDEN_FILE_READ,
}


def _expected(source: str) -> list[tuple[int, str]]:
    return [
        (number, match.group(1))
        for number, line in enumerate(source.splitlines(), start=1)
        if (match := re.search(r"# expect: ([\w-]+)$", line))
    ]


def test_bad_notebook_one_finding_per_rule(tmp_path: Path) -> None:
    notebook = tmp_path / "bad.py"
    notebook.write_text(BAD_NOTEBOOK, encoding="utf-8")
    findings = lint_notebook(notebook)

    assert [(f.line, f.rule) for f in findings] == _expected(BAD_NOTEBOOK)
    assert sorted(f.rule for f in findings) == sorted(ALL_RULES), "exactly one finding per rule"
    for finding in findings:
        assert finding.file == str(notebook)
        assert finding.message and finding.alternative
        assert finding.format().startswith(f"{notebook}:{finding.line}:{finding.column}: {finding.rule}: ")
        assert finding.format().endswith(f"(portable alternative: {finding.alternative})")

    by_rule = {f.rule: f for f in findings}
    lines = BAD_NOTEBOOK.splitlines()
    # columns are 1-based and point at the offending name or argument
    assert lines[by_rule[SELECT_EXPR].line - 1][by_rule[SELECT_EXPR].column - 1 :].startswith("selectExpr(")
    assert lines[by_rule[WRITER_PARTITION_BY].line - 1][by_rule[WRITER_PARTITION_BY].column - 1 :].startswith(
        "partitionBy("
    )
    assert lines[by_rule[SQL_STATEMENT].line - 1][by_rule[SQL_STATEMENT].column - 1 :].startswith('f"\\n  create')
    assert "CREATE" in by_rule[SQL_STATEMENT].message
    assert "saveAsTable" in by_rule[DELTA].alternative


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        pytest.param('spark.sql("DROP TABLE IF EXISTS staging.x")', [(2, SQL_STATEMENT)], id="drop"),
        pytest.param('spark.sql("  -- refresh\\n  INSERT INTO t SELECT 1")', [(2, SQL_STATEMENT)], id="sql-comment"),
        pytest.param('spark.sql("ALTER TABLE " + name + " ADD COLUMN c INT")', [(2, SQL_STATEMENT)], id="concat"),
        pytest.param('spark.sql("MERGE INTO {} USING s ON 1=1".format(t))', [(2, SQL_STATEMENT)], id="str-format"),
        pytest.param('q = "create schema if not exists silver"\nspark.sql(q)', [(3, SQL_STATEMENT)], id="variable"),
        pytest.param('spark.sql(sqlQuery="SELECT 1")', [], id="query-ok"),
        pytest.param('spark.sql(f"{verb} TABLE x")', [], id="unknown-verb"),
        pytest.param(
            f"{SEP}# MAGIC %sql\n# MAGIC SELECT 1;\n# MAGIC   CREATE TABLE gold.t (a INT)\n{SEP}x = 1",
            [(5, SQL_STATEMENT)],
            id="sql-cell",
        ),
        pytest.param(f"{SEP}# MAGIC %sql SELECT count(*) FROM silver.orders\n", [], id="sql-cell-query"),
        pytest.param('spark.udf.register("shout", lambda s: s.upper())', [(2, UDF)], id="udf-register"),
        pytest.param(
            "from pyspark.sql.functions import pandas_udf\n@pandas_udf('long')\ndef f(s): return s",
            [(2, UDF)],
            id="pandas-udf-import",
        ),
        pytest.param("from pyspark.sql.functions import *\n@udf('string')\ndef f(s): return s", [(3, UDF)], id="star"),
        pytest.param("def udf(x):\n    return x\nudf(1)", [], id="own-udf-function"),
        pytest.param(
            "from pyspark.sql.functions import *\ndef udf(x):\n    return x\nudf(1)", [], id="star-own-udf-function"
        ),
        pytest.param(
            "from pyspark.sql.functions import monotonically_increasing_id as mid",
            [(2, MONOTONIC_ID)],
            id="monotonic-import",
        ),
        pytest.param('df.write.saveAsTable("t", format="delta")', [(2, DELTA)], id="delta-kw"),
        pytest.param('spark.read.format("DELTA").load("/lake/t")', [(2, DELTA)], id="delta-read"),
        pytest.param("from delta.tables import DeltaTable", [(2, DELTA)], id="delta-tables"),
        pytest.param('df.write.format("parquet").mode("overwrite").saveAsTable("t")', [], id="parquet-ok"),
        pytest.param('w = Window.partitionBy("a")\ndf.repartition(4)', [], id="window-ok"),
        pytest.param('F.to_date(F.col("d"), format="dd.MM.yyyy \'h\'")', [(2, QUOTED_DATETIME_FORMAT)], id="to-date"),
        pytest.param('F.date_format("ts", "HH\'h\'mm")', [(2, QUOTED_DATETIME_FORMAT)], id="date-format"),
        pytest.param('F.to_timestamp("ts")', [], id="to-timestamp-iso"),
        pytest.param("n = spark.sparkContext.defaultParallelism", [(2, RDD)], id="spark-context"),
        pytest.param("rdd_count = df.count()\nprint('df.rdd')", [], id="rdd-words"),
        pytest.param('spark.read.parquet("s3://lake/t/.staging/")', [(2, HIDDEN_FILE_READ)], id="dot-folder"),
        pytest.param('p = root + "/_SUCCESS"\nspark.read.format("text").load(p)', [(3, HIDDEN_FILE_READ)], id="load"),
        pytest.param('spark.read.json(path=f"{root}/_m.json")', [(2, HIDDEN_FILE_READ)], id="keyword"),
        pytest.param('spark.read.parquet(*m["files"], f"{root}/part_1.parquet")', [], id="underscore-inside"),
        pytest.param('spark.read.json(f"{root}{name}")', [], id="unknown-segment"),
        pytest.param('dbutils.fs.head(f"{root}/_manifest.json")', [], id="fs-head-ok"),
    ],
)
def test_lint_rule_variants(tmp_path: Path, snippet: str, expected: list[tuple[int, str]]) -> None:
    notebook = tmp_path / "snippet.py"
    notebook.write_text(HEADER + snippet + "\n", encoding="utf-8")
    assert [(f.line, f.rule) for f in lint_notebook(notebook)] == expected


def test_syntax_error_is_a_finding(tmp_path: Path) -> None:
    notebook = tmp_path / "broken.py"
    notebook.write_text(HEADER + "x = 1\n" + SEP + "df = spark.table('t'\nprint(df)\n", encoding="utf-8")
    findings = lint_notebook(notebook)
    assert [f.rule for f in findings] == [SYNTAX_ERROR]
    assert findings[0].line in {4, 5}
    assert findings[0].format().startswith(f"{notebook}:{findings[0].line}:")

    binary = tmp_path / "binary.py"
    binary.write_bytes(HEADER.encode() + b"\xff\xfe\x00junk\n")
    assert [f.rule for f in lint_notebook(binary)] == [SYNTAX_ERROR]


def test_plain_python_file_is_not_a_notebook(tmp_path: Path) -> None:
    notebook = tmp_path / "plain.py"
    notebook.write_text("print('hello')\n", encoding="utf-8")
    assert [(f.line, f.column, f.rule) for f in lint_notebook(notebook)] == [(1, 1, NOT_A_NOTEBOOK)]


def test_lint_paths_searches_directories(tmp_path: Path) -> None:
    (tmp_path / "sales").mkdir()
    good = tmp_path / "sales" / "good.py"
    good.write_text(HEADER + "x = 1\n", encoding="utf-8")
    bad = tmp_path / "sales" / "bad.py"
    bad.write_text(HEADER + "df.selectExpr('a')\n", encoding="utf-8")
    (tmp_path / "README.md").write_text("df.selectExpr('a')\n", encoding="utf-8")
    findings = lint_paths([tmp_path, bad])  # bad twice: reported once
    assert findings == [LintFinding(str(bad), 2, 4, SELECT_EXPR, findings[0].message, findings[0].alternative)]


# =========================================================================== runs on the local engine

STATUSES = ["placed", "paid", "shipped", "delivered", "cancelled"]


def _dirty(rng: random.Random, word: str) -> str:
    """Mixed case and stray whitespace, like the shop database."""
    return rng.choice([word, word.upper(), word.capitalize(), f" {word.upper()} ", f"{word.capitalize()}  "])


def orders_table(rng: random.Random) -> pa.Table:
    """Orders with late updates (newer versions), exact duplicates, dirty statuses, null customers."""
    rows: list[dict[str, object]] = []
    for order_id in range(1, 41):
        created = dt.datetime(2026, 11, 20, rng.randrange(24), rng.randrange(60))
        base = {
            "order_id": order_id,
            "customer_id": None if order_id % 13 == 0 else rng.randint(1, 20),
            "product_id": rng.randint(1, 9),
            "quantity": rng.randint(1, 5),
            "unit_price": round(rng.uniform(1, 200), 2),
            "status": _dirty(rng, rng.choice(STATUSES[:2])),
            "order_date": created.date().isoformat(),
            "updated_at": created.isoformat(sep=" "),
        }
        versions = [base]
        for late in range(order_id % 3):  # 0, 1 or 2 later versions
            updated = created + dt.timedelta(days=late, hours=rng.randint(1, 12))
            versions.append({**versions[-1], "status": _dirty(rng, STATUSES[2 + late]), "updated_at": str(updated)})
        if order_id % 7 == 0:
            versions.append(dict(versions[0]))  # exact duplicate of an old version
        rows.extend(versions)
    rng.shuffle(rows)
    return pa.Table.from_pylist(rows, schema=ORDERS_SCHEMA)


ORDERS_SCHEMA = pa.schema(
    [
        ("order_id", pa.int64()),
        ("customer_id", pa.int64()),
        ("product_id", pa.int64()),
        ("quantity", pa.int64()),
        ("unit_price", pa.float64()),
        ("status", pa.string()),
        ("order_date", pa.string()),
        ("updated_at", pa.string()),
    ]
)


def customers_table(rng: random.Random) -> pa.Table:
    """Customers with mixed-case, padded e-mails, duplicate rows and one without an id."""
    rows: list[dict[str, object]] = []
    for customer_id in range(1, 21):
        email = f"customer{customer_id}@example.com"
        row = {
            "customer_id": customer_id,
            "email": f"  Customer{customer_id}@Example.COM " if customer_id % 3 == 0 else email,
            "country": rng.choice(["de", " FR", "Nl ", "us"]),
            "signup_date": dt.date(2026, 1, 1 + customer_id).isoformat(),
        }
        rows.append(row)
        if customer_id % 5 == 0:  # the same customer again, e-mail in another spelling
            rows.append({**row, "email": email.upper()})
    rows.append({"customer_id": None, "email": "nobody@example.com", "country": "DE", "signup_date": "2026-02-01"})
    rng.shuffle(rows)
    return pa.Table.from_pylist(rows, schema=CUSTOMERS_SCHEMA)


CUSTOMERS_SCHEMA = pa.schema(
    [("customer_id", pa.int64()), ("email", pa.string()), ("country", pa.string()), ("signup_date", pa.string())]
)

# Bronze datasets a notebook may read, by name; a notebook reading another dataset needs an entry here.
BRONZE_FIXTURES: dict[str, Callable[[random.Random], pa.Table]] = {
    "orders": orders_table,
    "customers": customers_table,
}


def commit_bronze(bronze_root: Path, dataset: str, table: pa.Table) -> None:
    """Land ``table`` like the bronze extract: two data files, a stray file, then the manifest."""
    partition = bronze_root / dataset / f"ds={DS}"
    partition.mkdir(parents=True)
    half = table.num_rows // 2
    files = []
    for index, chunk in enumerate([table.slice(0, half), table.slice(half)]):
        path = partition / f"part-{index:05d}-test.parquet"
        pq.write_table(chunk, path, compression="zstd")
        files.append(path)
    # a file from a failed earlier attempt: readers must only trust the manifest's list
    pq.write_table(table.slice(0, 1), partition / "part-00000-stale.parquet")
    details = [
        LandedFile(key=str(p.relative_to(bronze_root)), rows=n, bytes=p.stat().st_size, sha256=file_sha256(p))
        for p, n in zip(files, [half, table.num_rows - half], strict=True)
    ]
    manifest = Manifest(
        source={"kind": "sql", "name": dataset, "conn_id": "shop_db"},
        dag_id="sales_orders",
        run_id=f"scheduled__{DS}T00:00:00+00:00",
        task_id=f"bronze.extract_{dataset}",
        try_number=1,
        logical_date=DS,
        extracted_at=f"{DS}T01:00:00+00:00",
        row_count=table.num_rows,
        bytes=sum(d.bytes for d in details),
        checksum="test",
        schema=schema_fields(table.schema),
        files=[str(p) for p in files],
        file_details=details,
    )
    (partition / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, object]]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def check_orders(con: duckdb.DuckDBPyConnection, table: str, inputs: dict[str, pa.Table]) -> None:
    raw = [r for r in inputs["orders"].to_pylist() if r["order_id"] is not None and r["customer_id"] is not None]
    latest: dict[int, dict[str, object]] = {}
    for row in raw:
        if row["order_id"] not in latest or row["updated_at"] > latest[row["order_id"]]["updated_at"]:
            latest[row["order_id"]] = row
    out = _rows(con, f"SELECT *, strftime(updated_at::TIMESTAMP, '%Y-%m-%d %H:%M:%S') AS ts FROM {table}")
    ids = [r["order_id"] for r in out]
    assert len(ids) == len(set(ids)), "one row per order_id"
    assert set(ids) == set(latest), "orders without a customer are dropped, every other order is kept"
    types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {table})").fetchall())
    assert types["order_date"] == "DATE" and types["unit_price"] == "DECIMAL(12,2)"
    for row in out:
        source = latest[row["order_id"]]
        assert row["ts"] == source["updated_at"], f"order {row['order_id']}: latest version kept"
        assert row["status"] == source["status"].strip().lower()
        assert row["status"] in STATUSES
        assert float(row["amount"]) == pytest.approx(round(source["quantity"] * source["unit_price"], 2))
    assert any(r["status"] in STATUSES[2:] for r in out), "late updates win over the first version"


def check_customers(con: duckdb.DuckDBPyConnection, table: str, inputs: dict[str, pa.Table]) -> None:
    raw = [r for r in inputs["customers"].to_pylist() if r["customer_id"] is not None]
    out = _rows(con, f"SELECT * FROM {table}")
    ids = [r["customer_id"] for r in out]
    assert len(ids) == len(set(ids)), "one row per customer_id"
    assert set(ids) == {r["customer_id"] for r in raw}
    for row in out:
        assert row["email"] == f"customer{row['customer_id']}@example.com", "e-mails trimmed and lower-cased"
        assert row["country"] == row["country"].strip().upper()
        assert isinstance(row["signup_date"], dt.date)


# What each repository notebook promises about its output; notebooks not listed get the generic checks.
OUTPUT_CHECKS: dict[str, Callable[[duckdb.DuckDBPyConnection, str, dict[str, pa.Table]], None]] = {
    "sales/orders_silver.py": check_orders,
    "sales/customers_silver.py": check_customers,
}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=_ids)
def test_notebook_runs_on_local_engine(notebook: Path, tmp_path: Path) -> None:
    datasets = datasets_read(notebook.read_text(encoding="utf-8"))
    missing = [d for d in datasets if d not in BRONZE_FIXTURES]
    if missing:
        pytest.fail(
            f"{_ids(notebook)} reads bronze dataset(s) {missing} with no input fixture: add a generator "
            f"to BRONZE_FIXTURES in tests/unit/silver/test_notebooks.py (known: {sorted(BRONZE_FIXTURES)})"
        )
    bronze_root = tmp_path / "bronze"
    rng = random.Random(20261120)
    inputs = {dataset: BRONZE_FIXTURES[dataset](rng) for dataset in datasets}
    for dataset, table in inputs.items():
        commit_bronze(bronze_root, dataset, table)

    target = f"staging.t_{notebook.stem}"
    lakehouse = tmp_path / "lakehouse.duckdb"
    result = run_notebook(
        notebook,
        {"ds": DS, "bronze_root": str(bronze_root), "target_tables": target},
        lakehouse_path=lakehouse,
        s3=None,
    )

    con = connect(lakehouse, read_only=True)
    try:
        count = con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]
        assert count > 0, f"{target} is empty"
        try:
            exit_doc = json.loads(result.exit_value or "")
        except json.JSONDecodeError:
            exit_doc = None
        if isinstance(exit_doc, dict) and "rows" in exit_doc:
            assert exit_doc == {"table": target, "rows": count}
        check = OUTPUT_CHECKS.get(_ids(notebook))
        if check is not None:
            check(con, target, inputs)
    finally:
        con.close()


def test_missing_fixture_names_the_dataset() -> None:
    source = HEADER + 'm = spark.read.json(f"{bronze_root}/refunds/ds={ds}/_manifest.json")\n'
    assert datasets_read(source) == ["refunds"]
    assert "refunds" not in BRONZE_FIXTURES
