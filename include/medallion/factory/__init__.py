"""Build Airflow DAGs from validated specs (and placeholders for invalid ones)."""
