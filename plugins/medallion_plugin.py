"""Registers medallion's operator extra links and the data catalog (README: Catalog) with Airflow."""

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from medallion.catalog.app import create_app
from medallion.links import BronzePartitionLink, QualityReportLink


def _select_gold(*args: Any, **kwargs: Any) -> Any:
    """Gold tables as cosmos renders them (imported on the catalog's first request, not at plugin load)."""
    from medallion.gold.selection import select_gold

    return select_gold(*args, **kwargs)


class MedallionPlugin(AirflowPlugin):
    name = "medallion"
    operator_extra_links = [BronzePartitionLink(), QualityReportLink()]
    fastapi_apps = [{"app": create_app(select_gold=_select_gold), "url_prefix": "/catalog", "name": "Data catalog"}]
    # An external view with a url_route: the catalog's own pages, in the Airflow UI's frame, from the nav bar
    external_views = [
        {"name": "Catalog", "href": "/catalog/", "url_route": "catalog", "destination": "nav", "category": None}
    ]
