"""The one place that knows every Airflow connection id the factory uses."""

from __future__ import annotations

LAKE_S3 = "aws_lake"
DATABRICKS = "databricks_default"
LAKEHOUSE_SQL = "lakehouse"
SLACK = "slack_alerts"
SMTP = "smtp_alerts"
PAGERDUTY = "pagerduty_alerts"  # named by a spec's alerts.pagerduty_conn_id; local: the capture server

#: Pool that serialises tasks writing the local single-writer DuckDB lakehouse.
LAKEHOUSE_POOL = "lakehouse_writers"
