"""What every spec model shares: strictness and the name grammars (kept apart so that the
per-kind source models in ``spec/sources`` and ``spec/models.py`` can both import them)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
#: A column of a table or file, as written in SQL without quotes (expectations, contracts, file sources).
ColumnName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
