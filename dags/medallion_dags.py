"""Airflow DAG loader: one DAG per YAML spec under dag_configs/ (built by the medallion factory).

Airflow's DAG discovery looks for the words "airflow" and "dag" in this file.
``MEDALLION_CONFIG_DIR`` points the loader at another folder of specs (tests, previews).
"""

from medallion import paths
from medallion.factory.loader import load_dags

globals().update(load_dags(paths.config_dir()))
