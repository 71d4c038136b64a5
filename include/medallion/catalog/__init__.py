"""The data-product catalog served inside the Airflow UI (README: Catalog).

``products`` indexes the specs, ``runs`` reads run state through Airflow's models, ``lake`` reads gate
reports, manifests and published versions, ``pages`` assembles what a page shows and ``app`` is the
FastAPI app the plugin mounts. Nothing here is imported while DAGs are parsed.
"""
