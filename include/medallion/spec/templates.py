"""Run parameters in expectation values: Airflow's Jinja (``{{ ds }}``), checked when the spec loads.

Values are rendered by the gate task at run time with the task's context; the spec only checks
that a template parses and names variables the gate provides, so a typo is a spec error with its
file and line instead of a failed run.
"""

from __future__ import annotations

import difflib
from functools import cache
from typing import Any

TEMPLATE_VARIABLES = (
    "ds",
    "ds_nodash",
    "ts",
    "logical_date",
    "data_interval_start",
    "data_interval_end",
    "run_id",
    "macros",
)


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


@cache
def _environment() -> Any:
    import jinja2.sandbox

    return jinja2.sandbox.SandboxedEnvironment()


def template_problem(value: str) -> str | None:
    """Why ``value`` cannot be rendered by a gate (syntax error, unknown variable), or None."""
    import jinja2
    from jinja2 import meta

    try:
        names = meta.find_undeclared_variables(_environment().parse(value))
    except jinja2.TemplateSyntaxError as exc:
        return f"template {value!r} does not parse: {exc.message}"
    unknown = sorted(names - set(TEMPLATE_VARIABLES))
    if not unknown:
        return None
    close = difflib.get_close_matches(unknown[0], TEMPLATE_VARIABLES, n=1)
    suggestion = f" (did you mean {close[0]!r}?)" if close else ""
    return (
        f"unknown template variable {unknown[0]!r} in {value!r}{suggestion}; "
        f"a gate renders: {', '.join(TEMPLATE_VARIABLES)}"
    )
