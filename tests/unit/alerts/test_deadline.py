"""Missed-deadline alerts: the spec's freshness SLA becomes an Airflow deadline whose callback, run the way
Airflow 3 runs it (serialised with the DAG, stored with the deadline, imported by path in the executor's
callback process), alerts the owners without reading any spec file.

Delivery goes through the real Slack and SMTP hooks to the local capture servers.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest

from medallion.local.slack_server import SlackServer, read_messages
from medallion.local.smtp_server import SmtpServer, read_mail

pytestmark = pytest.mark.integration  # starts the Slack and SMTP capture servers

CONTEXT = {  # what Airflow's Deadline.handle_miss adds as the callback's context
    "dag_run": {"run_id": "scheduled__2026-11-20", "logical_date": "2026-11-20T00:00:00+00:00", "state": "running"},
    "deadline": {"id": "0193a1b2-0000-7000-8000-000000000001", "deadline_time": "2026-11-21T02:00:00+00:00"},
}


def stored_callback(dag: object) -> dict:
    """The callback as the executor gets it: the DAG serialised to JSON (the DAG processor), its deadline
    decoded (the scheduler, creating the run's deadline), the callback's data in the database's JSON column."""
    from airflow.serialization.decoders import decode_deadline_alert
    from airflow.serialization.serialized_objects import DagSerialization

    serialized = json.loads(json.dumps(DagSerialization.to_dict(dag)))
    [entry] = serialized["dag"]["deadline"]
    return json.loads(json.dumps(decode_deadline_alert(entry).callback.serialize()))


def test_missed_deadline_alerts_owners_through_airflows_callback_path_without_reading_specs(
    configs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import structlog
    from airflow.sdk.definitions.deadline import DeadlineAlert
    from airflow.sdk.execution_time.callback_supervisor import execute_callback

    from medallion.factory.loader import load_dags
    from medallion.settings import load_settings
    from medallion.spec import project

    monkeypatch.setenv("MEDALLION_CONFIG_DIR", str(configs))
    dag = load_dags(configs)["sales_orders"]
    [alert] = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    assert isinstance(alert, DeadlineAlert) and alert.interval.total_seconds() == 26 * 3600
    callback = stored_callback(dag)
    assert callback["path"] == "medallion.alerts.deadline.notify_missed_deadline"
    assert callback["kwargs"]["spec"]["id"] == "sales_orders"

    # by the time the deadline passes, the spec folder is gone and loading a project would fail the test
    shutil.rmtree(configs)
    monkeypatch.setattr(project, "load_project", lambda *a, **k: pytest.fail("the callback loaded the project"))

    settings = load_settings()  # the test overlay of airflow_settings.yaml: the spec's alert connections
    slack_port = urlparse(settings.connection("slack_alerts")["extra"]["base_url"]).port
    slack = SlackServer(port=slack_port, store_dir=tmp_path / "slack").start()
    smtp = SmtpServer(port=settings.connection("smtp_alerts")["port"], store_dir=tmp_path / "mail").start()
    try:
        ok, error = execute_callback(
            callback["path"],
            {**callback["kwargs"], "context": CONTEXT},
            dag_rel_path=Path("medallion_dags.py"),
            bundle_path=None,
            log=structlog.get_logger(),
        )
    finally:
        slack.stop()
        smtp.stop()
    assert ok, error
    text = read_messages(tmp_path / "slack")[-1]["text"]
    assert "Data is late" in text and "sales_orders run scheduled__2026-11-20" in text
    assert "freshness SLA 26 h" in text and "still running" in text
    [mail] = read_mail(tmp_path / "mail")
    assert "sales_orders" in str(mail["Subject"])


def test_a_spec_without_a_freshness_sla_has_no_deadline() -> None:
    from medallion.alerts.deadline import deadline_alert
    from medallion.spec.load import SpecLoader

    root = Path(__file__).resolve().parents[3] / "dag_configs"
    spec = SpecLoader(root).load(root / "sales/orders.yaml")
    assert deadline_alert(spec.model_copy(update={"freshness_sla_hours": None})) is None
    assert deadline_alert(spec).callback.kwargs == {"spec": spec.model_dump(mode="json")}
