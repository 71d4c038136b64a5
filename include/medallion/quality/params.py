"""Run parameters in expectation values, rendered by the task that runs the suite (the gate, the
quarantine step), never at DAG parse time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from medallion.errors import step_errors
from medallion.spec.models import Expectation, TableCheck
from medallion.spec.templates import is_template

TEMPLATED_FIELDS = ("min_value", "max_value", "value_set")


def render_check(check: TableCheck, render: Callable[[str], Any]) -> TableCheck:
    """``check`` with every templated value rendered by ``render`` (the operator's Jinja environment)."""
    expectations = [_render(exp, render) for exp in check.expectations]
    if all(new is old for new, old in zip(expectations, check.expectations, strict=True)):
        return check
    return check.model_copy(update={"expectations": expectations})


def render_for_run(check: TableCheck, layer: str, render: Callable[[str], Any]) -> TableCheck:
    """``render_check`` in a task: a failure names the layer's table and says where to fix it."""
    with step_errors(
        "render",
        f"{layer} {check.table}",
        "a run parameter ({{ … }}) in this suite could not be rendered; fix the expression in the spec",
    ):
        return render_check(check, render)


def _render(exp: Expectation, render: Callable[[str], Any]) -> Expectation:
    update: dict[str, Any] = {}
    for name in TEMPLATED_FIELDS:
        value = getattr(exp, name)
        if isinstance(value, list) and any(is_template(v) for v in value):
            update[name] = [native(render(v)) if is_template(v) else v for v in value]
        elif is_template(value):
            update[name] = native(render(value))
    return exp.model_copy(update=update) if update else exp


def native(rendered: Any) -> Any:
    """``'7'`` → 7 and ``'0.5'`` → 0.5 so numeric bounds compare as numbers; dates stay ISO strings."""
    if not isinstance(rendered, str):
        return rendered
    text = rendered.strip()
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
