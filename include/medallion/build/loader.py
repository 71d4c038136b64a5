"""Build every DAG under a config folder, each spec in isolation.

Airflow drops every DAG of a file whose import raises, so one bad spec must never raise
here: it becomes a placeholder DAG carrying its errors. A worker that runs one task builds
only that task's DAG (``get_parsing_context``).
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

from airflow.sdk import DAG

from medallion.errors import Problem, SpecError
from medallion.spec.load import SpecLoader, spec_files

log = logging.getLogger(__name__)

_LOADERS: dict[Path, SpecLoader] = {}


def _loader(root: Path) -> SpecLoader:
    root = root.resolve()
    if root not in _LOADERS:
        _LOADERS[root] = SpecLoader(root)
    return _LOADERS[root]


def _current_dag_id() -> str | None:
    try:
        from airflow.sdk import get_parsing_context

        return get_parsing_context().dag_id
    except Exception:  # older API or not in a task: build everything
        return None


def load_dags(config_dir: Path) -> dict[str, DAG]:
    """``{dag_id: DAG}`` for every spec under ``config_dir``; never raises."""
    from medallion.build.dag import build_dag
    from medallion.build.placeholder import build_placeholder, placeholder_dag_id

    root = config_dir.resolve()
    loader = _loader(root)
    wanted = _current_dag_id()
    dags: dict[str, DAG] = {}
    owners: dict[str, Path] = {}
    for path in spec_files(root):
        try:
            spec = loader.load(path)
            if spec.dag_id in owners:
                other = owners[spec.dag_id]
                raise SpecError(
                    [
                        Problem(
                            str(path),
                            1,
                            1,
                            "id",
                            f"pipeline id {spec.dag_id!r} is already used by {other}",
                            "give one of the two pipelines another id (or file name)",
                        )
                    ]
                )
            owners[spec.dag_id] = path
            if wanted and wanted != spec.dag_id:
                continue
            dags[spec.dag_id] = build_dag(spec)
        except SpecError as exc:
            dag_id = placeholder_dag_id(path, root)
            if not wanted or wanted == dag_id:
                dags[dag_id] = build_placeholder(path, root, exc.problems)
            log.warning("invalid spec %s:\n%s", path, exc)
        except Exception as exc:  # a factory bug must not take other pipelines down either
            dag_id = placeholder_dag_id(path, root)
            problem = Problem(
                str(path),
                1,
                1,
                "",
                f"the factory failed to build this DAG: {type(exc).__name__}: {exc}",
                "this is a medallion bug or an unsupported combination; report it with the spec",
            )
            log.error("could not build %s:\n%s", path, traceback.format_exc())
            if not wanted or wanted == dag_id:
                dags[dag_id] = build_placeholder(path, root, [problem])
    return dags
