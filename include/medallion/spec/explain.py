"""``medallion explain``: the merged configuration and where each value came from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medallion.spec.load import MergedDoc, PathKey


def explain(doc: MergedDoc, root: Path) -> str:
    """YAML-like listing of the merged spec; each leaf annotated with its source file and layer."""
    lines: list[str] = []

    def where(path: PathKey) -> str:
        pos = doc.position(path)
        file = Path(pos.file)
        shown = file.relative_to(root.parent) if file.is_relative_to(root.parent) else file
        return f"# {doc.origins.get(path, 'pipeline')} ({shown}:{pos.line})"

    def scalar(value: Any) -> str:
        return json.dumps(value, default=str) if not isinstance(value, str) or "\n" in value else value

    def walk(node: Any, path: PathKey, indent: int) -> None:
        pad = "  " * indent
        if isinstance(node, dict):
            for key, value in node.items():
                child = (*path, key)
                if isinstance(value, dict | list) and value:
                    lines.append(f"{pad}{key}:")
                    walk(value, child, indent + 1)
                else:
                    lines.append(f"{pad}{key}: {scalar(value)}  {where(child)}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                child = (*path, i)
                if isinstance(value, dict) and value:
                    start = len(lines)
                    walk(value, child, indent + 1)
                    lines[start] = f"{pad}- " + lines[start].lstrip()  # first key on the dash line
                else:
                    lines.append(f"{pad}- {scalar(value)}  {where(child)}")

    walk(doc.data, (), 0)
    return "\n".join(lines) + "\n"
