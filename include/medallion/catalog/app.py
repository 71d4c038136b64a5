"""The catalog's FastAPI app, mounted by the plugin at ``/catalog`` in Airflow's api-server.

Every route depends on Airflow's own authentication (``get_user`` of the api-server: the UI's JWT cookie
or an ``Authorization: Bearer`` token) and shows only the DAGs the auth manager lets the user read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from medallion import connections, paths
from medallion.catalog import pages
from medallion.catalog.lake import Lake
from medallion.catalog.products import LAYERS, CatalogCache, Product
from medallion.catalog.runs import last_runs, silver_job

#: Runs per product on its page.
LAST_RUNS = 5
TEMPLATES = Path(__file__).with_name("templates")
#: Report pages are our own escaped HTML; the policy keeps any script in them from running anyway.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'"


@cache
def _templates() -> Any:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))


async def authenticated_user(request: Request) -> Any:
    """Airflow's user for this request (its auth manager decides); 401/403 otherwise."""
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    credentials = await bearer_scheme(request)
    return await get_user(request, None, credentials)


def readable_dags(user: Any) -> set[str]:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager().get_authorized_dag_ids(user=user, method="GET")


def _session() -> Any:
    from airflow.utils.session import create_session

    with create_session() as session:
        yield session


User = Annotated[Any, Depends(authenticated_user)]
Session = Annotated[Any, Depends(_session)]


def create_app(config_root: Path | None = None, select_gold: Callable[..., Any] | None = None) -> FastAPI:
    """The app; the catalog itself is built on the first request (nothing heavy at import)."""
    app = FastAPI(title="medallion data catalog", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.catalog = CatalogCache(config_root or paths.config_dir(), select_gold)
    app.state.lake = Lake()

    @app.middleware("http")
    async def server_timing(request: Request, call_next: Any) -> Any:
        start = time.perf_counter()
        response = await call_next(request)
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - start) * 1000:.1f}"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.exception_handler(HTTPException)
    async def refused(request: Request, exc: HTTPException) -> Any:
        if request.url.path.startswith(f"{request.scope.get('root_path', '')}/api/"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        login = f"{_airflow_root(request)}/auth/login?next={request.scope.get('root_path', '')}/"
        body = f"<p>{exc.status_code}: log in to Airflow first.</p><p><a target='_top' href='{login}'>Log in</a></p>"
        return HTMLResponse(body, status_code=exc.status_code)

    def visible(request: Request, user: Any) -> dict[str, Product]:
        allowed = readable_dags(user)
        return {pid: p for pid, p in request.app.state.catalog.get().products.items() if pid in allowed}

    def home_data(request: Request, user: Any, session: Any, q: str) -> dict[str, Any]:
        catalog = request.app.state.catalog.get()
        shown = visible(request, user)
        view = type(catalog)(products=shown, invalid=catalog.invalid)
        runs = last_runs(session, sorted(shown), 1)
        return pages.home(view, runs, request.app.state.lake.published(), q)

    def product_data(request: Request, user: Any, session: Any, pid: str) -> dict[str, Any]:
        shown = visible(request, user)
        if pid not in shown:
            raise HTTPException(404, f"no data product {pid!r} you may read")
        product = shown[pid]
        runs = last_runs(session, [pid], LAST_RUNS).get(pid, [])
        base, root = request.scope.get("root_path", ""), _airflow_root(request)
        job = silver_job(session, pid, [r.run_id for r in runs]) if product.spec.silver else None
        links = {
            "dag": f"{root}/dags/{pid}",
            "runs": f"{root}/dags/{pid}/runs",
            "api": f"{base}/api/products/{pid}",
            "databricks_job": _databricks_job_url(job["job_id"]) if job else None,
        }
        return pages.product_page(
            product,
            runs,
            request.app.state.lake,
            report_url=lambda layer, ds: f"{base}/products/{pid}/reports/{layer}/{ds}",
            links=links,
        )

    def render(request: Request, template: str, **context: Any) -> HTMLResponse:
        html = _templates().get_template(template).render(base=request.scope.get("root_path", ""), **context)
        return HTMLResponse(html)

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request, user: User, session: Session, q: Annotated[str, Query(max_length=200)] = "") -> Any:
        return render(request, "home.html", page=home_data(request, user, session, q))

    @app.get("/products/{pid}", response_class=HTMLResponse)
    def product(request: Request, pid: str, user: User, session: Session) -> Any:
        return render(request, "product.html", p=product_data(request, user, session, pid))

    @app.get("/products/{pid}/reports/{layer}/{ds}", response_class=HTMLResponse)
    def report(request: Request, pid: str, layer: str, ds: str, user: User) -> Any:
        """The gate's HTML report, read from the lake through the S3 hook."""
        import datetime as dt

        from medallion import layout

        shown = visible(request, user)
        if pid not in shown or layer not in LAYERS:
            raise HTTPException(404, "no such report")
        try:
            dt.date.fromisoformat(ds)
        except ValueError:
            raise HTTPException(404, "no such report") from None
        spec = shown[pid].spec
        text = request.app.state.lake.read_text(
            spec.lake.bucket, layout.quality_report_key(spec, layer, ds, "report", "html")
        )
        if text is None:
            raise HTTPException(404, f"no {layer} gate report for {pid} on {ds}")
        return HTMLResponse(text, headers={"Content-Security-Policy": REPORT_CSP})

    @app.get("/api/products")
    def api_products(
        request: Request, user: User, session: Session, q: Annotated[str, Query(max_length=200)] = ""
    ) -> Any:
        return home_data(request, user, session, q)

    @app.get("/api/products/{pid}")
    def api_product(request: Request, pid: str, user: User, session: Session) -> Any:
        return product_data(request, user, session, pid)

    return app


def _airflow_root(request: Request) -> str:
    """Airflow's own path prefix (``[api] base_url``'s path): the catalog is mounted right under it."""
    return request.scope.get("root_path", "").rsplit("/", 1)[0]


@cache
def _databricks_base() -> str | None:
    try:
        from airflow.models.connection import Connection

        conn = Connection.get_connection_from_secrets(connections.DATABRICKS)
    except Exception:
        return None
    host = (conn.host or "").rstrip("/")
    if not host:
        return None
    if "://" not in host:
        host = f"{conn.schema or 'https'}://{host}" + (f":{conn.port}" if conn.port else "")
    return host


def _databricks_job_url(job_id: Any) -> str | None:
    base = _databricks_base()
    return f"{base}/#job/{job_id}" if base else None
