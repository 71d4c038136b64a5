"""Limits a spec file must stay within, checked before its YAML is composed into data.

One spec must never cost more than itself: a YAML alias bomb (``&a [*b, *b, …]`` nine levels
deep) is a few hundred bytes of text that expands to hundreds of millions of values once a
walk follows the aliases (the secret scan, the position map, pydantic). Composing is cheap
(aliases share objects); walking is not. So the parser's event stream is scanned first, which
costs a fraction of a load and never expands anything: it counts values as if every alias were
expanded (an anchor's size is known when its node ends), counts aliases and measures nesting,
and stops at the first limit crossed, naming the line. The file size is checked before the file
is read. A time budget per spec bounds whatever else is slow: it is checked while scanning and
between the loading steps.

Defaults fit any hand-written spec many times over; a deployment may change them with the
environment variables in ``ENV`` (e.g. ``MEDALLION_SPEC_MAX_BYTES``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from medallion.errors import MedallionError

#: Environment variable per limit.
ENV = {
    "max_bytes": "MEDALLION_SPEC_MAX_BYTES",
    "max_nodes": "MEDALLION_SPEC_MAX_NODES",
    "max_aliases": "MEDALLION_SPEC_MAX_ALIASES",
    "max_depth": "MEDALLION_SPEC_MAX_DEPTH",
    "seconds": "MEDALLION_SPEC_SECONDS",
}


@dataclass(frozen=True)
class SpecLimits:
    """What one spec (or defaults) file may cost; the example spec is 4 KB, ~300 values, depth 7."""

    max_bytes: int = 1_000_000  # the file on disk
    max_nodes: int = 50_000  # values (scalars, lists, mappings), every alias counted as expanded
    max_aliases: int = 100  # `*name` references
    max_depth: int = 32  # lists and mappings inside each other
    seconds: float = 5.0  # time budget to read, scan, merge and validate one spec

    @classmethod
    def from_env(cls) -> SpecLimits:
        """The defaults, overridden by ``MEDALLION_SPEC_*`` variables where set."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = os.environ.get(ENV[f.name])
            if raw:
                values[f.name] = float(raw) if f.name == "seconds" else int(raw)
        return cls(**values)


class LimitExceeded(MedallionError):
    """A limit was crossed at ``line``:``column`` (1-based) of the file; ``path`` is the field."""

    def __init__(self, message: str, hint: str, line: int = 1, column: int = 1, path: tuple[str | int, ...] = ()):
        self.message, self.hint, self.line, self.column, self.path = message, hint, line, column, path
        super().__init__(message)


@dataclass
class Deadline:
    """The time budget of one spec, checked cooperatively (never a signal: Airflow's parse timeout uses it)."""

    seconds: float
    started: float = field(default_factory=time.monotonic)

    def check(self, step: str, line: int = 1, column: int = 1) -> None:
        if time.monotonic() - self.started > self.seconds:
            raise LimitExceeded(
                f"the spec took more than {self.seconds:g} s to load (stopped while {step})",
                "a spec this slow is far larger than a pipeline needs: split it or remove generated content; "
                f"a deployment can raise the budget with {ENV['seconds']}",
                line,
                column,
            )


def read_bytes(path: Path | str, limits: SpecLimits) -> bytes:
    """The file's content, refusing to read more than ``max_bytes`` of it."""
    with open(path, "rb") as stream:
        raw = stream.read(limits.max_bytes + 1)
    if len(raw) > limits.max_bytes:
        raise _too_large(os.stat(path).st_size, raw[: limits.max_bytes], limits)
    return raw


def check_size(text: str, limits: SpecLimits) -> None:
    """The same limit for text read elsewhere (counted in UTF-8 bytes, as on disk)."""
    if len(text) > limits.max_bytes // 4:  # fewer characters than that cannot exceed the limit
        raw = text.encode("utf-8", errors="surrogatepass")
        if len(raw) > limits.max_bytes:
            raise _too_large(len(raw), raw[: limits.max_bytes], limits)


