"""Paths in a spec stay inside their roots.

A spec names files the factory reads (notebooks, the dbt project, local source files) and S3
keys it writes (``lake.prefix``). Each is checked where it is written, as a positioned error:

* the grammar, per field, when the spec is validated: repository paths are relative with no
  ``..``; S3 URLs and the lake prefix have no ``..`` or empty segments; any path in a spec has
  no ``..`` segment;
* the roots, for the whole project, against the file system: a notebook resolves (symlinks
  followed) inside the repository, and a local ``file`` source inside an allowed root:
  ``MEDALLION_FILE_ROOTS`` (a deployment setting, folders separated by ``:``; a spec cannot
  widen it), by default the project's ``data/`` folder.

The file source operator and the notebook lint check the rendered path again before reading,
so a template cannot reach outside either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from medallion import paths
from medallion.errors import Problem
from medallion.spec.templates import is_template
from medallion.spec.yaml_source import PathKey, dotted

_S3 = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{0,62})(?P<key>/.*)?$")
_SEGMENT = re.compile(r"^[A-Za-z0-9._=-]+$")


def _refuse(kind: str, message: str, value: str, hint: str) -> PydanticCustomError:
    """A validation error carrying its hint (``load._explain`` shows it); ``{value!r}`` in ``message``."""
    return PydanticCustomError(kind, "{message}", {"message": message.format(value=value), "hint": hint})


def _segments(path: str) -> list[str]:
    return path.split("/")


def no_parent_segments(value: str) -> str:
    """No ``..`` segment, whatever the path is relative to."""
    if ".." in re.split(r"[/\\]", value):
        raise _refuse(
            "path_escapes",
            "{value!r} climbs out of its folder with '..'",
            value,
            "write the path from its root without '..' segments",
        )
    return value


def repo_path(value: str) -> str:
    """A path from the repository root (or the Git source's root): relative, no ``..`` or empty segments."""
    hint = "write the path from the repository root, e.g. include/notebooks/sales/orders_silver.py"
    if value.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:", value):
        raise _refuse("path_not_relative", "{value!r} is not a path inside the repository", value, hint)
    no_parent_segments(value)
    if "\\" in value or any(part in ("", ".") for part in _segments(value)):
        raise _refuse("path_segments", "{value!r} has empty, '.' or backslash segments", value, hint)
    return value


def s3_url(value: str) -> str:
    """``s3://bucket/prefix/…`` with a valid bucket name and no ``..`` or empty key segments."""
    hint = "write s3://<bucket>/<prefix>/ with no '..' or '//' in the prefix"
    match = _S3.match(value)
    if match is None:
        raise _refuse("s3_url", "{value!r} is not an s3://<bucket>/<prefix> URL", value, hint)
    key = (match["key"] or "/")[1:]
    parts = key.split("/")
    if key and (any(p in ("", ".", "..") for p in parts[:-1]) or parts[-1] in (".", "..")):
        raise _refuse("path_escapes", "{value!r} has '..', '.' or empty segments in its key", value, hint)
    return value


def lake_prefix(value: str) -> str:
    """Key prefix under the lake bucket: plain segments only, as it is written into every S3 key."""
    stripped = value.strip("/")
    if stripped and not all(_SEGMENT.match(p) and p not in (".", "..") for p in stripped.split("/")):
        raise _refuse(
            "lake_prefix",
            "lake prefix {value!r} must be plain folder names (no '..', '.', empty segments or special characters)",
            value,
            "write e.g. teams/sales (letters, digits, '.', '_', '-', '=' between slashes); it becomes part of "
            "every S3 key and of the documented IAM scope",
        )
    return value


def _pattern(pattern: str) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "pattern": pattern})


RepoPath = Annotated[
    str,
    AfterValidator(repo_path),
    _pattern(r"^(?![/\\~])(?!.*(^|/)\.\.?(/|$))[^\\]+$"),
]
NoParentPath = Annotated[str, AfterValidator(no_parent_segments)]
LakePrefix = Annotated[
    str,
    AfterValidator(lake_prefix),
    _pattern(r"^/?([A-Za-z0-9._=-]+/)*([A-Za-z0-9._=-]+/?)?$"),
]


def static_part(path: str) -> str:
    """The path up to its first templated segment (what is known before a run renders it)."""
    parts = _segments(path)
    for i, part in enumerate(parts):
        if is_template(part):
            return "/".join(parts[:i]) or "."
    return path


def check_roots(items: Iterable[Any]) -> dict[Path, list[Problem]]:
    """Notebooks inside the repository, local file sources inside an allowed root; ``items`` are
    loaded specs (``.path``, ``.spec``, ``.doc``), problems are keyed by spec path."""
    out: dict[Path, list[Problem]] = {}
    repo = paths.project_root()
    roots = paths.file_roots()
    for item in items:
        spec = item.spec
        found: list[tuple[PathKey, str, str]] = []
        if spec.silver is not None and spec.silver.source == "WORKSPACE":
            for i, nb in enumerate(spec.silver.notebooks):
                if not paths.within(paths.resolve(nb.path), [repo]):
                    found.append(
                        (
                            ("silver", "notebooks", i, "path"),
                            f"notebook {nb.path!r} resolves outside the repository ({repo})",
                            "keep notebooks in the repository (a symlink out of it does not count)",
                        )
                    )
        for i, src in enumerate(spec.bronze.sources if spec.bronze else []):
            local = src.kind == "file" and src.storage == "local"
            if local and not paths.within(paths.resolve(static_part(src.path)), roots):
                found.append(
                    (
                        ("bronze", "sources", i, "path"),
                        f"local path {src.path!r} is outside the folders file sources may read "
                        f"({', '.join(str(r) for r in roots)})",
                        f"put the files under {roots[0]} (relative paths start at the repository root), "
                        f"or have the deployment add their folder to {paths.FILE_ROOTS_ENV}",
                    )
                )
        for at, message, hint in found:
            pos = item.doc.position(at)
            out.setdefault(item.path, []).append(Problem(pos.file, pos.line, pos.column, dotted(at), message, hint))
    return out
