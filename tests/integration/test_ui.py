"""`medallion ui`: Airflow's components on 127.0.0.1 with the factory's DAGs, stopped cleanly.

One UI process serves the whole module (it takes about a minute to start), after one real run of
the example (``medallion run``) so the catalog has runs and gate reports to show: the REST checks,
then headless Chromium (Debian's chromium + chromium-driver, driven by selenium) logs in like
an operator, opens the example DAG's graph and docs and the cross-domain asset graph, then the data
catalog from the nav bar (search a column, open ``sales_orders``, follow a gate report link), and
saves screenshots under ``test-artifacts/ui/``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from medallion.local.service import free_port
from medallion.local.ui import PASSWORD, USER, wait_healthy

pytestmark = pytest.mark.slow

ARTIFACTS = Path(os.environ.get("MEDALLION_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def api(port: int, path: str, token: str | None = None, body: dict | None = None) -> dict:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode() if body else None,
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def listening_ports(pid_group: int) -> list[str]:
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    return [line.split()[3] for line in out.splitlines() if "airflow" in line or f"pid={pid_group}" in line]


@dataclass
class RunningUI:
    port: int
    proc: subprocess.Popen
    token: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def example_run() -> None:
    """The example pipeline for one date, through real Airflow on the session's own local runtime."""
    medallion = str(Path(sys.executable).with_name("medallion"))
    done = subprocess.run([medallion, "run", "sales_orders", "--date", "2026-11-20"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.fixture(scope="module")
def ui(example_run: None) -> Iterator[RunningUI]:
    port = free_port()
    started = datetime.now(UTC).isoformat()
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("medallion")), "ui", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert wait_healthy(port, timeout=240), "api-server did not come up"
        token = api(port, "/auth/token", body={"username": USER, "password": PASSWORD})["access_token"]
        # parsed by this UI's dag-processor (the example run registered them first, from dag.test())
        deadline, parsed = time.monotonic() + 180, set()
        while time.monotonic() < deadline and not {"sales_orders", "marketing_customer_segments"} <= parsed:
            dags = api(port, "/api/v2/dags", token)["dags"]
            parsed = {d["dag_id"] for d in dags if (d.get("last_parsed_time") or "") > started}
            time.sleep(2)
        yield RunningUI(port, proc, token)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        output, _ = proc.communicate(timeout=90)
    assert "stopped" in output
    assert not wait_healthy(port, timeout=2)


def test_ui_serves_the_factory_dags_on_loopback_only(ui: RunningUI) -> None:
    dags = {d["dag_id"]: d for d in api(ui.port, "/api/v2/dags", ui.token)["dags"]}
    assert {"sales_orders", "marketing_customer_segments"} <= set(dags)
    assert "domain:sales" in {t["name"] for t in dags["sales_orders"]["tags"]}
    details = api(ui.port, "/api/v2/dags/sales_orders/details", ui.token)
    assert "## Bronze (S3)" in details["doc_md"] and "## Contract" in details["doc_md"]
    pools = {p["name"]: p["slots"] for p in api(ui.port, "/api/v2/pools", ui.token)["pools"]}
    assert pools.get("lakehouse_writers") == 1
    exposed = [a for a in listening_ports(ui.proc.pid) if not a.startswith(("127.0.0.1:", "[::1]:"))]
    assert exposed == [], f"listening beyond loopback: {exposed}"


def test_cross_domain_assets_are_wired(ui: RunningUI) -> None:
    """The marketing pipeline is scheduled on sales gold: the asset knows its consumer DAG."""
    assets = {a["name"]: a for a in api(ui.port, "/api/v2/assets", ui.token)["assets"]}
    gold = assets["sales_orders.gold"]
    assert gold["uri"].startswith("medallion://")
    assert [d["dag_id"] for d in gold["scheduled_dags"]] == ["marketing_customer_segments"]
    assert any(t["dag_id"] == "sales_orders" for t in gold["producing_tasks"])


def test_the_catalog_on_the_api_server_requires_an_airflow_user(ui: RunningUI) -> None:
    """The plugin's app mounted by the real api-server: no token, no catalog; Airflow's token, the products."""
    import urllib.error

    for path in ("/catalog/", "/catalog/api/products", "/catalog/api/products/sales_orders"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{ui.url}{path}", timeout=10)
        assert refused.value.code == 401, path
    products = api(ui.port, "/catalog/api/products", ui.token)
    assert {p["id"] for ps in products["domains"].values() for p in ps} >= {"sales_orders"}
    page = api(ui.port, "/catalog/api/products/sales_orders", ui.token)
    assert page["runs"][0]["logical_date"] == "2026-11-20"
    assert all(page["runs"][0]["gates"][layer]["status"] == "passed" for layer in ("bronze", "silver", "gold"))
    views = {
        v["name"]: v
        for plugin in api(ui.port, "/api/v2/plugins", ui.token)["plugins"]
        for v in plugin["external_views"]
    }
    assert views["Catalog"]["href"] == "/catalog/"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("Debian chromium + chromium-driver are not installed (make test installs them when root)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="medallion-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # The machine's network is closed: without the background-networking flags Chromium
    # keeps trying to reach Google's hosts.
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1600,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(driver: object, name: str) -> Path:
    target = ARTIFACTS / "ui" / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(target))
    return target


def node_labels(driver: object) -> list[str]:
    from selenium.webdriver.common.by import By

    return [n.text.split("\n")[0] for n in driver.find_elements(By.CSS_SELECTOR, ".react-flow__node")]


def test_operator_sees_layers_docs_and_asset_graph_in_the_browser(ui: RunningUI, browser: object) -> None:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    # the single-page app redirects and re-renders while loading: a lookup can race a navigation
    transient = (NoSuchElementException, StaleElementReferenceException, WebDriverException)
    wait = WebDriverWait(browser, 60, ignored_exceptions=transient)
    browser.get(ui.url + "/auth/login?next=%2F")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "input[name=username]"))).send_keys(USER)
    browser.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(ec.url_to_be(ui.url + "/"))

    browser.get(ui.url + "/dags/sales_orders")
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "button[aria-label^='Show Graph']"))).click()
    wait.until(lambda d: "gold_gate" in node_labels(d))
    layers = ["bronze", "bronze_gate", "silver", "silver_gate", "gold", "gold_gate"]
    assert [label for label in node_labels(browser) if label in layers] == layers
    assert {"silver_publish", "gold_publish"} <= set(node_labels(browser))  # the steps after the gates
    assert sum("Task Group" in n.text for n in browser.find_elements(By.CSS_SELECTOR, ".react-flow__node")) == 3
    screenshot(browser, "sales_orders_graph")

    browser.find_element(By.CSS_SELECTOR, "button[aria-label='Dag Docs']").click()
    dialogs = (By.CSS_SELECTOR, "[role=dialog]")
    docs = wait.until(lambda d: next((x.text for x in d.find_elements(*dialogs) if "Bronze (S3)" in x.text), ""))
    assert "Owners" in docs and "Sales Data Team" in docs and "Silver (Databricks)" in docs and "Runbook" in docs
    assert "## " not in docs, "the docs should render as Markdown, not raw text"
    screenshot(browser, "sales_orders_docs")

    gold_id = api(ui.port, "/api/v2/assets?name_pattern=sales_orders.gold", ui.token)["assets"][0]["id"]
    browser.get(f"{ui.url}/assets/{gold_id}")
    wait.until(lambda d: "marketing_customer_segments" in node_labels(d))
    assert {"sales_orders", "sales_orders.gold", "marketing_customer_segments"} <= set(node_labels(browser))
    shot = screenshot(browser, "sales_orders_gold_asset_graph")
    assert shot.stat().st_size > 10_000


