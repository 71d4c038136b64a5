"""Airflow DAG loader: one DAG per YAML spec under dag_configs/ (built by the medallion factory).

Airflow's DAG discovery looks for the words "airflow" and "dag" in this file.
``MEDALLION_CONFIG_DIR`` points the loader at another folder of specs (tests, previews).
"""

import os
from pathlib import Path

from medallion.build.loader import load_dags

CONFIG_DIR = Path(os.environ.get("MEDALLION_CONFIG_DIR") or Path(__file__).resolve().parent.parent / "dag_configs")

globals().update(load_dags(CONFIG_DIR))
