"""The registry of source kinds' spec models: one module per kind, listed once here.

Adding a kind: a module in this folder with a ``StrictModel`` whose ``kind`` is a ``Literal``
(its name), one line in ``MODELS``, and its operator in ``bronze/sources`` registered under the
same name (README: Extending medallion). The ``Source`` union of the spec is built from this list.
"""

from __future__ import annotations

from typing import Annotated, Union, get_args

from pydantic import Field

from medallion.spec.base import StrictModel
from medallion.spec.sources.file import FileSource
from medallion.spec.sources.http import HttpSource
from medallion.spec.sources.sql import SqlSource

#: The source models, in the order the JSON Schema lists them.
MODELS: tuple[type[StrictModel], ...] = (SqlSource, HttpSource, FileSource)


def kind_of(model: type[StrictModel]) -> str:
    """A source model's kind: the single value of its ``kind: Literal[...]`` field."""
    (kind,) = get_args(model.model_fields["kind"].annotation)
    return str(kind)


def _by_kind(models: tuple[type[StrictModel], ...]) -> dict[str, type[StrictModel]]:
    found: dict[str, type[StrictModel]] = {}
    for model in models:
        kind = kind_of(model)
        if kind in found:
            where = f"{found[kind].__module__} and {model.__module__}"
            raise TypeError(f"source kind {kind!r} is registered twice: {where}")
        found[kind] = model
    return found


#: kind → spec model (e.g. ``"sql"`` → ``SqlSource``).
SOURCE_MODELS: dict[str, type[StrictModel]] = _by_kind(MODELS)

#: One entry of ``bronze.sources``: pydantic picks the model by ``kind``.
Source = Annotated[Union[MODELS], Field(discriminator="kind")]  # type: ignore[valid-type]  # noqa: UP007

__all__ = ["MODELS", "SOURCE_MODELS", "FileSource", "HttpSource", "Source", "SqlSource", "kind_of"]
