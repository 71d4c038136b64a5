"""Access policies as code: ``grants`` merge org → domain → pipeline → contract, and unknown privileges
are errors at their file:line."""

from __future__ import annotations

from pathlib import Path

from medallion.spec.project import load_project


def _specs(root: Path) -> dict[str, object]:
    project = load_project(root, select_gold=None)
    return {item.spec.id: item.spec for item in project.buildable()}, project


def test_grants_merge_defaults_and_a_contract_overrides_per_group(configs: Path) -> None:
    specs, _ = _specs(configs)
    orders = specs["sales_orders"]
    # org default (data-platform) + sales domain default (sales-analysts)
    assert orders.grants_for("silver.orders") == {"data-platform": ("SELECT",), "sales-analysts": ("SELECT",)}
    # the PII table's contract takes the analysts off ([]) and adds the CRM team
    assert orders.grants_for("silver.customers") == {"crm-team": ("SELECT",), "data-platform": ("SELECT",)}
    # another domain gets the org default only
    assert specs["marketing_customer_segments"].grants_for("gold.customer_segments") == {"data-platform": ("SELECT",)}


def test_privileges_are_normalised_and_deduplicated(configs: Path) -> None:
    path = configs / "marketing/customer_segments.yaml"
    path.write_text(path.read_text() + "grants:\n  analysts: [select, Select, modify]\n")
    specs, project = _specs(configs)
    assert not project.report.errors(path.resolve())
    grants = specs["marketing_customer_segments"].grants_for("gold.x")
    assert grants["analysts"] == ("SELECT", "MODIFY")


def test_validate_rejects_an_unknown_privilege_at_its_line(configs: Path) -> None:
    path = configs / "sales/orders.yaml"
    text = path.read_text()
    assert "      crm-team: [SELECT]\n" in text
    path.write_text(text.replace("      crm-team: [SELECT]\n", "      crm-team: [SELEC]\n"))
    line = next(i for i, row in enumerate(path.read_text().splitlines(), 1) if "crm-team" in row)
    _, project = _specs(configs)
    errors = project.report.errors(path.resolve())
    assert [(e.line, e.field) for e in errors] == [(line, "contracts[1].grants.crm-team[0]")]
    assert "did you mean 'SELECT'" in errors[0].hint and "ALL PRIVILEGES" in errors[0].hint
