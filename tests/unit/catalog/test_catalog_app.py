"""The catalog app through FastAPI's TestClient with Airflow's real auth dependency (simple auth manager,
JWTs it signs) and real runs in Airflow's database (``dag.test()`` of DAGs named like the example specs,
whose tasks succeed or fail as a run's layers would). The lake is not running here: pages say so."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lakehouse_state import forget_earlier_runs

ROOT = Path(__file__).resolve().parents[3]
EVIL = "<script>alert('pwned')</script><img src=x onerror=alert(1)>"


def _stub_run(dag_id: str, fail_layer: str | None) -> None:
    """One real run of ``dag_id`` with a bronze, silver and gold gate task (one layer failing)."""
    from airflow.sdk import DAG, task

    with DAG(dag_id, schedule=None, start_date=dt.datetime(2026, 11, 1, tzinfo=dt.UTC)) as dag:
        gates = []
        for layer in ("bronze", "silver", "gold"):

            @task(task_id=f"{layer}_gate")
            def gate(failing: bool = layer == fail_layer) -> None:
                if failing:
                    raise ValueError("gate failed")

            gates.append(gate())
        gates[0] >> gates[1] >> gates[2]
    # a date no other test runs: the session's Airflow database also holds the example's real runs
    dag.test(logical_date=dt.datetime(2031, 11, 20, tzinfo=dt.UTC))


@pytest.fixture(scope="module")
def runs() -> None:
    from airflow.api.common.delete_dag import delete_dag
    from airflow.exceptions import DagNotFound

    from medallion.settings import load_settings

    # earlier tests of the session ran and published the real pipelines: this module's runs are the only ones
    forget_earlier_runs(load_settings().connection("lakehouse")["host"])
    for dag_id in ("sales_orders", "marketing_customer_segments"):
        with contextlib.suppress(DagNotFound):
            delete_dag(dag_id)
    _stub_run("sales_orders", fail_layer="silver")
    _stub_run("marketing_customer_segments", fail_layer=None)


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "dag_configs"
    shutil.copytree(ROOT / "dag_configs", target)
    orders = target / "sales/orders.yaml"
    text = orders.read_text().replace("description: >-\n", f"description: >-\n  {EVIL}\n", 1)
    orders.write_text(text)
    return target


@pytest.fixture
def client(specs: Path, runs: None) -> Iterator[TestClient]:
    from airflow.api_fastapi.app import init_auth_manager

    from medallion.catalog.app import create_app

    init_auth_manager()
    with TestClient(create_app(specs), root_path="/catalog") as c:
        yield c


def _token(role: str = "admin") -> str:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="ops", role=role))


ROUTES = ["/", "/products/sales_orders", "/products/sales_orders/reports/silver/2026-11-20", "/api/products",
          "/api/products/sales_orders", "/api/products?q=email"]  # fmt: skip


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_refuses_unauthenticated_requests(client: TestClient, route: str) -> None:
    assert client.get(route).status_code == 401
    assert client.get(route, headers={"Authorization": "Bearer not-a-jwt"}).status_code == 403
    assert client.get(route, cookies={"_token": "forged"}).status_code == 403
    body = client.get(route).text
    assert "sales_orders" not in body and "Sales Data Team" not in body


def test_the_ui_cookie_and_a_bearer_token_are_accepted(client: TestClient) -> None:
    assert client.get("/api/products", headers={"Authorization": f"Bearer {_token()}"}).status_code == 200
    assert client.get("/", cookies={"_token": _token("viewer")}).status_code == 200


def test_home_lists_domains_products_owner_tier_freshness_layers_and_alerts(client: TestClient) -> None:
    auth = {"Authorization": f"Bearer {_token()}"}
    data = client.get("/api/products", headers=auth).json()
    assert set(data["domains"]) == {"sales", "marketing"}
    orders = data["domains"]["sales"][0]
    assert orders["id"] == "sales_orders" and orders["owners"] == ["Sales Data Team"] and orders["tier"] == 1
    assert orders["layers"] == {"bronze": "success", "silver": "failed", "gold": "failed"}  # upstream_failed
    assert orders["open_alerts"] == ["silver_gate"]
    assert orders["last_run"]["logical_date"] == "2031-11-20"
    assert orders["freshness"]["sla_hours"] == 26, orders["freshness"]
    assert orders["freshness"]["status"] == "red", orders["freshness"]  # never succeeded
    segments = data["domains"]["marketing"][0]
    assert segments["open_alerts"] == [] and set(segments["layers"].values()) == {"success"}
    html = client.get("/", headers=auth)
    assert 'href="/catalog/products/sales_orders"' in html.text
    assert float(html.headers["Server-Timing"].split("dur=")[1]) > 0  # the bench reads it (speed is measured there)


def test_search_by_column_owner_tag_and_table(client: TestClient) -> None:
    auth = {"Authorization": f"Bearer {_token()}"}

    def found(q: str) -> list[str]:
        data = client.get("/api/products", params={"q": q}, headers=auth).json()
        return sorted(p["id"] for ps in data["domains"].values() for p in ps)

    assert found("signup_date") == ["sales_orders"]  # a contract column
    assert found("silver.orders") == ["sales_orders"]
    assert found("sales data team") == ["sales_orders"]
    assert "marketing_customer_segments" in found("marketing")
    assert found("no_such_thing_anywhere") == []
    page = client.get("/", params={"q": "signup_date"}, headers=auth).text
    assert "column signup_date" in page and "marketing_customer_segments" not in page


def test_product_page_shows_contract_keys_pii_flags_grants_and_links_but_no_values(client: TestClient) -> None:
    auth = {"Authorization": f"Bearer {_token()}"}
    data = client.get("/api/products/sales_orders", headers=auth).json()
    customers = next(t for t in data["tables"]["silver"] if t["name"] == "silver.customers")
    email = next(c for c in customers["contract"]["columns"] if c["name"] == "email")
    assert email == {
        "name": "email",
        "type": "string",
        "nullable": False,
        "key": False,
        "pii": True,
        "description": None,
    }
    assert customers["contract"]["primary_key"] == ["customer_id"]
    assert customers["grants"] == {"crm-team": ["SELECT"], "data-platform": ["SELECT"]}
    assert data["tables"]["bronze"][0]["name"] == "orders"
    assert data["graph"]["downstream"] == ["marketing_customer_segments"]
    assert data["file"] == "orders.yaml"  # no server paths outside the project
    assert data["links"]["dag"] == "/dags/sales_orders" and data["links"]["runs"] == "/dags/sales_orders/runs"
    latest = data["runs"][0]  # newest first; earlier tests of this session may have run the example too
    assert latest["logical_date"] == "2031-11-20"
    assert latest["layers"] == {"bronze": "success", "silver": "failed", "gold": "failed"}
    page = client.get("/products/sales_orders", headers=auth).text
    assert '<span class="pii">PII</span>' in page and "crm-team: SELECT" in page
    assert 'href="/catalog/products/marketing_customer_segments"' in page  # the lineage graph's node
    assert "ana@example.com" not in page.lower()  # the notebook test fixtures' e-mails are spec values too
    assert "@" not in json.dumps(data["tables"])  # no value of any column, PII or not


def test_a_spec_description_with_html_renders_inert(client: TestClient) -> None:
    auth = {"Authorization": f"Bearer {_token()}"}
    for route in ("/", "/products/sales_orders"):
        page = client.get(route, headers=auth).text
        assert "<script>" not in page and "<img src=x" not in page
        assert "&lt;script&gt;" in page


def test_unknown_products_and_reports_are_404_and_secrets_never_appear(client: TestClient) -> None:
    auth = {"Authorization": f"Bearer {_token()}"}
    assert client.get("/api/products/nope", headers=auth).status_code == 404
    assert client.get("/products/sales_orders/reports/silver/..%2f..%2fetc", headers=auth).status_code == 404
    assert client.get("/products/sales_orders/reports/platinum/2026-11-20", headers=auth).status_code == 404
    everything = client.get("/api/products/sales_orders", headers=auth).text + client.get("/", headers=auth).text
    for secret in ("aws_secret_access_key", "password", "token", "testing"):
        assert secret not in everything.lower()
