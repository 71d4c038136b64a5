"""Literal credentials in a spec: keys named like secrets with a value, values shaped like credentials.

Run while a spec loads (``spec.load``) and by ``validate``; a module of its own so the loader and
the project checks do not import each other.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from medallion.errors import Problem
from medallion.spec.yaml_source import PathKey, Position, dotted

_SECRET_KEY = re.compile(r"(?i)^(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)$")
_SECRET_VALUE = re.compile(
    r"xox[abposr]-[A-Za-z0-9-]{10,}|dapi[0-9a-f]{20,}|AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY"
    r"|(?i:password\s*=\s*[^\s;'\"{]+)|://[^:/@\s]+:[^@/\s{]+@"
)
SECRET_HINT = "never put credentials in a spec: store them in an Airflow connection and reference its conn_id"


class _Doc(Protocol):
    """A merged spec document (``spec.load.MergedDoc``): its data and where each value was written."""

    data: Any

    def position(self, path: PathKey) -> Position: ...


def find_secrets(doc: _Doc, file: str) -> list[Problem]:
    """Password/token-like keys with a value, or values that look like credentials."""
    found: list[Problem] = []

    def walk(node: Any, at: PathKey) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if _SECRET_KEY.match(str(key)) and value not in (None, ""):
                    found.append(_secret(doc, (*at, key), f"key {key!r} holds a literal secret"))
                else:
                    walk(value, (*at, key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, (*at, i))
        elif isinstance(node, str) and _SECRET_VALUE.search(node):
            found.append(_secret(doc, at, "this value looks like a credential"))

    walk(doc.data, ())
    return found


def _secret(doc: _Doc, at: PathKey, message: str) -> Problem:
    pos = doc.position(at)
    return Problem(pos.file, pos.line, pos.column, dotted(at), message, SECRET_HINT)
