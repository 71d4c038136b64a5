"""The JSON Schema of a spec file, for editors (yaml-language-server) and `medallion schema`."""

from __future__ import annotations

import json
from typing import Any

from medallion.spec.models import PipelineSpec


def spec_json_schema() -> dict[str, Any]:
    """Schema of one spec *file*: defaults files may supply required keys, so none is required."""
    schema = PipelineSpec.model_json_schema()
    schema["required"] = []
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "medallion pipeline spec"
    return schema


def schema_text() -> str:
    return json.dumps(spec_json_schema(), indent=2, sort_keys=True) + "\n"