def _too_large(size: int, head: bytes, limits: SpecLimits) -> LimitExceeded:
    return LimitExceeded(
        f"the file is {_size(size)}; a spec may be at most {_size(limits.max_bytes)} (this line crosses it)",
        "a spec describes one pipeline in a few KB: keep data (value lists, SQL) in the source system, "
        f"a dbt seed or a file the pipeline reads; a deployment can raise the limit with {ENV['max_bytes']}",
        head.count(b"\n") + 1,
        len(head[head.rfind(b"\n") + 1 :].decode("utf-8", errors="replace")) + 1,  # characters, not bytes
    )


def _size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n / 1000:.1f} KB"


class _Open:
    """A list or mapping being scanned: its expanded size so far and where the scan is inside it."""

    __slots__ = ("anchor", "at_key", "index", "key", "mapping", "size")

    def __init__(self, anchor: str | None, mapping: bool):
        self.anchor, self.mapping, self.size = anchor, mapping, 1
        self.at_key, self.key, self.index = True, "?", 0

    def step(self) -> str | int:
        """The path part of the node being read now."""
        return self.index if not self.mapping else self.key

    def done(self, node: yaml.Event) -> None:
        """A child node ended: advance to the next key, value or item."""
        if not self.mapping:
            self.index += 1
        elif self.at_key:
            self.key = str(node.value) if isinstance(node, yaml.ScalarEvent) else "?"
            self.at_key = False
        else:
            self.at_key = True


def scan(events: Iterable[yaml.Event], limits: SpecLimits, deadline: Deadline | None = None) -> None:
    """Walk a parser's events once; raise ``LimitExceeded`` at the first node over a limit.

    The parser's own errors (bad syntax) propagate unchanged: the caller reports them as it
    would from a load.
    """
    sizes: dict[str, int] = {}  # anchor -> values it stands for, expanded
    stack: list[_Open] = []
    nodes = aliases = 0

    def where(event: yaml.Event) -> dict[str, Any]:
        path = tuple(o.step() for o in stack if not (o.mapping and o.at_key))
        mark = event.start_mark
        return {"line": mark.line + 1, "column": mark.column + 1, "path": path}

    def grow(n: int, event: yaml.Event) -> None:
        nonlocal nodes
        nodes += n
        if nodes > limits.max_nodes:
            limit = f"(limit: {ENV['max_nodes']})"
            if aliases:
                message = f"aliases expand this document to more than {limits.max_nodes:,} values"
                hint = f"write repeated blocks out or move shared settings to defaults.yaml {limit}"
            else:
                message = f"the document has more than {limits.max_nodes:,} values"
                hint = f"a spec is a few hundred values: keep data (value lists, generated content) elsewhere {limit}"
            raise LimitExceeded(message, hint, **where(event))

    for i, event in enumerate(events):
        if deadline is not None and not i % 1024:
            deadline.check("reading the YAML", event.start_mark.line + 1, event.start_mark.column + 1)
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > limits.max_aliases:
                raise LimitExceeded(
                    f"more than {limits.max_aliases} aliases (*{event.anchor})",
                    f"write the values out or move shared settings to defaults.yaml (limit: {ENV['max_aliases']})",
                    **where(event),
                )
            if any(o.anchor == event.anchor for o in stack):
                raise LimitExceeded(
                    f"alias *{event.anchor} refers to a list or mapping that contains it (an endless value)",
                    f"an alias may only repeat a value written before and outside it; remove *{event.anchor}",
                    **where(event),
                )
            size = sizes.get(event.anchor or "", 1)
            grow(size, event)
            if stack:
                stack[-1].size += size
                stack[-1].done(event)
        elif isinstance(event, yaml.ScalarEvent):
            grow(1, event)
            if event.anchor:
                sizes[event.anchor] = 1
            if stack:
                stack[-1].size += 1
                stack[-1].done(event)
        elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            if len(stack) >= limits.max_depth:
                raise LimitExceeded(
                    f"lists and mappings are nested more than {limits.max_depth} levels deep",
                    f"a spec is a few levels deep; check the indentation and brackets here (limit: {ENV['max_depth']})",
                    **where(event),
                )
            grow(1, event)
            stack.append(_Open(event.anchor, isinstance(event, yaml.MappingStartEvent)))
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            closed = stack.pop()
            if closed.anchor:
                sizes[closed.anchor] = closed.size
            if stack:
                stack[-1].size += closed.size
                stack[-1].done(event)
