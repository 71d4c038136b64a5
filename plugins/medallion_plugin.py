"""Registers medallion's operator extra links so the Airflow UI can render them."""

from airflow.plugins_manager import AirflowPlugin

from medallion.links import BronzePartitionLink, QualityReportLink


class MedallionPlugin(AirflowPlugin):
    name = "medallion"
    operator_extra_links = [BronzePartitionLink(), QualityReportLink()]
