"""Notebook test cases resolved: fixture files read, values typed against the contract, positioned problems.

:func:`spec_cases` turns a spec's cases (the models in :mod:`medallion.spec.notebook_tests`) into plain,
JSON-ready :class:`ResolvedCase` records, so the test runner, the preflight and ``validate`` read them the same way.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from medallion import paths
from medallion.errors import MedallionError, Problem
from medallion.spec.notebook_tests import DEFAULT_WIDGETS, NotebookTestCase, Rows, TestsFile
from medallion.spec.sqltypes import declared_type


@dataclass
class Fixture:
    """Rows with their columns and SQL types (canonical names); values are JSON-ready."""

    columns: list[str]
    types: dict[str, str]
    rows: list[dict[str, Any]]
    origin: str  # file:line where the rows were written
    declared: list[str] = field(default_factory=list)  # columns typed by the contract or `columns:` (checked)


@dataclass
class ResolvedCase:
    """A case with every file read: what a runner (local, Spark, a Databricks run) executes."""

    pipeline: str
    notebook: str  # the notebook's name in the spec
    notebook_path: str  # repository path
    name: str
    origin: str  # file:line of the case
    widgets: dict[str, str]
    outputs: list[str] = field(default_factory=list)
    sources: dict[str, Fixture] = field(default_factory=dict)
    tables: dict[str, Fixture] = field(default_factory=dict)
    expect: dict[str, Fixture] = field(default_factory=dict)
    compare: dict[str, list[str]] = field(default_factory=dict)
    primary_keys: dict[str, list[str]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.pipeline}::{self.notebook}::{self.name}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResolvedCase:
        fixtures = {k: {t: Fixture(**f) for t, f in data[k].items()} for k in ("sources", "tables", "expect")}
        return cls(**{**data, **fixtures})


class FixtureError(MedallionError, ValueError):
    """A fixture that cannot be read or contradicts the contract; ``problem`` is positioned."""

    def __init__(self, problem: Problem):
        super().__init__(problem.message)
        self.problem = problem


def json_value(value: Any) -> Any:
    """YAML/CSV values as JSON-ready values (dates and decimals as text)."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def infer_type(values: list[Any]) -> str:
    """A column's type from its values when nothing declares it."""
    kinds = {type(v) for v in values if v is not None}
    if kinds and kinds <= {bool}:
        return "boolean"
    if kinds and kinds <= {int}:
        return "bigint"
    if kinds and kinds <= {int, float}:
        return "double"
    if kinds and kinds <= {dt.date}:
        return "date"
    if kinds and kinds <= {dt.datetime, dt.date} and dt.datetime in kinds:
        return "timestamp"
    return "string"


def coerce(value: Any, sql_type: str) -> Any:
    """``value`` as the Python value a column of ``sql_type`` holds; ValueError when it is not one."""
    if value is None:
        return None
    t = declared_type(sql_type)
    if t in {"tinyint", "smallint", "int", "bigint"}:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"{value!r} is not a whole number")
        return int(str(value).strip()) if isinstance(value, str) else int(value)
    if t in {"float", "double"}:
        return float(value)
    if t.startswith("decimal"):
        scale = int(t.split(",")[1].rstrip(")"))
        return decimal.Decimal(str(value).strip()).quantize(decimal.Decimal(1).scaleb(-scale))
    if t == "boolean":
        if isinstance(value, bool):
            return value
        if str(value).strip().lower() in {"true", "false"}:
            return str(value).strip().lower() == "true"
        raise ValueError(f"{value!r} is not true or false")
    if t == "date":
        if isinstance(value, dt.datetime):
            return value.date()
        return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value).strip())
    if t in {"timestamp", "timestamp_ntz"}:
        stamp = value if isinstance(value, dt.datetime) else None
        if stamp is None and isinstance(value, dt.date):
            stamp = dt.datetime.combine(value, dt.time())
        stamp = stamp or dt.datetime.fromisoformat(str(value).strip())
        if stamp.tzinfo is not None:  # compared in UTC, as both engines' sessions run
            stamp = stamp.astimezone(dt.UTC).replace(tzinfo=None)
        return stamp
    if t == "binary":
        return value if isinstance(value, bytes) else str(value).encode()
    return str(value)


