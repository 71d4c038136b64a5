"""``medallion explain``: the merged configuration and where each value came from.

The output is YAML that loads back to exactly the merged data (a person can copy it into a
spec), with each value's origin as a comment: values are written by PyYAML's own safe
representer, so ``#channel``, ``@daily``, ``yes`` or ``2026-11-01`` keep their meaning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from medallion.spec.load import MergedDoc, PathKey


def yaml_scalar(value: Any) -> str:
    """One value as a single-line YAML flow node (quoted when plain text would change its meaning)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=2**31, allow_unicode=True)
    text = text.removesuffix("\n").removesuffix("\n...")
    if "\n" in text:  # a multi-line string: double quotes keep it on one line
        text = yaml.safe_dump(value, default_style='"', width=2**31, allow_unicode=True).rstrip("\n")
    return text


def explain(doc: MergedDoc, root: Path) -> str:
    """The merged spec as YAML; each leaf annotated with the layer and file:line that set it."""
    lines: list[str] = []

    def where(path: PathKey) -> str:
        pos = doc.position(path)
        file = Path(pos.file)
        shown = file.relative_to(root.parent) if file.is_relative_to(root.parent) else file
        return f"  # {doc.origins.get(path, 'pipeline')} ({shown}:{pos.line})"

    def nested(value: Any) -> bool:
        return isinstance(value, dict | list) and bool(value) and not _list_of_lists(value)

    def walk(node: Any, path: PathKey, indent: int) -> None:
        pad = "  " * indent
        if isinstance(node, dict):
            for key, value in node.items():
                child = (*path, key)
                if nested(value):
                    lines.append(f"{pad}{yaml_scalar(key)}:")
                    walk(value, child, indent + 1)
                else:
                    lines.append(f"{pad}{yaml_scalar(key)}: {yaml_scalar(value)}{where(child)}")
        else:
            for i, value in enumerate(node):
                child = (*path, i)
                if isinstance(value, dict) and value:
                    start = len(lines)
                    walk(value, child, indent + 1)
                    lines[start] = f"{pad}- " + lines[start].lstrip()  # first key on the dash line
                else:
                    lines.append(f"{pad}- {yaml_scalar(value)}{where(child)}")

    walk(doc.data, (), 0)
    return "\n".join(lines) + "\n"


def _list_of_lists(value: Any) -> bool:
    """Lists holding lists are written in flow style (``[[a, b]]``) on one line."""
    return isinstance(value, list) and any(isinstance(v, list) for v in value)
