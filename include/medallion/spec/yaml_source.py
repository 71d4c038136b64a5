"""Load YAML with the safe loader and remember where every value was written.

pydantic reports errors by field path; people need ``file:line:column``. The data comes
from libyaml's safe loader in one pass; the map from field path to position is built from
the node tree only when something asks for it (an error, ``explain``), because composing
and walking the tree costs five times the plain load and a valid spec never needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from medallion.errors import MedallionError, Problem
from medallion.spec.limits import Deadline, LimitExceeded, SpecLimits, check_size, read_bytes, scan

PathKey = tuple[str | int, ...]


def dotted(path: PathKey) -> str:
    """``bronze.sources[0].name`` for ``("bronze", "sources", 0, "name")``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@dataclass(frozen=True)
class Position:
    file: str
    line: int
    column: int


class LazyPositions:
    """Positions computed once, on first use, and shared by every view of one document."""

    def __init__(self, compute: Callable[[], dict[PathKey, Position]]):
        self._compute: Callable[[], dict[PathKey, Position]] | None = compute
        self._value: dict[PathKey, Position] = {}

    def get(self) -> dict[PathKey, Position]:
        if self._compute is not None:
            self._value, self._compute = self._compute(), None
        return self._value


class SourceDoc:
    """A YAML document as plain data plus the position of every key and value."""

    def __init__(self, file: str, data: Any, positions: dict[PathKey, Position] | LazyPositions | None = None):
        self.file, self.data = file, data
        if not isinstance(positions, LazyPositions):
            fixed = positions if positions is not None else {(): Position(file, 1, 1)}
            positions = LazyPositions(lambda: fixed)
        self._positions = positions

    @property
    def positions(self) -> dict[PathKey, Position]:
        return self._positions.get()

    def with_data(self, data: Any) -> SourceDoc:
        """The same file and positions with other data (e.g. a defaults file minus some sections)."""
        return SourceDoc(self.file, data, self._positions)

    def position(self, path: PathKey) -> Position:
        """Position of the deepest existing prefix of ``path`` (missing keys point at the parent)."""
        return deepest_position(self.positions, path) or Position(self.file, 1, 1)


def deepest_position(positions: dict[PathKey, Position], path: PathKey) -> Position | None:
    """Where ``path`` was written, or its nearest written parent (a missing key is reported there)."""
    for end in range(len(path), -1, -1):
        pos = positions.get(tuple(path[:end]))
        if pos is not None:
            return pos
    return None


#: libyaml's parser when available (≈10x faster than the pure-Python one).
_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictSafeLoader(_BASE):  # type: ignore[misc,valid-type]
    """Safe loader (no arbitrary objects) that refuses duplicate and non-scalar keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[str, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(None, None, "expected a mapping", node.start_mark)
        self.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _key(self.construct_object(key_node, deep=True), key_node)
            if key in out:
                raise _DocProblem(key_node, f"duplicate key {key!r}", "remove one of the two entries")
            out[key] = self.construct_object(value_node, deep=deep)
        return out


def _key(value: Any, node: yaml.Node) -> str:
    if not isinstance(value, str | int | float | bool) or value is None:
        raise _DocProblem(node, "mapping keys must be plain strings")
    return str(value)


def _positions_of(text: str, file: str) -> dict[PathKey, Position]:
    """Walk the node tree of an already-loaded (so known-good) document, recording positions."""
    positions: dict[PathKey, Position] = {}
    loader = _StrictSafeLoader("")

    def walk(node: yaml.Node, path: PathKey) -> None:
        positions.setdefault(path, Position(file, node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.MappingNode):
            loader.flatten_mapping(node)
            for key_node, value_node in node.value:
                child = (*path, _key(loader.construct_object(key_node, deep=True), key_node))
                positions[child] = Position(file, key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    node = yaml.compose(text, Loader=_BASE)
    if node is not None:
        walk(node, ())
    positions.setdefault((), Position(file, 1, 1))
    return positions


def _bad_scalar_position(text: str) -> tuple[int, int]:
    """Where the first scalar that the safe constructor cannot build is (only called on error)."""
    loader = _StrictSafeLoader("")
    stack = [yaml.compose(text, Loader=_BASE)]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            try:
                loader.construct_object(node, deep=True)
            except (ValueError, TypeError, OverflowError):
                return node.start_mark.line + 1, node.start_mark.column + 1
        elif isinstance(node, yaml.MappingNode):
            stack.extend(n for pair in reversed(node.value) for n in reversed(pair))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))
    return 1, 1


class _DocProblem(MedallionError):
    def __init__(self, node: yaml.Node, message: str, hint: str = ""):
        self.node, self.message, self.hint = node, message, hint


def load_yaml(
    path: Path | str, text: str | None = None, *, limits: SpecLimits | None = None, deadline: Deadline | None = None
) -> SourceDoc:
    """Parse one YAML file; raise a ``Problem``-carrying ``YamlProblem`` for anything unreadable.

    The size, alias, value and depth ``limits`` are checked on the parser's events before the
    document is composed, so a hostile file costs a scan of its text, nothing more.
    """
    file = str(path)
    limits = limits or SpecLimits.from_env()
    try:
        if text is None:
            text = read_bytes(path, limits).decode("utf-8")
        check_size(text, limits)
        scan(yaml.parse(text, Loader=_BASE), limits, deadline)
        data = yaml.load(text, Loader=_StrictSafeLoader)
    except LimitExceeded as exc:
        raise YamlProblem(limit_problem(file, exc)) from None
    except _DocProblem as exc:
        mark = exc.node.start_mark
        raise YamlProblem(Problem(file, mark.line + 1, mark.column + 1, "", exc.message, exc.hint)) from None
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlProblem(Problem(file, line, col, "", f"invalid YAML value: {exc.problem}", "")) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        msg = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        raise YamlProblem(Problem(file, line, col, "", f"invalid YAML: {msg}", _yaml_hint(msg))) from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. `2026-02-30`: a date that does not exist
        line, col = _bad_scalar_position(text or "")
        hint = "quote the value if it is not meant as a date or a number"
        raise YamlProblem(Problem(file, line, col, "", f"invalid YAML value: {exc}", hint)) from None
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
        raise YamlProblem(Problem(file, 1, 1, "", f"cannot read YAML: {exc}", "")) from None
    if data is None:
        return SourceDoc(file, None)
    source = text
    return SourceDoc(file, data, LazyPositions(lambda: _positions_of(source, file)))


def limit_problem(file: str, exc: LimitExceeded) -> Problem:
    """A crossed limit as a positioned problem."""
    field = dotted(exc.path)
    if len(field) > 60:  # e.g. 32 levels of a[0][0]…: the line says where, the field says roughly what
        field = f"{field[:30]}…{field[-20:]}"
    return Problem(file, exc.line, exc.column, field, exc.message, exc.hint)


def _yaml_hint(message: str) -> str:
    if "'\\t'" in message or " tab" in message.lower():
        return "indent with spaces, not tabs"
    if "mapping values are not allowed" in message:
        return "a value containing ': ' must be quoted, or a key is indented wrongly"
    if "expected <block end>" in message or "did not find expected" in message:
        return "check the indentation of this line against the lines above it"
    return "fix the YAML syntax at this position (an online YAML linter or your editor's schema helps)"


class YamlProblem(MedallionError):
    """A YAML file could not be read as data."""

    def __init__(self, problem: Problem):
        self.problem = problem
        super().__init__(problem.format())
