"""SQL type names a data contract may declare (Databricks SQL names and common aliases).

The spec validates contract types with this at `validate` time; ``quality.contract_types`` maps
each lakehouse engine's names onto the same canonical types to enforce them at run time.
"""

from __future__ import annotations

import re

#: Declared (spec) type names → canonical type. decimal(p,s) / numeric(p,s) are parsed separately.
DECLARED = {
    "tinyint": "tinyint",
    "byte": "tinyint",
    "smallint": "smallint",
    "short": "smallint",
    "int": "int",
    "integer": "int",
    "bigint": "bigint",
    "long": "bigint",
    "float": "float",
    "real": "float",
    "double": "double",
    "boolean": "boolean",
    "bool": "boolean",
    "string": "string",
    "varchar": "string",
    "date": "date",
    "timestamp": "timestamp",
    "timestamp_ntz": "timestamp_ntz",
    "binary": "binary",
}

DECIMAL = re.compile(r"^(?:decimal|numeric|dec)\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)$", re.IGNORECASE)


def declared_type(text: str) -> str:
    """The canonical form of a contract's type; ValueError names the accepted spellings."""
    t = " ".join(text.strip().lower().split())
    if m := DECIMAL.match(t):
        return f"decimal({int(m[1])},{int(m[2])})"
    if t in DECLARED:
        return DECLARED[t]
    raise ValueError(f"unknown contract type {text!r}: use {', '.join(sorted(set(DECLARED.values())))} or decimal(p,s)")