def _open_catalog_from_the_nav(driver: object, wait: object, url: str) -> None:
    """The catalog's entry in the nav bar (an external view): the UI shows its pages in a frame."""
    from selenium.webdriver.common.by import By

    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "a[href$='/plugin/catalog']"))
    entry = driver.find_element(By.CSS_SELECTOR, "a[href$='/plugin/catalog']")
    assert entry.text.strip() == "Catalog"
    entry.click()
    wait.until(lambda d: "/plugin/catalog" in d.current_url and d.find_elements(By.CSS_SELECTOR, "iframe"))
    driver.switch_to.frame(driver.find_element(By.CSS_SELECTOR, "iframe"))


def test_operator_finds_a_data_product_its_contract_and_gate_reports_in_the_catalog(
    ui: RunningUI, browser: object
) -> None:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    transient = (NoSuchElementException, StaleElementReferenceException, WebDriverException)
    wait = WebDriverWait(browser, 60, ignored_exceptions=transient)
    browser.switch_to.default_content()
    browser.get(ui.url + "/")
    if "/auth/login" in browser.current_url:  # a fresh browser when this test runs alone
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "input[name=username]"))).send_keys(USER)
        browser.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(ec.url_to_be(ui.url + "/"))

    _open_catalog_from_the_nav(browser, wait, ui.url)
    products = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "a.product"))
    assert {"sales_orders", "marketing_customer_segments"} <= {a.text for a in products}
    row = browser.find_element(By.CSS_SELECTOR, "tr[data-product=sales_orders]").text
    assert "Sales Data Team" in row and "2026-11-20" in row
    screenshot(browser, "catalog_home")

    search = browser.find_element(By.CSS_SELECTOR, "input[name=q]")
    search.send_keys("signup_date")
    search.submit()
    wait.until(lambda d: "column signup_date" in d.find_element(By.TAG_NAME, "body").text)
    assert [a.text for a in browser.find_elements(By.CSS_SELECTOR, "a.product")] == ["sales_orders"]
    screenshot(browser, "catalog_search_column")

    browser.find_element(By.LINK_TEXT, "sales_orders").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "table.contract"))
    page = browser.find_element(By.TAG_NAME, "body").text
    assert "Sales Data Team" in page and "PII" in page and "crm-team: SELECT" in page
    assert "marketing_customer_segments" in page  # downstream in the lineage graph
    reports = browser.find_elements(By.CSS_SELECTOR, "a.report")
    assert reports, "the run's gate results should link their reports"
    browser.switch_to.default_content()
    shot = screenshot(browser, "catalog_sales_orders")
    assert shot.stat().st_size > 10_000
    browser.switch_to.frame(browser.find_element(By.CSS_SELECTOR, "iframe"))

    browser.find_elements(By.CSS_SELECTOR, "a.report")[0].click()
    wait.until(lambda d: "gate" in d.find_element(By.TAG_NAME, "h1").text)
    heading = browser.find_element(By.TAG_NAME, "h1").text
    assert heading.startswith("sales_orders · ") and "2026-11-20" in heading
    screenshot(browser, "catalog_gate_report")
    browser.switch_to.default_content()
