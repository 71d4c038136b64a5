"""Parse-time benchmark: the gold DbtTaskGroup rendered from the prebuilt manifest vs from `dbt ls`.

The factory renders gold with ``LoadMode.DBT_MANIFEST`` (``target/manifest.json`` built by
``dbt parse`` at build time), so parsing a DAG never runs dbt. ``LoadMode.DBT_LS`` is cosmos's
usual alternative: it runs ``dbt ls`` every time the DAG file is parsed. Both variants build the
same group (same project, select, test behaviour, ProfileConfig) in the same process, after one
warm-up each, alternating, median of R rounds. cosmos's dbt ls cache (an Airflow Variable) is
switched off so every round really runs ``dbt ls``; ``dbt ls`` is timed both in-process (cosmos's
default dbtRunner) and as a subprocess of the venv's ``dbt``. Prints figures and ends with one
RESULT line.
Usage: python benchmarks/bench_gold.py [ROUNDS]
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import shutil
import statistics
import sys
from pathlib import Path

from _common import isolated_environment, peak_rss_mb, timed

_TMP = isolated_environment("gold")  # AIRFLOW_HOME in a temporary folder, quiet logs, no telemetry
os.environ["AIRFLOW__COSMOS__ENABLE_CACHE_DBT_LS"] = "False"  # each round really runs dbt ls
os.environ["AIRFLOW__COSMOS__CACHE_DIR"] = str(_TMP / "cosmos")  # partial-parse cache, removed at exit
import airflow  # noqa: F401, E402  (before cosmos)

ROOT = Path(__file__).resolve().parents[1]
DBT_DIR = ROOT / "dbt_project"
MANIFEST = DBT_DIR / "target" / "manifest.json"
DBT = Path(sys.executable).with_name("dbt")
SELECT = ["path:models/sales"]
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5


def build(load_method, invocation_mode) -> object:
    """One DAG holding the gold group as the factory builds it, but for the given load method."""
    from airflow.sdk import DAG
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import InvocationMode, TestBehavior

    with DAG(
        "bench_gold",
        schedule=None,
        start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        auto_register=False,
    ) as dag:
        DbtTaskGroup(
            group_id="gold",
            project_config=ProjectConfig(dbt_project_path=DBT_DIR, manifest_path=MANIFEST),
            # a profile dbt ls can use at parse time (duckdb :memory:); the same for both variants
            profile_config=ProfileConfig(
                profile_name="medallion",
                target_name="parse",
                profiles_yml_filepath=DBT_DIR / "profiles.yml",
            ),
            render_config=RenderConfig(
                load_method=load_method,
                select=SELECT,
                test_behavior=TestBehavior.AFTER_EACH,
                invocation_mode=invocation_mode,
                # dbtRunner ignores the path (cosmos refuses one that differs from `which dbt`); a
                # subprocess runs exactly this one. Otherwise the ExecutionConfig path is the fallback.
                **({"dbt_executable_path": DBT} if invocation_mode == InvocationMode.SUBPROCESS else {}),
            ),
            execution_config=ExecutionConfig(invocation_mode=InvocationMode.DBT_RUNNER, dbt_executable_path=DBT),
            operator_args={"install_deps": False},
        )
    return dag


def ensure_manifest() -> None:
    if MANIFEST.exists():
        return
    import subprocess

    subprocess.run([str(DBT), "parse", "--profiles-dir", ".", "--target", "parse", "-q"], cwd=DBT_DIR, check=True)


def main() -> None:
    import logging

    from cosmos.constants import InvocationMode, LoadMode

    logging.disable(logging.WARNING)
    variants = {
        "manifest": (LoadMode.DBT_MANIFEST, InvocationMode.DBT_RUNNER),
        "dbt_ls": (LoadMode.DBT_LS, InvocationMode.DBT_RUNNER),  # cosmos's default: dbtRunner in-process
        "dbt_ls_subprocess": (LoadMode.DBT_LS, InvocationMode.SUBPROCESS),
    }
    try:
        ensure_manifest()
        tasks = {}
        times: dict[str, list[float]] = {name: [] for name in variants}
        # in-process dbt ls prints its JSON lines to stdout: swallowed for all variants alike
        with contextlib.redirect_stdout(io.StringIO()):
            for name, args in variants.items():  # warm-up: imports, manifest read, dbt's first parse
                tasks[name] = sorted(build(*args).task_dict)
            for _ in range(ROUNDS):
                for name, args in variants.items():
                    times[name].append(timed(lambda args=args: build(*args))[0])
        assert tasks["manifest"] == tasks["dbt_ls"] == tasks["dbt_ls_subprocess"], tasks
    finally:
        shutil.rmtree(_TMP, ignore_errors=True)
    median = {name: statistics.median(values) for name, values in times.items()}
    rss_mb = peak_rss_mb()
    speedup = median["dbt_ls"] / median["manifest"]
    print(f"project={DBT_DIR.name} select={SELECT} tasks={len(tasks['manifest'])} rounds={ROUNDS} dbt={DBT}")
    print(f"LoadMode.DBT_MANIFEST: median {median['manifest'] * 1000:.1f} ms per DAG build")
    print(f"LoadMode.DBT_LS (dbtRunner, in-process): median {median['dbt_ls']:.2f} s per DAG build")
    print(f"LoadMode.DBT_LS (subprocess): median {median['dbt_ls_subprocess']:.2f} s per DAG build")
    print(
        f"manifest is {speedup:.0f}x faster than dbt ls in-process, "
        f"{median['dbt_ls_subprocess'] / median['manifest']:.0f}x faster than dbt ls as a subprocess"
    )
    print(f"peak RSS of this process: {rss_mb:.0f} MB")
    print(
        f"RESULT gold parse_speedup_vs_dbt_ls={speedup:.1f} manifest_seconds={median['manifest']:.4f} "
        f"dbt_ls_seconds={median['dbt_ls']:.3f} dbt_ls_subprocess_seconds={median['dbt_ls_subprocess']:.3f} "
        f"peak_rss_mb={rss_mb:.0f}"
    )


if __name__ == "__main__":
    main()
