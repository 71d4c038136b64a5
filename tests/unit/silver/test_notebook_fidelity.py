"""Fidelity of the emulator's engine: every pipeline notebook on real Spark and on sqlframe/DuckDB, same data.

The notebooks run in production on Databricks (Spark) and everywhere else on the emulator's engine
(sqlframe on DuckDB). This test commits the same generated bronze partitions (a few thousand rows,
dirty the way sources are: numbers as padded text, blank and space-padded strings, mixed case,
non-ASCII text, nulls, late versions and exact duplicates, dates in every spelling both engines
accept) for every notebook under ``include/notebooks/`` and demands the same output schema and the
same rows from both engines. Values neither engine can type (a word in a number column, an impossible
date) must make both raise, or both keep the same rows. A divergence is fixed in the emulator or the
notebook, or documented in the README's portable subset with the lint rule that catches it.
"""

from __future__ import annotations

import datetime as dt
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from notebook_files import NOTEBOOKS_DIR, datasets_read, pipeline_notebooks

from medallion.silver.notebook_diff import canonical_type, compare_table
from medallion.silver.notebook_tests import NotebookRaised, case_outputs, spark_session, sqlframe_session
from medallion.spec.notebook_cases import Fixture, ResolvedCase, json_value

pytestmark = pytest.mark.slow

DS = "2026-11-20"
OUTPUT = "silver.fidelity"
STATUSES = ["placed", "paid", "shipped", "delivered", "cancelled"]


# --------------------------------------------------------------------------- generated bronze data


def _spelled(rng: random.Random, word: str) -> str:
    """Mixed case and stray spaces, as the shop's statuses and e-mails come."""
    return rng.choice(
        [word, word.upper(), word.capitalize(), f" {word.upper()} ", f"{word.capitalize()}  ", f"  {word}"]
    )


def _number(rng: random.Random, value: int) -> str:
    """A whole number as a text source writes it: padded, signed, zero-filled."""
    return rng.choice([str(value), f" {value}", f"{value} ", f"+{value}", f"{value:05d}", str(value)])


def _date(rng: random.Random, day: dt.date) -> str:
    """A valid date in the spellings both engines read: ISO, padded, single-digit month/day."""
    return rng.choice([day.isoformat(), f" {day.isoformat()} ", f"{day.year}-{day.month}-{day.day}", day.isoformat()])


def orders_rows(rng: random.Random, orders: int) -> list[dict[str, Any]]:
    """Orders with late versions, exact duplicates, null and blank keys' neighbours, dirty statuses."""
    rows: list[dict[str, Any]] = []
    for order_id in range(1, orders + 1):
        day = dt.date(2026, 11, 1) + dt.timedelta(days=rng.randrange(20))
        created = dt.datetime.combine(day, dt.time(rng.randrange(24), rng.randrange(60), rng.randrange(60)))
        base = {
            "order_id": None if order_id % 97 == 0 else _number(rng, order_id),
            "customer_id": None if order_id % 61 == 0 else _number(rng, rng.randint(1, 400)),
            "product_id": None if order_id % 43 == 0 else _number(rng, rng.randint(1, 50)),
            "quantity": _number(rng, rng.randint(1, 9)),
            "unit_price": rng.choice([f"{rng.uniform(0.5, 400):.2f}", f" {rng.uniform(0.5, 40):.3f}", "0.10"]),
            "status": rng.choice([None, "", "   ", _spelled(rng, rng.choice(STATUSES[:2]))]),
            "order_date": _date(rng, day),
            "updated_at": rng.choice(
                [created.isoformat(sep=" "), created.isoformat(), f" {created.isoformat(sep=' ')}"]
            ),
        }
        rows.append(base)
        for late in range(rng.choice([0, 0, 0, 1, 2])):  # later versions, each strictly newer
            created += dt.timedelta(hours=rng.randint(1, 30), seconds=rng.randint(1, 59))
            status = _spelled(rng, STATUSES[2 + late])
            rows.append({**rows[-1], "status": status, "updated_at": created.isoformat(sep=" ")})
        if rng.random() < 0.03:
            rows.append(dict(rows[-1]))  # the source delivered the same version twice
    rng.shuffle(rows)
    return rows


