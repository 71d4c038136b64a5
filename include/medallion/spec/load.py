"""Turn spec files into validated ``PipelineSpec`` objects, or into positioned problems.

Defaults merge org (``dag_configs/defaults.yaml``) → domain (``<domain>/defaults.yaml``) →
pipeline; each merged value keeps the file and line it came from, so an error in a default
points at the defaults file.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from medallion.errors import Problem, SpecError
from medallion.spec.limits import Deadline, LimitExceeded, SpecLimits, read_bytes
from medallion.spec.models import PipelineSpec
from medallion.spec.yaml_source import (
    PathKey,
    Position,
    SourceDoc,
    YamlProblem,
    deepest_position,
    dotted,
    limit_problem,
    load_yaml,
)

DEFAULTS_FILE = "defaults.yaml"
OPTIONAL_SECTIONS = ("bronze", "silver", "gold")
SCHEMA_COMMENT = "# yaml-language-server: $schema="


class MergedDoc:
    """The merged configuration of one pipeline and where each value came from.

    Positions and origins are layered like the data (a path a later layer sets points at that
    layer) but only computed when asked for: errors and ``explain`` need them, valid specs don't.
    """

    def __init__(self, data: dict[str, Any], layers: Sequence[tuple[str, SourceDoc]]):
        self.data, self._layers = data, list(layers)

    @functools.cached_property
    def _layered(self) -> tuple[dict[PathKey, Position], dict[PathKey, str]]:
        positions: dict[PathKey, Position] = {}
        origins: dict[PathKey, str] = {}
        for label, doc in self._layers:
            if isinstance(doc.data, dict):
                positions.update(doc.positions)
                origins.update(dict.fromkeys(doc.positions, label))
        positions[()] = self._layers[-1][1].position(())
        return positions, origins

    @property
    def positions(self) -> dict[PathKey, Position]:
        return self._layered[0]

    @property
    def origins(self) -> dict[PathKey, str]:
        return self._layered[1]

    def position(self, path: PathKey) -> Position:
        return deepest_position(self.positions, path) or self.positions[()]


def spec_files(root: Path) -> list[Path]:
    """Every pipeline spec under ``root`` (sorted, so DAG order is deterministic)."""
    if root.is_file():
        return [root]
    return sorted(
        p
        for p in root.rglob("*.y*ml")
        if p.suffix in {".yaml", ".yml"}
        and p.name not in {DEFAULTS_FILE, "defaults.yml"}
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def config_root_of(path: Path) -> Path:
    """The ``dag_configs`` folder a spec file or folder belongs to, so validating one domain folder
    or one file still merges the org and domain defaults above it.

    The root is the nearest folder (the target itself, for a folder) with a defaults file, or its
    parent when that has one too (a domain's defaults under the org's).
    """
    path = path.resolve()
    candidates = [path, *path.parents] if path.is_dir() else list(path.parents)
    for parent in candidates:
        if (parent / DEFAULTS_FILE).is_file():
            parent_up = parent.parent
            if (parent_up / DEFAULTS_FILE).is_file():
                return parent_up
            return parent
    return path if path.is_dir() else path.parent


def _merge(layers: Sequence[tuple[str, SourceDoc]]) -> MergedDoc:
    """Deep-merge the layers' data; later layers win (paths that no longer exist in the data
    are never asked for a position, so leftovers from replaced lists are harmless)."""
    data: dict[str, Any] = {}

    def put(target: dict[str, Any], value: dict[str, Any]) -> None:
        for key, item in value.items():
            if isinstance(item, dict):
                existing = target.get(key)
                if not isinstance(existing, dict):
                    existing = target[key] = {}
                put(existing, item)  # fresh mappings: never write into a (cached) defaults document
            else:
                target[key] = item  # lists and scalars are replaced whole, never changed in place

    for _label, doc in layers:
        if isinstance(doc.data, dict):
            put(data, doc.data)
    return MergedDoc(data, layers)


class SpecLoader:
    """Loads specs under one config root; defaults files are read once per content."""

    def __init__(self, root: Path, limits: SpecLimits | None = None):
        self.root = root.resolve()
        self.limits = limits or SpecLimits.from_env()
        self._defaults: dict[Path, tuple[bytes, SourceDoc | None]] = {}
        self._cache: dict[str, tuple[PipelineSpec, MergedDoc]] = {}

    def _defaults_doc(self, path: Path, problems: list[Problem], deadline: Deadline | None = None) -> SourceDoc | None:
        try:
            raw = read_bytes(path, self.limits)
        except FileNotFoundError:
            return None
        except LimitExceeded as exc:
            problems.append(limit_problem(str(path), exc))
            return None
        cached = self._defaults.get(path)
        if cached and cached[0] == raw:
            doc = cached[1]
        else:
            try:
                doc = load_yaml(path, raw.decode("utf-8", errors="replace"), limits=self.limits, deadline=deadline)
            except YamlProblem as exc:
                problems.append(exc.problem)
                return None
            self._defaults[path] = (raw, doc)
        if doc is not None and doc.data is not None and not isinstance(doc.data, dict):
            problems.append(_not_a_mapping(doc))
            return None
        return doc

    def merged(
        self, path: Path, text: str | None = None, deadline: Deadline | None = None
    ) -> tuple[MergedDoc | None, list[Problem]]:
        """Merge org → domain → pipeline documents, with derived ``id`` and ``domain``."""
        path = path.resolve()
        problems: list[Problem] = []
        try:
            doc = load_yaml(path, text, limits=self.limits, deadline=deadline)
        except YamlProblem as exc:
            return None, [exc.problem]
        if doc.data is None:
            msg = "the file is empty"
            hint = "start from `medallion new <domain>/<name>` or copy an existing spec"
            return None, [Problem(str(path), 1, 1, "", msg, hint)]
        if not isinstance(doc.data, dict):
            return None, [_not_a_mapping(doc)]
        rel = path.relative_to(self.root) if path.is_relative_to(self.root) else Path(path.name)
        domain_dir = rel.parts[0] if len(rel.parts) > 1 else None
        layers: list[tuple[str, SourceDoc]] = []
        org = self._defaults_doc(self.root / DEFAULTS_FILE, problems, deadline)
        if org is not None and org.data:
            layers.append(("org defaults", org))
        if domain_dir:
            dom = self._defaults_doc(self.root / domain_dir / DEFAULTS_FILE, problems, deadline)
            if dom is not None and dom.data:
                layers.append(("domain defaults", dom))
        derived: dict[str, Any] = {}
        if domain_dir:
            derived["domain"] = domain_dir
        domain = doc.data.get("domain", derived.get("domain"))
        if isinstance(domain, str):
            derived["id"] = f"{domain}_{path.stem}".replace("-", "_")
        derived_doc = SourceDoc(str(path), derived, {(k,): Position(str(path), 1, 1) for k in derived})
        layers.insert(0, ("derived from the file path", derived_doc))
        layers.append(("pipeline", doc))
        # optional sections (silver, gold) in defaults only configure pipelines that have them
        absent = [s for s in OPTIONAL_SECTIONS if s not in doc.data]
        layers = [
            (
                label,
                layer.with_data({k: v for k, v in layer.data.items() if k not in absent}),
            )
            if isinstance(layer.data, dict) and layer is not doc
            else (label, layer)
            for label, layer in layers
        ]
        return _merge(layers), problems

    def load(self, path: Path) -> PipelineSpec:
        """Validate one spec; raise ``SpecError`` with every problem found."""
        return self.load_with_doc(path)[0]

    def load_with_doc(self, path: Path) -> tuple[PipelineSpec, MergedDoc]:
        """The spec and its merged document (positions for later checks); cached by content.

        Within the loader's limits (size, aliases, depth, time budget): a spec over one is a
        ``SpecError`` like any other, so it becomes a placeholder DAG and costs no other spec.
        """
        from medallion.spec.secrets import find_secrets

        path = path.resolve()
        deadline = Deadline(self.limits.seconds)
        problems: list[Problem] = []
        try:
            raw = read_bytes(path, self.limits) if path.is_file() else b""
            key = hashlib.sha256(str(path).encode() + b"\0" + raw + self._defaults_fingerprint(path)).hexdigest()
            if key in self._cache:
                return self._cache[key]
            merged, problems = self.merged(path, raw.decode("utf-8", errors="replace") if raw else None, deadline)
            if merged is not None:
                deadline.check("merging the defaults")
                problems.extend(find_secrets(merged, str(path)))
                deadline.check("looking for secrets")
                try:
                    spec = PipelineSpec.model_validate(merged.data)
                except ValidationError as exc:
                    problems.extend(problems_from_validation(exc, merged, str(path)))
                else:
                    deadline.check("validating")
                    if not problems:
                        self._cache[key] = (spec, merged)
                        return spec, merged
        except LimitExceeded as exc:
            problems.append(limit_problem(str(path), exc))
        raise SpecError(sorted(problems, key=lambda p: (p.file != str(path), p.file, p.line, p.column)))

    def _defaults_fingerprint(self, path: Path) -> bytes:
        parts = []
        rel = path.relative_to(self.root).parts if path.is_relative_to(self.root) else ()
        candidates = [self.root / DEFAULTS_FILE] + ([self.root / rel[0] / DEFAULTS_FILE] if len(rel) > 1 else [])
        for c in candidates:
            try:
                parts.append(read_bytes(c, self.limits))
            except FileNotFoundError:
                parts.append(b"-")
            except LimitExceeded:
                parts.append(b"too large")
        return b"\0".join(parts)


def _not_a_mapping(doc: SourceDoc) -> Problem:
    kind = type(doc.data).__name__
    pos = doc.position(())
    return Problem(
        doc.file,
        pos.line,
        pos.column,
        "",
        f"the document is a {kind}, not a mapping of keys",
        "a spec is a YAML mapping: `id: …`, `description: …`, `bronze: …`",
    )


# --- pydantic errors → positioned problems ---------------------------------------------------


def problems_from_validation(exc: ValidationError, doc: MergedDoc, file: str) -> list[Problem]:
    """One ``Problem`` per pydantic error, positioned in the file that set the value."""
    out: list[Problem] = []
    seen: set[tuple[PathKey, str]] = set()
    for err in exc.errors(include_url=False):
        path = _data_path(err["loc"], doc.data)
        if (path, err["type"]) in seen:
            continue
        seen.add((path, err["type"]))
        pos = doc.position(path)
        message, hint = _explain(err, path, doc)
        field_name = dotted(path)
        if err["type"] == "missing":
            pos = doc.position(path[:-1])
        out.append(Problem(pos.file or file, pos.line, pos.column, field_name, message, hint))
    return out


def _data_path(loc: Iterable[Any], data: Any) -> PathKey:
    """Drop pydantic's union tags (``…, 'sql', …``) so the path follows the YAML document."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and isinstance(part, str) and part not in node and node.get("kind") == part:
            continue
        if isinstance(part, str) and (part.startswith(("function-", "tagged-union")) or part == "[key]"):
            continue
        path.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(path)


