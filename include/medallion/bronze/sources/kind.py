"""What the DAG builder and the DAG docs need of one source kind, declared by each kind's module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SourceKind:
    """One source kind: its spec model, its operator, and how a spec entry becomes operator
    arguments (``options``) and a line of the DAG docs (``origin``)."""

    model: type[Any]
    operator: type[Any]  # a LandSourceOperator subclass whose ``kind`` is the model's kind
    options: Callable[[Any], dict[str, Any]]
    origin: Callable[[Any], str]


def connection_origin(src: Any) -> str:
    """The docs line of a kind that reads through one Airflow connection."""
    return f"{src.kind} on connection `{src.conn_id}`"
