"""E-mail: text + HTML alternatives through the SMTP provider's hook (the fallback when Slack fails)."""

from __future__ import annotations

from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from medallion import connections
from medallion.alerts.channels.base import ChannelBase

if TYPE_CHECKING:
    from medallion.alerts.message import Alert
    from medallion.alerts.state import S3AlertState
    from medallion.spec.models import PipelineSpec


def send_email(alert: Alert, recipients: list[str], conn_id: str = connections.SMTP) -> None:
    """Send a text + HTML e-mail through the SMTP provider's hook."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id=conn_id) as hook:
        msg = EmailMessage()
        msg["Subject"] = alert.email_subject()
        msg["From"] = hook.from_email or "medallion@localhost"
        msg["To"] = ", ".join(recipients)
        msg.set_content(alert.text())
        msg.add_alternative(alert.email_html(), subtype="html")
        # the hook's send_email_smtp builds an HTML-only message; we need text + HTML alternatives,
        # so we send through the client the hook opened and logged in (retries, TLS, auth are its).
        hook._smtp_client.send_message(msg)


class EmailChannel(ChannelBase):
    """``alerts.emails`` of the spec, through the ``smtp_alerts`` connection."""

    name = "email"
    default_conn_id = connections.SMTP

    def route(self, spec: PipelineSpec, alert: Alert) -> list[str] | None:
        return list(spec.alerts.emails) or None

    def send(
        self,
        alert: Alert,
        target: Any,
        *,
        thread_ts: str | None = None,
        repeat: bool = False,
        state: S3AlertState | None = None,
    ) -> str | None:
        send_email(alert, list(target), self.conn_id or connections.SMTP)
        return None
