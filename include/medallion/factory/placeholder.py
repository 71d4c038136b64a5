"""A visible stand-in for a spec that cannot be built: the error is in the UI, not lost."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, BaseOperator

from medallion.errors import Problem

INVALID_TAG = "medallion:invalid-spec"


class SpecErrorOperator(BaseOperator):
    """Fails with the spec's problems so a run (or a test) shows exactly what to fix."""

    ui_color = "#ff6b6b"

    def __init__(self, *, message: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.message = message

    def execute(self, context: Any) -> None:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(self.message)


def placeholder_dag_id(spec_file: Path, root: Path) -> str:
    rel = (
        spec_file.resolve().relative_to(root.resolve())
        if spec_file.resolve().is_relative_to(root.resolve())
        else Path(spec_file.name)
    )
    slug = re.sub(r"[^a-zA-Z0-9_]+", "_", str(rel.with_suffix(""))).strip("_").lower()
    return f"invalid__{slug}"


def build_placeholder(spec_file: Path, root: Path, problems: Sequence[Problem]) -> DAG:
    message = "\n".join(p.format(root=root.parent) for p in problems)
    doc = (
        f"# Invalid pipeline spec\n\n`{spec_file}` could not be turned into a DAG. "
        "Fix the problems below (run `medallion validate` locally), and this placeholder is replaced "
        f"by the real DAG at the next parse.\n\n```\n{message}\n```\n"
    )
    dag = DAG(
        dag_id=placeholder_dag_id(spec_file, root),
        schedule=None,
        tags=[INVALID_TAG],
        doc_md=doc,
        description=f"INVALID SPEC: {problems[0].message if problems else 'unknown error'}"[:200],
        auto_register=False,
    )
    SpecErrorOperator(task_id="spec_error", message=message, dag=dag)
    return dag