def _read_file(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = [{k: (v if v != "" else None) for k, v in row.items()} for row in reader]
            return rows, list(reader.fieldnames or [])
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ValueError("a JSON fixture is a list of objects (one per row)")
    columns: list[str] = []
    for row in data:
        columns += [c for c in row if c not in columns]
    return data, columns


@dataclass
class CaseContext:
    """What resolving a notebook's cases needs from the spec, with positions for problems."""

    pipeline: str
    notebook: str
    notebook_path: str
    outputs: list[str]
    contracts: dict[str, dict[str, str]]  # table → column → declared type
    primary_keys: dict[str, list[str]]
    position: Any  # (path key) → "file:line:column" origin and Problem positions

    def problem(self, at: tuple[Any, ...], field_name: str, message: str, hint: str) -> FixtureError:
        file, line, column = self.position(at)
        return FixtureError(Problem(file, line, column, field_name, message, hint))


def _fixture(item: Rows, ctx: CaseContext, at: tuple[Any, ...], label: str, contract: dict[str, str] | None) -> Fixture:
    file, line, _ = ctx.position(at)
    origin = f"{file}:{line}"
    if item.file is not None:
        path = paths.resolve(str(Path(ctx.notebook_path).parent / item.file))
        origin = f"{path}:1"
        try:
            rows, columns = _read_file(path)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise ctx.problem(
                (*at, "file"),
                f"{label}.file",
                f"fixture {item.file!r} cannot be read: {exc}",
                "a .csv with a header row or a .json list of objects, next to the notebook",
            ) from None
    else:
        rows = [dict(r) for r in item.rows or []]
        columns = []
        for row in rows:
            columns += [c for c in row if c not in columns]
    if contract is not None:
        unknown = [c for c in columns if c not in contract]
        if unknown:
            where: tuple[Any, ...] = (*at, "file")
            if item.file is None:
                row = next(i for i, r in enumerate(rows) if unknown[0] in r)
                where = (*at, "rows", row, unknown[0])
            table = getattr(item, "table", None) or "the table"
            raise ctx.problem(
                where,
                f"{label}",
                f"fixture columns {unknown} are not columns of the contract of {table} ({', '.join(contract)})"
                + (f" ({origin})" if item.file is not None else ""),
                "name the columns as the table's contract does (spec `contracts:`), or fix the contract",
            )
    types = {c: declared_type(t) for c, t in {**(contract or {}), **item.columns}.items() if c in columns}
    for column in columns:
        types.setdefault(column, infer_type([r.get(column) for r in rows]))
    for index, row in enumerate(rows):
        for column, value in row.items():
            try:
                coerce(value, types[column])
            except (ValueError, ArithmeticError) as exc:
                where = (*at, "rows", index, column) if item.file is None else (*at, "file")
                raise ctx.problem(
                    where,
                    f"{label}.rows[{index}].{column}",
                    f"{value!r} is not a {types[column]} ({exc}) ({origin}, row {index + 1})",
                    "write a value of the column's type (contract or `columns:`), or null",
                ) from None
    json_rows = [{c: json_value(r.get(c)) for c in columns} for r in rows]
    declared = [c for c in columns if c in (contract or {}) or c in item.columns]
    return Fixture(columns, types, json_rows, origin, declared)


def resolve_case(case: NotebookTestCase, ctx: CaseContext, at: tuple[Any, ...]) -> ResolvedCase:
    """Read a case's fixtures and check them against the contracts; raises :class:`FixtureError`."""
    file, line, _ = ctx.position(at)
    resolved = ResolvedCase(
        ctx.pipeline,
        ctx.notebook,
        ctx.notebook_path,
        case.name,
        f"{file}:{line}",
        {**DEFAULT_WIDGETS, **case.widgets},
        list(ctx.outputs),
    )
    for i, given in enumerate(case.given):
        label = f"given[{i}]"
        if given.source is not None:
            resolved.sources[given.source] = _fixture(given, ctx, (*at, "given", i), label, None)
        else:
            assert given.table is not None
            resolved.tables[given.table] = _fixture(
                given, ctx, (*at, "given", i), label, ctx.contracts.get(given.table)
            )
    for i, expect in enumerate(case.expect):
        if expect.table not in ctx.outputs:
            raise ctx.problem(
                (*at, "expect", i, "table"),
                f"expect[{i}].table",
                f"{expect.table} is not an output of notebook {ctx.notebook!r} ({', '.join(ctx.outputs)})",
                "expect rows of the tables the notebook writes (its `outputs:`)",
            )
        fixture = _fixture(expect, ctx, (*at, "expect", i), f"expect[{i}]", ctx.contracts.get(expect.table))
        compare = list(expect.compare or fixture.columns)
        missing = [c for c in compare if c not in fixture.columns]
        if missing:
            raise ctx.problem(
                (*at, "expect", i, "compare"),
                f"expect[{i}].compare",
                f"compared columns {missing} are not in the expected rows",
                "list columns the expected rows give",
            )
        resolved.expect[expect.table] = fixture
        resolved.compare[expect.table] = compare
        resolved.primary_keys[expect.table] = [c for c in ctx.primary_keys.get(expect.table, []) if c in compare]
    return resolved


def load_tests_file(path: Path) -> tuple[list[NotebookTestCase], Any]:
    """Cases of a tests file and a ``position(path key) → (file, line, column)`` for its problems.

    Raises :class:`FixtureError` for a file that is missing or does not validate.
    """
    from medallion.spec.yaml_source import YamlProblem, load_yaml

    if not path.is_file():
        raise FixtureError(
            Problem(
                str(path),
                1,
                1,
                "tests_file",
                f"tests file {path} does not exist",
                "create it next to the notebook, or fix tests_file",
            )
        )
    try:
        doc = load_yaml(path)
    except YamlProblem as exc:
        raise FixtureError(exc.problem) from None

    def position(key: tuple[Any, ...]) -> tuple[str, int, int]:
        pos = doc.position(key)
        return pos.file or str(path), pos.line, pos.column

    try:
        parsed = TestsFile.model_validate(doc.data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        file, line, column = position(tuple(p for p in err["loc"] if isinstance(p, str | int)))
        field_name = ".".join(str(p) for p in err["loc"])
        raise FixtureError(
            Problem(
                file,
                line,
                column,
                field_name,
                err["msg"],
                "a tests file is `tests:` with a list of cases (name, widgets, given, expect)",
            )
        ) from None
    return list(parsed.tests), position


Position = Any  # (path key) → (file, line, column)


def spec_cases(
    spec: Any, position: Position | None = None, notebooks: list[str] | None = None
) -> tuple[list[ResolvedCase], list[Problem]]:
    """Every case of a spec's notebooks (``notebooks``: only those names), and the problems found.

    ``position`` maps a path in the spec to where it was written (``MergedDoc.position``); without
    it problems point at the pipeline id (runtime callers: ``validate`` already reported them).
    """
    if spec.silver is None:
        return [], []
    fallback: Position = position or (lambda key: (spec.id, 1, 1))
    contracts = {c.table: {col.name: col.type for col in c.columns} for c in spec.contracts}
    keys = {c.table: list(c.primary_key) for c in spec.contracts}
    cases: list[ResolvedCase] = []
    problems: list[Problem] = []
    for i, nb in enumerate(spec.silver.notebooks):
        if notebooks is not None and nb.name not in notebooks:
            continue
        entries: list[tuple[NotebookTestCase, Position, tuple[Any, ...]]] = [
            (case, fallback, ("silver", "notebooks", i, "tests", j)) for j, case in enumerate(nb.tests)
        ]
        if nb.tests_file:
            try:
                file_cases, file_position = load_tests_file(paths.resolve(nb.tests_file))
            except FixtureError as exc:
                problems.append(exc.problem)
                file_cases, file_position = [], fallback
            entries += [(case, file_position, ("tests", j)) for j, case in enumerate(file_cases)]
        names = [case.name for case, _, _ in entries]
        for case, where, at in entries:
            ctx = CaseContext(spec.id, nb.name, nb.path, list(nb.outputs), contracts, keys, where)
            if names.count(case.name) > 1:
                problems.append(
                    ctx.problem(
                        (*at, "name"),
                        "name",
                        f"case name {case.name!r} is used twice for notebook {nb.name!r}",
                        "give each case its own name",
                    ).problem
                )
                continue
            try:
                cases.append(resolve_case(case, ctx, at))
            except FixtureError as exc:
                problems.append(exc.problem)
    return cases, problems
