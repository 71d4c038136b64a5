"""The spec reference in Markdown, generated from the JSON Schema so the docs never drift.

``medallion schema --markdown`` prints it; ``docs/spec-reference.md`` is the committed copy
(kept in sync by a test, like ``dag_configs/schema.json``).
"""

from __future__ import annotations

import json
from typing import Any

from medallion.spec.schema import spec_json_schema

HEADER = """# Spec reference

Generated from the JSON Schema by `medallion schema --markdown` (`make schema`); do not edit by
hand. A spec file may leave out any key its org or domain `defaults.yaml` sets; the *required*
column is about the merged configuration. Unknown keys are errors.
"""


def _type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "const" in prop:
        return f"`{json.dumps(prop['const'])}`"
    if "enum" in prop:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in prop["enum"])
    for key in ("anyOf", "oneOf"):
        if key in prop:
            options = [_type(p) for p in prop[key] if p.get("type") != "null"]
            optional = any(p.get("type") == "null" for p in prop[key])
            return " \\| ".join(options) + (" (or null)" if optional else "")
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type(prop.get('items', {}))}"
    if kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        return f"map of {_type(prop['additionalProperties'])}"
    if kind == "object" and len(prop.get("patternProperties") or {}) == 1:  # keys with a grammar (column names)
        ((keys, values),) = prop["patternProperties"].items()
        return f"map of {_type(values)}, keys match `{keys}`"
    return f"`{kind}`" if isinstance(kind, str) else " \\| ".join(f"`{k}`" for k in kind)


def _constraints(prop: dict[str, Any]) -> str:
    labels = {
        "minimum": "≥",
        "exclusiveMinimum": ">",
        "maximum": "≤",
        "exclusiveMaximum": "<",
        "minItems": "min items",
        "maxLength": "max length",
        "pattern": "pattern",
    }
    for option in prop.get("anyOf", []):  # constraints of `X | None` sit on the non-null option
        if option.get("type") != "null":
            prop = {**option, **prop}
    parts = [f"{label} `{prop[key]}`" for key, label in labels.items() if key in prop]
    return "; ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(prop: dict[str, Any]) -> str:
    if "default" not in prop:
        return ""
    value = json.dumps(prop["default"], sort_keys=True)
    return f"`{_cell(value)}`" if len(value) <= 60 else "(see schema)"


def _section(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"## {name}", ""]
    if schema.get("description"):
        lines += [" ".join(schema["description"].split()), ""]
    if schema.get("enum"):
        return [*lines, "One of " + ", ".join(f"`{v}`" for v in schema["enum"]) + ".", ""]
    required = set(schema.get("required", []))
    lines += ["| key | type | required | default | description |", "|---|---|---|---|---|"]
    for key, prop in sorted(schema.get("properties", {}).items()):
        notes = "; ".join(part for part in (prop.get("description", ""), _constraints(prop)) if part)
        lines.append(
            f"| `{key}` | {_type(prop)} | {'yes' if key in required else ''} | {_default(prop)} | {_cell(notes)} |"
        )
    return [*lines, ""]


def spec_reference_markdown() -> str:
    schema = spec_json_schema()
    root = {**schema, "required": _merged_required()}
    lines = [HEADER, *_section("PipelineSpec (a spec file)", root)]
    for name, definition in sorted(schema.get("$defs", {}).items()):
        lines += _section(name, definition)
    return "\n".join(lines).rstrip() + "\n"


def _merged_required() -> list[str]:
    """Keys the merged configuration must have (the file schema requires none: defaults may set them)."""
    from medallion.spec.models import PipelineSpec

    return [name for name, field in PipelineSpec.model_fields.items() if field.is_required()]