def customers_rows(rng: random.Random, customers: int) -> list[dict[str, Any]]:
    """Customers with padded, mixed-case and non-ASCII e-mails, blank countries, repeats and null ids."""
    rows: list[dict[str, Any]] = []
    for customer_id in range(1, customers + 1):
        email = rng.choice(
            [f"customer{customer_id}@example.com", f"jürgen.{customer_id}@Straße.de", f"é{customer_id}@x.fr"]
        )
        row = {
            "customer_id": None if customer_id % 89 == 0 else _number(rng, customer_id),
            "email": rng.choice([email, f"  {email.upper()} ", email.capitalize(), None]),
            "country": rng.choice(["de", " FR", "Nl ", "us", "", "  ", None]),
            "signup_date": rng.choice([None, _date(rng, dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(900)))]),
        }
        rows.append(row)
        if customer_id % 23 == 0:
            rows.append(dict(row))  # the same row delivered twice
    rng.shuffle(rows)
    return rows


@dataclass(frozen=True)
class Dataset:
    """A bronze dataset's generator and how each column lands: as text (a file source) or typed (SQL)."""

    rows: Callable[[random.Random, int], list[dict[str, Any]]]
    size: int
    typed: dict[str, str] = field(default_factory=dict)  # column → SQL type when landed typed


DATASETS = {
    "orders": Dataset(
        orders_rows,
        2500,
        {
            "order_id": "bigint",
            "customer_id": "bigint",
            "product_id": "bigint",
            "quantity": "bigint",
            "unit_price": "double",
        },
    ),
    "customers": Dataset(customers_rows, 1200, {"customer_id": "bigint"}),
}

# Values no engine can type: each alone in an otherwise clean copy, both engines must agree (raise or not).
BAD_VALUES = {
    "orders": {
        "order_id": ["abc", "", "12.5"],
        "quantity": ["two", "1e400"],
        "unit_price": ["12,50", "n/a"],
        "order_date": ["2026-02-30", "20261120", "2026/11/20", ""],
        "updated_at": ["yesterday", "2026-11-20 25:00:00"],
    },
    "customers": {
        "customer_id": ["x1", " "],
        "signup_date": ["soon", "2026-13-01", "01.02.2026"],
    },
}


def fixture(name: str, rows: list[dict[str, Any]], typed: bool) -> Fixture:
    columns = list(rows[0])
    types = {c: (DATASETS[name].typed.get(c, "string") if typed else "string") for c in columns}
    if typed:  # what a SQL extract lands: numbers typed, text as it was
        rows = [{c: _typed(v, types[c]) for c, v in row.items()} for row in rows]
    return Fixture(columns, types, rows, f"generated:{name}", declared=columns)


def _typed(value: Any, sql_type: str) -> Any:
    if value is None or sql_type == "string":
        return value
    return float(value) if sql_type == "double" else int(str(value).strip())


# --------------------------------------------------------------------------- one notebook, one engine


@dataclass
class Outcome:
    """What a notebook did with a dataset: its output (canonical types, rows) or the error it raised."""

    types: dict[str, str] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""


def run(engine: str, notebook: Path, sources: dict[str, Fixture], label: str) -> Outcome:
    case = ResolvedCase(
        pipeline="fidelity",
        notebook=notebook.stem,
        notebook_path=str(notebook.relative_to(NOTEBOOKS_DIR.parents[1])),
        name=label,
        origin="tests/unit/silver/test_notebook_fidelity.py",
        widgets={"ds": DS},
        outputs=[OUTPUT],
        sources=sources,
    )
    with tempfile.TemporaryDirectory(prefix=f"medallion-fidelity-{engine}-") as folder:
        scratch = Path(folder)
        try:
            if engine == "spark":
                with case_outputs(spark_session(), case, notebook, schema="fidelity", scratch_dir=scratch) as read:
                    types, rows = read(OUTPUT)
            else:
                with (
                    sqlframe_session(scratch / "lakehouse.duckdb") as (spark, builtins_),
                    case_outputs(
                        spark, case, notebook, schema="fidelity", scratch_dir=scratch, notebook_builtins=builtins_
                    ) as read,
                ):
                    types, rows = read(OUTPUT)
        except NotebookRaised as raised:
            return Outcome(error=raised.summary)
    return Outcome({c: canonical_type(t) for c, t in types.items()}, rows)


