"""Build every DAG under a config folder, each spec in isolation.

Airflow drops every DAG of a file whose import raises, so one bad spec must never raise
here: it becomes a placeholder DAG carrying its errors. A worker that runs one task builds
only that task's DAG (``get_parsing_context``); validated specs are cached by content hash.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

from airflow.sdk import DAG

from medallion.errors import Problem

log = logging.getLogger(__name__)


def _current_dag_id() -> str | None:
    try:
        from airflow.sdk import get_parsing_context

        return get_parsing_context().dag_id
    except Exception:  # not in a task, or an older API: build everything
        return None


def load_dags(config_dir: Path) -> dict[str, DAG]:
    """``{dag_id: DAG}`` for every spec under ``config_dir``; never raises."""
    from medallion.factory.dag import build_dag
    from medallion.factory.placeholder import build_placeholder, placeholder_dag_id
    from medallion.gold.selection import select_gold
    from medallion.spec.project import known_connections, load_project

    root = config_dir.resolve()
    wanted = _current_dag_id()
    try:
        project = load_project(root, connections=known_connections(), select_gold=select_gold)
    except Exception as exc:  # a factory bug must not empty the whole DAG list silently
        log.error("medallion could not load %s:\n%s", root, traceback.format_exc())
        return {
            "invalid__medallion_loader": build_placeholder(
                root / "defaults.yaml",
                root,
                [
                    Problem(
                        str(root),
                        1,
                        1,
                        "",
                        f"the factory failed: {type(exc).__name__}: {exc}",
                        "report this as a medallion bug",
                    )
                ],
            )
        }
    dags: dict[str, DAG] = {}
    for path in project.files:
        item = project.valid.get(path)
        errors = project.report.errors(path)
        if item is not None and not errors:
            if wanted and wanted != item.spec.dag_id:
                continue  # a worker builds (and logs about) only the DAG it runs
            for warning in (p for p in project.problems(path) if p.severity == "warning"):
                log.warning("%s", warning.format())
            try:
                dag = build_dag(
                    item.spec,
                    warnings=project.problems(path),
                    owners=project.report.owners,
                    selection=project.report.gold.get(path),
                )
                if path in project.report.gold:  # the gold group renders exactly what validate resolved
                    from medallion.gold.selection import check_rendered

                    check_rendered(dag, str(path), project.report.gold[path])
                dags[item.spec.dag_id] = dag
                continue
            except Exception as exc:  # a factory bug must not take other pipelines down either
                log.error("could not build %s:\n%s", path, traceback.format_exc())
                errors = [
                    Problem(
                        str(path),
                        1,
                        1,
                        "",
                        f"the factory failed to build this DAG: {type(exc).__name__}: {exc}",
                        "this is a medallion bug or an unsupported combination; report it",
                    )
                ]
        dag_id = placeholder_dag_id(path, root)
        if not wanted or wanted == dag_id:
            dags[dag_id] = build_placeholder(path, root, errors)
        log.warning("invalid spec %s:\n%s", path, "\n".join(p.format() for p in errors))
    return dags