def _explain(err: dict[str, Any], path: PathKey, doc: MergedDoc) -> tuple[str, str]:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if ctx.get("hint"):  # our own validators carry their hint (e.g. spec/paths.py)
        return err["msg"], str(ctx["hint"])
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else "?"
        allowed = allowed_keys(PipelineSpec, path[:-1], doc.data)
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"allowed keys here: {', '.join(sorted(allowed))}"
        return f"unknown key {key!r}", hint
    if kind == "missing":
        return f"required field {path[-1]!r} is missing", f"add `{path[-1]}:` to this mapping"
    if kind in {"literal_error", "enum"}:
        expected = [s.strip().strip("'") for s in str(ctx.get("expected", "")).replace(" or ", ",").split(",")]
        got = str(err.get("input"))
        close = difflib.get_close_matches(got, [e for e in expected if e], n=1, cutoff=0.5)
        hint = (f"did you mean {close[0]!r}? " if close else "") + f"use one of: {ctx.get('expected')}"
        return f"{got!r} is not allowed", hint
    if kind == "union_tag_invalid":
        return f"unknown kind {ctx.get('tag')!r}", f"use one of: {ctx.get('expected_tags')}"
    if kind.startswith("date") or kind.startswith("datetime"):
        return f"{err.get('input')!r} is not a date", "write an absolute date such as 2026-01-31"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        if "A-Za-z_" in pattern:  # ColumnName: say what the value is not, rather than quote the regex
            return f"{err.get('input')!r} is not a column name", _pattern_hint(pattern)
        return err["msg"], _pattern_hint(pattern)
    if kind == "value_error":
        return str(ctx.get("error", err["msg"])), "fix the value as the message says"
    return err["msg"], _type_hint(kind)


