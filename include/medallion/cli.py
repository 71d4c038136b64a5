"""The ``medallion`` command: validate specs, export the schema, run pipelines locally."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from medallion import paths


def _validate(args: argparse.Namespace) -> int:
    from medallion.gold.selection import select_gold
    from medallion.spec.load import config_root_of, spec_files
    from medallion.spec.project import known_connections, load_project

    targets = [Path(p) for p in args.paths] or [paths.config_dir()]
    problems, checked = [], 0
    for target in targets:
        if not target.exists():
            print(f"{target}: error: no such file or directory", file=sys.stderr)
            return 2
        root = config_root_of(target)  # a domain folder or one file: the defaults above it count
        # the whole project: cross checks, gold selections resolved as the gold task group renders them
        project = load_project(root, connections=known_connections(), select_gold=select_gold)
        wanted = set(spec_files(target.resolve()))
        checked += len(wanted)
        problems += [p for path in sorted(wanted) for p in project.problems(path)]
    _print_problems(problems)
    bad = len({p.file for p in problems if p.severity == "error"})
    warnings = sum(p.severity == "warning" for p in problems)
    summary = f"{checked} spec(s) checked: {checked - bad} valid, {bad} invalid, {warnings} warning(s)"
    print(summary, file=sys.stderr if bad else sys.stdout)
    return 1 if bad else 0


def _print_problems(problems: list) -> None:
    """Every problem as ``file:line:col: severity: field: message`` + hint, paths relative to the cwd."""
    for p in problems:
        print(p.format(root=Path.cwd()), file=sys.stderr)


def _new(args: argparse.Namespace) -> int:
    from medallion.scaffold import scaffold

    try:
        files = scaffold(args.target)
    except (ValueError, FileExistsError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in files:
        print(f"created {path.relative_to(paths.project_root())}")
    domain, name = args.target.split("/")
    print(f"next: edit them, `medallion validate`, then `medallion run {domain}_{name} --date <YYYY-MM-DD>`")
    return 0


def _explain(args: argparse.Namespace) -> int:
    from medallion.spec.explain import explain
    from medallion.spec.project import load_project

    root = paths.config_dir()
    project = load_project(root, select_gold=None)  # the parsed specs only
    for item in project.valid.values():
        if item.spec.id == args.pipeline:
            sys.stdout.write(explain(item.doc, root))
            return 0
    known = sorted(item.spec.id for item in project.valid.values())
    print(f"error: no valid pipeline {args.pipeline!r}; known: {', '.join(known)}", file=sys.stderr)
    return 1


def _lint(args: argparse.Namespace) -> int:
    from medallion.silver.lint import lint_paths

    targets = [Path(p) for p in args.paths] or [paths.project_root() / "include" / "notebooks"]
    findings = lint_paths(targets)
    for finding in findings:
        print(finding.format(), file=sys.stderr)
    print(f"{len(findings)} portability finding(s)", file=sys.stderr if findings else sys.stdout)
    return 1 if findings else 0


def _ui(args: argparse.Namespace) -> int:
    from medallion.local.ui import run_ui

    return run_ui(args.port)


def _schema(args: argparse.Namespace) -> int:
    if args.markdown:
        from medallion.spec.reference import spec_reference_markdown

        sys.stdout.write(spec_reference_markdown())
        return 0
    from medallion.spec.schema import schema_text

    sys.stdout.write(schema_text())
    return 0


def _runbook(args: argparse.Namespace) -> int:
    from medallion.alerts.runbook import render_runbook

    sys.stdout.write(render_runbook())
    return 0


def _local(args: argparse.Namespace) -> int:
    from medallion.local import services

    if args.action == "up":
        running = services.running()
        if running is not None:
            print(f"local runtime already running (pid {running['pid']}); `medallion local down` stops it")
            return 0
        state = services.start_background()
        print(
            f"local runtime up (pid {state['pid']}): S3 :{state['s3_port']}, Databricks :{state['databricks_port']}, "
            f"Slack :{state['slack_port']}, SMTP :{state['smtp_port']}; state in {state['state_dir']}"
        )
    else:
        print("local runtime stopped" if services.stop_background() else "local runtime was not running")
    return 0


def _runnable(pipeline: str) -> int:
    """0 if ``pipeline`` is a valid pipeline's DAG id; else print why (its spec's errors, as `validate`
    prints them, or the known ids) and return 1."""
    from medallion.factory.placeholder import placeholder_dag_id
    from medallion.gold.selection import select_gold
    from medallion.spec.project import known_connections, load_project

    root = paths.config_dir()
    project = load_project(root, connections=known_connections(), select_gold=select_gold)  # as the loader does
    for path in project.files:
        item = project.valid.get(path)
        errors = project.report.errors(path)
        if item is not None and not errors:
            if item.spec.dag_id == pipeline:
                return 0
            continue
        names = {placeholder_dag_id(path, root), f"{path.parent.name}_{path.stem}", path.stem}
        if item is not None:
            names.add(item.spec.dag_id)
        if pipeline in names:
            _print_problems(project.problems(path))
            rel = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
            print(
                f"error: {pipeline} cannot run: {rel} has {len(errors)} error(s) (above); "
                f"fix them and check with `medallion validate {rel}`",
                file=sys.stderr,
            )
            return 1
    known = sorted(item.spec.dag_id for path, item in project.valid.items() if not project.report.errors(path))
    print(f"error: no pipeline {pipeline!r} under {root}; known: {', '.join(known) or 'none'}", file=sys.stderr)
    return 1


def _run(args: argparse.Namespace) -> int:
    import datetime as dt

    try:
        dt.date.fromisoformat(args.date)
    except ValueError:
        print(f"error: --date {args.date!r} is not a date (YYYY-MM-DD)", file=sys.stderr)
        return 2
    from medallion.local.runtime import prepare_environment

    prepare_environment()  # before anything imports Airflow (loading the specs may)
    if _runnable(args.pipeline):
        return 1
    from medallion.local.demo import run_once

    try:
        return 0 if run_once(args.pipeline, args.date) else 1
    except ValueError as exc:  # e.g. a date before the pipeline's start_date
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _test(args: argparse.Namespace) -> int:
    """Notebook unit tests, pytest-like: a line per case, the diff of each failure, exit 1 on any."""
    import time

    from medallion.silver.notebook_tests import ENGINES, format_failure, run_on_engine
    from medallion.spec.notebook_cases import spec_cases
    from medallion.spec.project import load_project

    project = load_project(paths.config_dir(), select_gold=None)
    specs = {item.spec.id: item.spec for item in project.valid.values()}
    wanted = set(args.targets)
    cases = []
    for spec in specs.values():
        names = None if not wanted or spec.id in wanted else [n for n in wanted if n.startswith(spec.id + ".")]
        if names == []:
            continue
        found, problems = spec_cases(spec, notebooks=[n.split(".", 1)[1] for n in names] if names else None)
        if problems:
            _print_problems(problems)
            return 1
        cases += found
    unknown = sorted(t for t in wanted if t.split(".")[0] not in specs)
    if unknown:
        print(f"error: no valid pipeline {', '.join(unknown)} (known: {', '.join(sorted(specs))})", file=sys.stderr)
        return 2
    engines = list(ENGINES) if args.engine == "both" else [args.engine]
    print(f"{len(cases)} notebook test case(s) on {' and '.join(engines)}")
    failures = []
    started = time.monotonic()
    for engine in engines:

        def show(result: Any) -> None:
            print(f"{result.case} [{result.engine}] {result.status.upper()} ({result.seconds:.1f}s)", flush=True)

        failures += [r for r in run_on_engine(engine, cases, paths.project_root(), on_result=show) if not r.ok]
    for result in failures:
        print("\n" + format_failure(result))
    total = len(cases) * len(engines)
    print(f"\n{total - len(failures)} passed, {len(failures)} failed in {time.monotonic() - started:.1f}s")
    return 1 if failures else 0


def _demo(_: argparse.Namespace) -> int:
    from medallion.local.demo import demo

    return demo()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="medallion", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="check spec files; report every problem with file:line:column")
    p.add_argument("paths", nargs="*", help="spec files or folders (default: dag_configs/)")
    p.set_defaults(func=_validate)
    schema = sub.add_parser("schema", help="print the JSON Schema of a spec file (or the Markdown reference)")
    schema.add_argument("--markdown", action="store_true", help="the spec reference as Markdown (docs/)")
    schema.set_defaults(func=_schema)
    sub.add_parser(
        "runbook", help="print the on-call runbook (docs/runbook.md), one section per class of alerts/hints.yaml"
    ).set_defaults(func=_runbook)
    p = sub.add_parser("new", help="scaffold a spec, a notebook and a dbt model: medallion new <domain>/<name>")
    p.add_argument("target")
    p.set_defaults(func=_new)
    p = sub.add_parser("ui", help="Airflow's UI on the local runtime (127.0.0.1 only); Ctrl-C stops it")
    p.add_argument("--port", type=int, default=8080)
    p.set_defaults(func=_ui)
    p = sub.add_parser("lint", help="check notebooks stay in the portable PySpark subset")
    p.add_argument("paths", nargs="*", help="notebooks or folders (default: include/notebooks)")
    p.set_defaults(func=_lint)
    p = sub.add_parser("explain", help="the merged configuration of a pipeline and where each value came from")
    p.add_argument("pipeline")
    p.set_defaults(func=_explain)
    p = sub.add_parser("local", help="start/stop the local embedded runtime (S3, Databricks, Slack, SMTP)")
    p.add_argument("action", choices=["up", "down"])
    p.set_defaults(func=_local)
    p = sub.add_parser("run", help="run one pipeline for one date on the local runtime")
    p.add_argument("pipeline")
    p.add_argument("--date", required=True, help="logical date, e.g. 2026-11-20")
    p.set_defaults(func=_run)
    p = sub.add_parser("test", help="run notebook unit tests (silver.notebooks[].tests) on the emulator and/or Spark")
    p.add_argument("targets", nargs="*", help="pipeline ids or <pipeline>.<notebook> (default: every case)")
    p.add_argument("--engine", choices=["local", "spark", "both"], default="local")
    p.set_defaults(func=_test)
    sub.add_parser(
        "demo",
        help="run the example pipeline end to end, then three broken runs and their alerts (dbt, gate, Databricks)",
    ).set_defaults(func=_demo)
    args = parser.parse_args(argv)
    from medallion.errors import MedallionError

    try:
        return int(args.func(args))
    except MedallionError as exc:  # errors meant for a person: one message, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
