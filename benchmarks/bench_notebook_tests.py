"""Notebook unit tests: every example case on the emulator's engine and on real Spark, one process.

What ``medallion test --engine both`` does, timed per engine: each case on the emulator's engine
(sqlframe on a fresh DuckDB file per case), then each case on one warm local Spark session
(pyspark local mode; its start is reported apart, a process pays it once). Every case must pass on
both engines (the figures of a failing run mean nothing). Peak memory: this process's (Python,
DuckDB) and its JVM's (a child process, from the OS).
Prints figures and ends with one RESULT line.
Usage: python benchmarks/bench_notebook_tests.py [ROUNDS]
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from _common import isolated_environment, peak_rss_mb, timed

_TMP = isolated_environment("notebook-tests")  # the spec loader reads settings: keep Airflow's home apart

from medallion import paths  # noqa: E402
from medallion.silver.notebook_tests import run_on_engine, spark_session  # noqa: E402
from medallion.spec.notebook_tests import spec_cases  # noqa: E402
from medallion.spec.project import load_project  # noqa: E402

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 2


def example_cases() -> list:
    """Every notebook case of every valid spec under dag_configs/, as ``medallion test`` collects them."""
    cases = []
    for item in load_project(paths.config_dir(), select_gold=None).valid.values():
        found, problems = spec_cases(item.spec)
        if problems:
            raise SystemExit("\n".join(p.format() for p in problems))
        cases += found
    return cases


def run_all(engine: str, cases: list) -> float:
    seconds, results = timed(lambda: run_on_engine(engine, cases, paths.project_root()))
    failed = [r.case for r in results if not r.ok]
    if failed:
        raise SystemExit(f"{engine}: {len(failed)} case(s) failed: {', '.join(failed)}")
    return seconds


def jvm_peak_rss_mb(spark: object) -> float:
    """The Spark JVM's peak resident memory (``VmHWM``: the gateway is this process's child, alive until exit)."""
    pid = spark.sparkContext._gateway.proc.pid  # type: ignore[attr-defined]
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")) / 1024


def main() -> None:
    cases = example_cases()
    print(f"{len(cases)} notebook test case(s), best of {ROUNDS} round(s) per engine")
    local = min(run_all("local", cases) for _ in range(ROUNDS))
    print(f"emulator engine (sqlframe/DuckDB): {local:.2f} s, {local / len(cases):.2f} s per case")
    startup, _ = timed(spark_session)  # the session the spark rounds then reuse
    spark = min(run_all("spark", cases) for _ in range(ROUNDS))
    print(f"real Spark: session start {startup:.2f} s, then {spark:.2f} s ({spark / len(cases):.2f} s per case, warm)")
    python_rss, jvm_rss = peak_rss_mb(), jvm_peak_rss_mb(spark_session())
    print(f"peak RSS: this process {python_rss:.0f} MB, Spark's JVM {jvm_rss:.0f} MB")
    print(
        f"RESULT notebook_tests cases={len(cases)} local_seconds={local:.2f} spark_seconds={spark:.2f} "
        f"spark_startup_seconds={startup:.2f} peak_rss_mb={python_rss:.0f} jvm_peak_rss_mb={jvm_rss:.0f}"
    )


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(_TMP, ignore_errors=True)
