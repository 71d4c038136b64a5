"""medallion: a YAML-driven bronze/silver/gold pipeline factory for Apache Airflow 3."""

from medallion import task_logs

__version__ = "0.1.0"

# before anything imports cosmos, which logs third-party noise at import (DAG parse, tasks, the CLI)
task_logs.install()