def _pattern_hint(pattern: str) -> str:
    if "A-Za-z_" in pattern:
        return "a column name: letters, digits and underscores, not starting with a digit (no quotes, spaces or SQL)"
    if "a-z0-9_" in pattern:
        return "use lower-case letters, digits and underscores, starting with a letter"
    if "bronze|silver|gold" in pattern:
        return "write <layer>.<table>, e.g. silver.orders"
    if "@" in pattern:
        return "write an e-mail address such as team@example.com"
    return f"the value must match {pattern}"


def _type_hint(kind: str) -> str:
    hints = {
        "list_type": "write a YAML list (lines starting with '- ')",
        "dict_type": "write a YAML mapping (key: value lines, indented)",
        "model_type": "write a YAML mapping (key: value lines, indented)",
        "string_type": "quote the value to make it a string",
        "int_parsing": "write a whole number",
        "int_type": "write a whole number",
        "float_parsing": "write a number",
        "bool_parsing": "write true or false",
        "too_short": "add at least one entry",
    }
    return hints.get(kind, "see the spec reference in README.md or `medallion schema`")


def allowed_keys(model: type[BaseModel], path: PathKey, data: Any) -> list[str]:
    """Field names accepted at ``path`` (walks models, lists, optionals and tagged unions)."""
    current: Any = model
    node = data
    for part in path:
        current = _unwrap(current, node)
        if isinstance(part, int):
            args = get_args(current)
            current = args[0] if args else Any
            node = node[part] if isinstance(node, list) and part < len(node) else None
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return []
        current = current.model_fields[part].annotation
        node = node.get(part) if isinstance(node, dict) else None
    current = _unwrap(current, node)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(tp: Any, node: Any) -> Any:
    """Strip Optional/Annotated; pick the union member a tagged union would choose."""
    while True:
        origin = get_origin(tp)
        if origin is None:
            return tp
        args = [a for a in get_args(tp) if a is not type(None)]
        if origin is list:
            return tp
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if len(models) > 1 and isinstance(node, dict):
            for m in models:
                kind = m.model_fields.get("kind")
                if kind is not None and node.get("kind") in get_args(kind.annotation):
                    return m
        tp = models[0] if models else args[0]
