"""Run notebook unit tests: fixtures in, the notebook on a Spark session, output rows compared.

For each case the bronze inputs are committed the way ``bronze/landing.py`` commits a partition
(parquet files and a ``_manifest.json`` listing them, under ``<scratch dir>/bronze/<source>/ds=<ds>/``),
so the notebook reads them unchanged; given tables and the notebook's outputs live in a scratch
schema (``target_tables`` points there), which is dropped afterwards. The session is any Spark:
sqlframe on a DuckDB file (the emulator's engine), real PySpark, or a Databricks cluster (the
preflight's runner notebook calls :func:`run_cases` there with its own ``spark``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from medallion.errors import MedallionError
from medallion.silver.notebook_diff import compare_table
from medallion.silver.notebook_exec import format_notebook_error, run_in_session
from medallion.spec.notebook_cases import Fixture, ResolvedCase, coerce

MANIFEST_NAME = "_manifest.json"


@dataclass
class CaseResult:
    """One case's outcome: ``passed``, ``failed`` (a diff) or ``error`` (the notebook raised)."""

    case: str  # pipeline::notebook::name
    origin: str
    engine: str
    status: str
    seconds: float
    diff: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "passed"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _arrow_type(sql_type: str) -> Any:
    import pyarrow as pa

    if sql_type.startswith("decimal"):
        p, s = sql_type[len("decimal(") : -1].split(",")
        return pa.decimal128(int(p), int(s))
    return {
        "tinyint": pa.int8(),
        "smallint": pa.int16(),
        "int": pa.int32(),
        "bigint": pa.int64(),
        "float": pa.float32(),
        "double": pa.float64(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "timestamp_ntz": pa.timestamp("us"),
        "binary": pa.binary(),
    }.get(sql_type, pa.string())


def write_parquet(fixture: Fixture, path: Path) -> dict[str, Any]:
    """The fixture's rows as one parquet file typed by its columns; the manifest's file entry."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(c, _arrow_type(fixture.types[c])) for c in fixture.columns])
    columns = {c: [coerce(r.get(c), fixture.types[c]) for r in fixture.rows] for c in fixture.columns}
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns, schema=schema), path)
    data = path.read_bytes()
    return {"key": str(path), "rows": len(fixture.rows), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def commit_bronze(root: Path, source: str, ds: str, fixture: Fixture, *, dag_id: str, run_id: str) -> Path:
    """A committed partition of ``source`` for ``ds`` (same manifest fields as ``bronze/landing.py``)."""
    partition = root / source / f"ds={ds}"
    entry = write_parquet(fixture, partition / "part-00000-fixture.parquet")
    manifest = {
        "source": {"name": source, "fixture": fixture.origin},
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": f"extract_{source}",
        "try_number": 1,
        "logical_date": ds,
        "extracted_at": dt.datetime.now(dt.UTC).isoformat(),
        "row_count": entry["rows"],
        "bytes": entry["bytes"],
        "checksum": entry["sha256"],
        "schema": [{"name": c, "type": fixture.types[c]} for c in fixture.columns],
        "files": [entry["key"]],
        "file_details": [{**entry, "etag": ""}],
        "schema_drift": {},
    }
    (partition / MANIFEST_NAME).write_text(json.dumps(manifest))  # one line: Spark reads JSON lines
    return partition


def scratch_table(schema: str, table: str) -> str:
    """Where a case's copy of ``table`` lives: ``<scratch schema>.<layer>__<name>``."""
    return f"{schema}.{table.replace('.', '__')}"


def _schema_statements(spark: Any, sql: str) -> None:
    """DDL on the session's engine: sqlframe's ``spark.sql`` takes queries only, so DuckDB gets it directly."""
    con = getattr(spark, "_conn", None)
    if con is not None and hasattr(con, "execute"):
        con.execute(sql)
    else:
        spark.sql(sql)


def _read_table(spark: Any, name: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    df = spark.table(name)
    types = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    return types, [row.asDict() for row in df.collect()]


def _widgets(case: ResolvedCase, bronze_root: Path, schema: str) -> dict[str, str]:
    """The case's widgets plus where its inputs and outputs are; ``{table:silver.x}`` names a given table."""
    widgets = {k: v for k, v in case.widgets.items()}
    for table in case.tables:
        widgets = {k: v.replace(f"{{table:{table}}}", scratch_table(schema, table)) for k, v in widgets.items()}
    return {
        **widgets,
        "bronze_root": str(bronze_root),
        "pipeline": case.pipeline,
        "target_tables": ",".join(scratch_table(schema, t) for t in case.outputs),
    }


class NotebookRaised(MedallionError):
    """The notebook under test raised; ``summary`` and ``trace`` are its own error, runner frames cut."""

    def __init__(self, summary: str, trace: str) -> None:
        super().__init__(summary)
        self.summary = summary
        self.trace = trace


TableReader = Callable[[str], tuple[dict[str, str], list[dict[str, Any]]]]


@contextmanager
def case_outputs(
    spark: Any,
    case: ResolvedCase,
    notebook: Path,
    *,
    schema: str,
    scratch_dir: Path,
    notebook_builtins: dict[str, Any] | None = None,
) -> Iterator[TableReader]:
    """Fixtures into ``scratch_dir`` / ``schema``, the notebook run; yields a reader of its output tables
    (``table`` → column types, rows). Raises :class:`NotebookRaised` when the notebook does; the scratch
    schema is dropped on the way out either way."""
    bronze_root = scratch_dir / "bronze"
    ds = case.widgets.get("ds", "")
    _schema_statements(spark, f"CREATE SCHEMA IF NOT EXISTS {schema}")
    try:
        for source, fixture in case.sources.items():
            commit_bronze(bronze_root, source, ds, fixture, dag_id=case.pipeline, run_id=f"notebook_test__{case.name}")
        for table, fixture in case.tables.items():
            path = scratch_dir / "tables" / f"{table}.parquet"
            write_parquet(fixture, path)
            spark.read.parquet(str(path)).write.mode("overwrite").saveAsTable(scratch_table(schema, table))
        try:
            run_in_session(notebook, _widgets(case, bronze_root, schema), spark, notebook_builtins)
        except Exception as exc:  # the notebook's own error, not the runner's
            raise NotebookRaised(*format_notebook_error(exc)) from exc
        yield lambda table: _read_table(spark, scratch_table(schema, table))
    finally:
        _schema_statements(spark, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def run_case(
    spark: Any,
    case: ResolvedCase,
    notebook: Path,
    *,
    engine: str,
    schema: str,
    scratch_dir: Path,
    notebook_builtins: dict[str, Any] | None = None,
) -> CaseResult:
    """One case on ``spark``: fixtures into ``scratch_dir`` / ``schema``, the notebook, the comparison."""
    started = time.monotonic()
    diff: list[str] = []
    try:
        with case_outputs(
            spark, case, notebook, schema=schema, scratch_dir=scratch_dir, notebook_builtins=notebook_builtins
        ) as read_table:
            for table, expected in case.expect.items():
                try:
                    types, rows = read_table(table)
                except Exception as exc:
                    diff.append(f"{table}: the notebook did not write it ({type(exc).__name__}: {exc})")
                    continue
                diff += compare_table(table, expected, case.compare[table], case.primary_keys[table], types, rows)
    except NotebookRaised as raised:  # the notebook's own error is the case's result
        seconds = time.monotonic() - started
        return CaseResult(case.id, case.origin, engine, "error", seconds, error=f"{raised.summary}\n{raised.trace}")
    status = "failed" if diff else "passed"
    return CaseResult(case.id, case.origin, engine, status, time.monotonic() - started, diff=diff)


def run_cases(
    spark: Any,
    cases: Iterable[ResolvedCase],
    repo_root: Path,
    *,
    engine: str,
    schema_prefix: str = "medallion_test",
    notebook_builtins: dict[str, Any] | None = None,
    scratch_root: Path | None = None,
) -> list[CaseResult]:
    """Cases one after another on one session, each in its own scratch schema and folder
    (under ``scratch_root``: on Databricks a Volume path both the driver and Spark read)."""
    results = []
    for index, case in enumerate(cases):
        with tempfile.TemporaryDirectory(prefix="medallion-nbtest-", dir=scratch_root) as scratch:
            schema = f"{schema_prefix}_{index}"
            results.append(
                run_case(
                    spark,
                    case,
                    repo_root / case.notebook_path,
                    engine=engine,
                    schema=schema,
                    scratch_dir=Path(scratch),
                    notebook_builtins=notebook_builtins,
                )
            )
    return results


# --------------------------------------------------------------------------- engines


@contextmanager
def sqlframe_session(database: Path) -> Iterator[tuple[Any, dict[str, Any]]]:
    """The emulator's engine: a sqlframe session on a DuckDB file, and the builtins routing ``pyspark``."""
    from sqlframe.base.session import _BaseSession

    from medallion.duck import connect
    from medallion.silver.sqlframe_session import notebook_builtins, open_session

    previous = _BaseSession._instance
    con = connect(database)
    session = open_session(con)
    try:
        yield session, notebook_builtins()
    finally:
        session.stop()
        con.close()
        _BaseSession._instance = previous


_SPARK: Any = None
SPARK_STARTUP_SECONDS: list[float] = []


def spark_session() -> Any:
    """One warm local Spark per process: in-memory catalog, warehouse in a temp dir, no downloads, UTC."""
    global _SPARK
    if _SPARK is None:
        from pyspark.sql import SparkSession

        started = time.monotonic()
        warehouse = tempfile.mkdtemp(prefix="medallion-spark-warehouse-")
        _SPARK = (
            SparkSession.builder.master("local[2]")
            .appName("medallion-notebook-tests")
            .config("spark.sql.catalogImplementation", "in-memory")
            .config("spark.sql.warehouse.dir", warehouse)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.host", "127.0.0.1")
            .getOrCreate()
        )
        _SPARK.sparkContext.setLogLevel("ERROR")
        SPARK_STARTUP_SECONDS.append(time.monotonic() - started)
    return _SPARK


ENGINES = ("local", "spark")


def run_on_engine(
    engine: str,
    cases: list[ResolvedCase],
    repo_root: Path,
    on_result: Callable[[CaseResult], None] | None = None,
) -> list[CaseResult]:
    """Run ``cases`` on ``local`` (sqlframe, a temp DuckDB file per case) or ``spark`` (warm PySpark)."""
    results: list[CaseResult] = []
    for case in cases:
        if engine == "local":
            with (
                tempfile.TemporaryDirectory(prefix="medallion-nbtest-db-") as folder,
                sqlframe_session(Path(folder) / "lakehouse.duckdb") as (spark, builtins_),
            ):
                result = run_cases(spark, [case], repo_root, engine=engine, notebook_builtins=builtins_)[0]
        elif engine == "spark":
            result = run_cases(spark_session(), [case], repo_root, engine=engine)[0]
        else:
            raise ValueError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def format_failure(result: CaseResult) -> str:
    """A failed case for a person: where it is written, then its diff or the notebook's error."""
    body = result.diff or [line for line in result.error.splitlines() if line.strip()][-12:]
    return "\n".join([f"{result.case} [{result.engine}] ({result.origin}): {result.status}", *("  " + b for b in body)])
