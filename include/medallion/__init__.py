"""medallion: a YAML-driven bronze/silver/gold pipeline factory for Apache Airflow 3."""

__version__ = "0.1.0"
