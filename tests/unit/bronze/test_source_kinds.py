"""Every registered source kind is complete: a spec model, an operator, docs and tests.

The spec registry (``spec/sources``) and the operator registry (``bronze/sources``) must name the
same kinds; a kind is documented in the README's "Extending medallion" table and the spec
reference, and some test builds its operator.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from medallion.bronze.operator import LandSourceOperator
from medallion.bronze.sources import SOURCE_KINDS, source_kind
from medallion.factory.dag import land_operator
from medallion.factory.docs import render_dag_doc
from medallion.spec.load import SpecLoader
from medallion.spec.models import PipelineSpec
from medallion.spec.sources import SOURCE_MODELS, Source, kind_of

ROOT = Path(__file__).resolve().parents[3]

#: One valid spec entry per kind: a kind without one here fails ``test_every_kind_builds_its_operator``.
SAMPLES = {
    "sql": {"kind": "sql", "name": "orders", "conn_id": "src", "query": "SELECT 1", "incremental": {"column": "id"}},
    "http": {"kind": "http", "name": "orders", "conn_id": "api", "endpoint": "/orders", "params": {"day": "{{ ds }}"}},
    "file": {"kind": "file", "name": "orders", "path": "/data/in", "format": "csv", "pattern": "*.csv"},
}


def test_spec_and_operator_registries_name_the_same_kinds() -> None:
    assert sorted(SOURCE_KINDS) == sorted(SOURCE_MODELS)
    for kind, entry in SOURCE_KINDS.items():
        assert entry.model is SOURCE_MODELS[kind] and kind_of(entry.model) == kind
        assert issubclass(entry.operator, LandSourceOperator) and entry.operator.kind == kind


def test_an_unknown_kind_is_an_error_naming_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"source kind 'ftp' has no operator.*known: file, http, sql"):
        source_kind("ftp")


@pytest.fixture(scope="module")
def example_spec() -> PipelineSpec:
    return SpecLoader(ROOT / "dag_configs").load(ROOT / "dag_configs" / "sales" / "orders.yaml")


@pytest.mark.parametrize("kind", sorted(SOURCE_KINDS))
def test_every_kind_builds_its_operator(kind: str, example_spec: PipelineSpec) -> None:
    assert kind in SAMPLES, f"add a valid `{kind}` entry to SAMPLES"
    src = SOURCE_MODELS[kind].model_validate(SAMPLES[kind])
    spec = example_spec.model_copy(update={"bronze": example_spec.bronze.model_copy(update={"sources": [src]})})
    task = land_operator(spec, src)
    assert type(task) is SOURCE_KINDS[kind].operator and task.task_id == "extract_orders"
    accepted = set(inspect.signature(type(task).__init__).parameters) | set(
        inspect.signature(LandSourceOperator.__init__).parameters
    )
    assert set(SOURCE_KINDS[kind].options(src)) <= accepted
    assert f"- `orders`: {SOURCE_KINDS[kind].origin(src)} → `s3://" in render_dag_doc(spec)


def test_the_spec_union_is_the_registry() -> None:
    from pydantic import TypeAdapter

    adapter = TypeAdapter(Source)
    for kind, sample in SAMPLES.items():
        assert type(adapter.validate_python(sample)) is SOURCE_MODELS[kind]


@pytest.mark.parametrize("kind", sorted(SOURCE_KINDS))
def test_every_kind_is_documented_and_tested(kind: str) -> None:
    entry = SOURCE_KINDS[kind]
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Extending medallion") :]
    assert f"| `{kind}` |" in section, f"README 'Extending medallion': add a row for source kind `{kind}`"
    reference = (ROOT / "docs" / "spec-reference.md").read_text()
    assert f"## {entry.model.__name__}" in reference, "run `make schema`"
    users = [
        p.name
        for p in (ROOT / "tests").rglob("test_*.py")
        if p.name != Path(__file__).name and entry.operator.__name__ in p.read_text()
    ]
    assert users, f"no test builds {entry.operator.__name__}: add one (a real extract through the operator)"