def divergence(spark: Outcome, local: Outcome) -> list[str]:
    """Spark's outcome → the emulator's, as diff lines (empty when they agree)."""
    if spark.error or local.error:
        if spark.error and local.error:
            return []
        said = [o.error or f"{len(o.rows)} row(s)" for o in (spark, local)]
        return [f"Spark: {said[0]} → emulator: {said[1]}"]
    lines = []
    if list(spark.types.items()) != list(local.types.items()):
        lines.append(f"schema: {spark.types} → {local.types}")
    columns = list(spark.types)
    expected = Fixture(columns, spark.types, [{c: json_value(r[c]) for c in columns} for r in spark.rows], "spark")
    return lines + compare_table(OUTPUT, expected, columns, columns[:1], local.types, local.rows)


def bronze(notebook: Path, make: Callable[[str], list[dict[str, Any]]], typed: bool) -> dict[str, Fixture]:
    return {name: fixture(name, make(name), typed) for name in datasets_read(notebook.read_text(encoding="utf-8"))}


NOTEBOOKS = pipeline_notebooks()


def _ids(path: Path) -> str:
    return path.relative_to(NOTEBOOKS_DIR).as_posix()


def test_every_pipeline_notebook_reads_generated_data() -> None:
    assert NOTEBOOKS and all("_medallion" not in nb.parts for nb in NOTEBOOKS)
    for notebook in NOTEBOOKS:
        missing = [d for d in datasets_read(notebook.read_text(encoding="utf-8")) if d not in DATASETS]
        assert not missing, f"{_ids(notebook)} reads {missing}: add a generator to DATASETS in this file"


@pytest.mark.parametrize("typed", [False, True], ids=["landed-as-text", "landed-typed"])
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=_ids)
def test_spark_and_the_emulator_write_the_same_rows(notebook: Path, typed: bool) -> None:
    def make(name: str) -> list[dict[str, Any]]:
        return DATASETS[name].rows(random.Random(f"{name}-{DS}"), DATASETS[name].size)

    sources = bronze(notebook, make, typed)
    spark, local = run("spark", notebook, sources, "dirty"), run("local", notebook, sources, "dirty")
    assert not spark.error, f"{_ids(notebook)} raised on Spark: {spark.error}"
    assert len(spark.rows) > 300, "the generated data should keep most rows"
    diff = divergence(spark, local)
    assert not diff, f"{_ids(notebook)}: Spark → emulator\n" + "\n".join(diff[:40])


def bad_value_cases() -> list[Any]:
    params = []
    for notebook in NOTEBOOKS:
        for name in datasets_read(notebook.read_text(encoding="utf-8")):
            for column, values in BAD_VALUES.get(name, {}).items():
                params += [
                    pytest.param(notebook, name, column, v, id=f"{_ids(notebook)}-{column}={v!r}") for v in values
                ]
    return params


@pytest.mark.parametrize(("notebook", "name", "column", "value"), bad_value_cases())
def test_a_value_neither_engine_types_gets_the_same_answer(notebook: Path, name: str, column: str, value: str) -> None:
    def make(dataset: str) -> list[dict[str, Any]]:
        rows = DATASETS[dataset].rows(random.Random(f"{dataset}-small"), 30)
        if dataset == name:
            rows = [{**rows[0], column: value}, *rows[1:]]
        return rows

    sources = bronze(notebook, make, typed=False)
    diff = divergence(run("spark", notebook, sources, "bad"), run("local", notebook, sources, "bad"))
    assert not diff, f"{_ids(notebook)} with {name}.{column} = {value!r}: Spark → emulator\n" + "\n".join(diff[:20])
