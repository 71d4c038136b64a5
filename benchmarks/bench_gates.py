"""Gates benchmark: one suite on a 5-million-row silver table, our push-down gate vs GE on pandas.

The table is generated in a DuckDB file (a few seconds). Each side runs in its own child process
so the OS measures its peak RSS alone (``wait4``):
- ours: the gate's code path (``run_table_check``: GE's SqlAlchemyExecutionEngine on DuckDB, the
  queries run in the engine, only aggregates and ≤5 samples per expectation come back);
- pandas: what the GX Airflow provider's DataFrame operator does: load the table into a pandas
  DataFrame, then validate it with GE's pandas datasource (``add_dataframe_asset``,
  ``get_batch(batch_parameters={"dataframe": df}).validate(suite)``). The frame is loaded the
  way a DAG usually does (``DbApiHook.get_pandas_df``: ``pandas.read_sql``), and, as a second
  reference, the fastest way there is (DuckDB's Arrow export).
Both sides must agree on every expectation's outcome and unexpected count.
Usage: python benchmarks/bench_gates.py [--rows N]   (default 5,000,000; pandas needs ≈0.6 GB per million rows)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from _common import isolated_environment, run_child, timed

TABLE = "silver.orders"
SUITE = [
    {"type": "expect_table_row_count_to_be_between", "min_value": 1},
    {"type": "expect_column_values_to_not_be_null", "column": "order_id"},
    {"type": "expect_column_values_to_be_unique", "column": "order_id"},
    {"type": "expect_column_values_to_not_be_null", "column": "customer_id", "mostly": 0.99},
    {
        "type": "expect_column_values_to_be_in_set",
        "column": "status",
        "value_set": ["placed", "paid", "shipped", "delivered", "cancelled"],
    },
    {"type": "expect_column_values_to_be_between", "column": "amount", "min_value": 0, "max_value": 10000},
    {"type": "expect_column_values_to_match_regex", "column": "email", "regex": "^[a-z0-9._%+-]+@[a-z0-9.-]+$"},
]


def generate(path: Path, rows: int) -> None:
    """A typical silver orders table with a few bad rows (so unexpected counts and samples are real)."""
    from medallion import duck

    con = duck.connect(path, create_schemas=True)
    con.execute(f"""
        CREATE TABLE {TABLE} AS
        SELECT range AS order_id,
               CASE WHEN range % 997 = 0 THEN NULL ELSE range % 250000 END AS customer_id,
               CASE WHEN range % 100003 = 0 THEN 'refunded'
                    ELSE (['placed', 'paid', 'shipped', 'delivered', 'cancelled'])[range % 5 + 1] END AS status,
               CAST(CASE WHEN range % 200003 = 0 THEN -5 ELSE (range % 100000) / 10.0 END AS DECIMAL(14, 2)) AS amount,
               CASE WHEN range % 300007 = 0 THEN 'not an email' ELSE 'c' || (range % 250000) || '@shop.example' END
                   AS email,
               DATE '2026-01-01' + CAST(range % 365 AS INTEGER) AS order_date,
               TIMESTAMP '2026-01-01' + range * INTERVAL 1 SECOND AS updated_at
        FROM range({rows})
    """)
    con.close()


def child(kind: str, database: str, repeat: int) -> None:
    """Validations in this (child) process; prints the best seconds (after imports) and the outcomes."""
    from medallion.quality.engine import quiet_import_gx
    from medallion.spec.models import TableCheck

    check = TableCheck(table=TABLE, expectations=SUITE)
    gx = quiet_import_gx()
    if kind == "ours":
        from medallion.quality.engine import duckdb_target
        from medallion.quality.gate import run_table_check

        def validate() -> list[tuple[bool, int | None]]:
            result = run_table_check(
                duckdb_target(database), check, f"SELECT * FROM {TABLE}", layer="silver", suite_name="bench"
            )
            assert not result.infra_errors, [o.error for o in result.infra_errors]
            return [(o.success, o.unexpected_count) for o in result.outcomes]

        runs = [timed(validate) for _ in range(repeat)]
        print(json.dumps({"seconds": min(s for s, _ in runs), "outcomes": runs[-1][1]}))
        return

    from medallion import duck
    from medallion.quality.gate import SAMPLE_SIZE, ge_class_name

    def load() -> object:
        if kind == "pandas_arrow":  # the fastest way there is: DuckDB hands pandas Arrow columns
            con = duck.connect(database, read_only=True)
            try:
                return con.sql(f"SELECT * FROM {TABLE}").df()
            finally:
                con.close()
        import pandas as pd
        import sqlalchemy as sa

        from medallion.quality.engine import duckdb_target

        # what an Airflow DAG does: DbApiHook.get_pandas_df → pandas.read_sql on the SQLAlchemy engine
        target = duckdb_target(database)
        engine = sa.create_engine(target.connection_string, **target.engine_kwargs)
        try:
            with engine.connect() as con:
                return pd.read_sql(f"SELECT * FROM {TABLE}", con)
        finally:
            engine.dispose()

    def validate(df: object) -> list[tuple[bool, int | None]]:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        batch_definition = (
            context.data_sources.add_pandas("bench")
            .add_dataframe_asset("orders")
            .add_batch_definition_whole_dataframe("whole")
        )
        suite = gx.ExpectationSuite(name="bench")
        for index, exp in enumerate(check.expectations):
            cls = getattr(gx.expectations, ge_class_name(exp.type))
            suite.add_expectation(cls(**exp.ge_kwargs(), meta={"index": index}))
        batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
        result = batch.validate(
            suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}
        )
        assert all(not (r.exception_info or {}).get("raised_exception") for r in result.results)
        ordered = sorted(result.results, key=lambda r: r.expectation_config.meta["index"])
        return [(r.success, (r.result or {}).get("unexpected_count")) for r in ordered]

    best: dict[str, object] = {}
    for _ in range(repeat):  # a gate run loads the table each time
        load_seconds, frame = timed(load)
        validate_seconds, outcomes = timed(lambda frame=frame: validate(frame))
        del frame  # freed before the next load
        if not best or load_seconds + validate_seconds < best["seconds"]:
            best = {"seconds": load_seconds + validate_seconds, "load": load_seconds, "validate": validate_seconds}
            best["outcomes"] = outcomes
    print(json.dumps(best))


def measure(kind: str, database: Path, repeat: int) -> dict:
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--database", str(database)]
    run = run_child([*argv, "--repeat", str(repeat)])
    return json.loads(run.stdout.strip().splitlines()[-1]) | {"wall": run.seconds, "rss": run.peak_rss_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="validations per side; the best one counts")
    parser.add_argument("--child", choices=["ours", "pandas", "pandas_arrow"], help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.database, args.repeat)

    tmp = isolated_environment("gates")
    try:
        database = tmp / "lakehouse.duckdb"
        seconds, _ = timed(lambda: generate(database, args.rows))
        print(f"generated {args.rows:,} rows in DuckDB in {seconds:.1f}s ({database.stat().st_size / 1e6:.0f} MB)")
        ours = measure("ours", database, args.repeat)
        theirs = measure("pandas", database, args.repeat)
        arrow = measure("pandas_arrow", database, args.repeat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    assert ours["outcomes"] == theirs["outcomes"] == arrow["outcomes"], (ours, theirs, arrow)
    failed = sum(1 for success, _ in ours["outcomes"] if not success)
    print(
        f"suite: {len(SUITE)} expectations, {failed} failing on purpose; both sides agree on every count; "
        f"best of {args.repeat} validations per side, peak RSS of each whole child process"
    )
    print(
        f"ours (push-down: GE SqlAlchemyExecutionEngine on DuckDB): {ours['seconds']:.2f}s "
        f"({ours['wall']:.1f}s child wall incl. imports), peak RSS {ours['rss']:.0f} MB"
    )
    for label, side in (("pandas.read_sql, as DbApiHook.get_pandas_df", theirs), ("DuckDB Arrow → pandas", arrow)):
        print(
            f"GE pandas DataFrame validation, loaded with {label}: {side['seconds']:.2f}s (load {side['load']:.2f}s "
            f"+ validate {side['validate']:.2f}s; {side['wall']:.1f}s child wall), peak RSS {side['rss']:.0f} MB"
        )
    print(
        f"RESULT gates rows={args.rows} seconds={ours['seconds']:.2f} "
        f"speedup_vs_pandas={theirs['seconds'] / ours['seconds']:.1f} "
        f"rss_ratio_vs_pandas={ours['rss'] / theirs['rss']:.3f} "
        f"speedup_vs_pandas_arrow_load={arrow['seconds'] / ours['seconds']:.1f} "
        f"rss_ratio_vs_pandas_arrow_load={ours['rss'] / arrow['rss']:.3f} "
        f"pandas_seconds={theirs['seconds']:.2f} peak_rss_mb={ours['rss']:.0f} pandas_peak_rss_mb={theirs['rss']:.0f}"
    )


if __name__ == "__main__":
    main()
