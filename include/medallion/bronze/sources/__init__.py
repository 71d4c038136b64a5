"""The registry of source kinds: one module per kind, listed once here.

The spec models are registered in ``spec/sources`` (the spec imports no other package); each
kind's module here declares a ``KIND`` (``kind.SourceKind``) with the same name. The DAG builder
and the DAG docs look a kind up only through ``source_kind``.
"""

from __future__ import annotations

from medallion.bronze.sources import file, http, sql
from medallion.bronze.sources.kind import SourceKind

#: kind name → what the DAG builder and the docs need of it.
SOURCE_KINDS: dict[str, SourceKind] = {k.operator.kind: k for k in (sql.KIND, http.KIND, file.KIND)}


def source_kind(kind: str) -> SourceKind:
    """The registered kind ``kind`` (spec validation admits only registered kinds)."""
    try:
        return SOURCE_KINDS[kind]
    except KeyError:
        known = ", ".join(sorted(SOURCE_KINDS))
        raise KeyError(f"source kind {kind!r} has no operator in bronze/sources (known: {known})") from None
