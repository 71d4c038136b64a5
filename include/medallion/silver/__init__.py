"""Silver: Databricks notebooks run as one job per pipeline run on a shared job cluster."""
