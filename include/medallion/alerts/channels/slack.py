"""Slack: a bot token (posts to the spec's channel, threads repeats) or an incoming webhook."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from medallion import connections
from medallion.alerts.channels.base import ChannelBase

if TYPE_CHECKING:
    from medallion.alerts.message import Alert
    from medallion.alerts.state import S3AlertState
    from medallion.spec.models import PipelineSpec


def send_slack(
    alert: Alert, channel: str, conn_id: str = connections.SLACK, thread_ts: str | None = None, *, repeat: bool = False
) -> str | None:
    """Post through the Slack provider's hooks (slack-sdk), retrying 429 (Retry-After) and 5xx.

    The connection type decides the API: ``slack`` (bot token, posts to ``channel``, returns the
    message ts for threading) or ``slackwebhook`` (incoming webhook: its channel is fixed by the
    webhook and Slack returns no ts, so follow-ups cannot be threaded; returns None). ``repeat``
    posts the one-line summary of a repeat (into ``thread_ts``) instead of the whole alert.
    """
    from airflow.sdk import BaseHook
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler

    retry_handlers = [RateLimitErrorRetryHandler(max_retry_count=3), ServerErrorRetryHandler(max_retry_count=2)]
    if BaseHook.get_connection(conn_id).conn_type == "slackwebhook":
        from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

        webhook = SlackWebhookHook(slack_webhook_conn_id=conn_id, retry_handlers=retry_handlers)
        webhook.send(text=alert.text(), blocks=alert.slack_blocks())  # raises on any non-200 answer
        return None
    from airflow.providers.slack.hooks.slack import SlackHook

    hook = SlackHook(slack_conn_id=conn_id, retry_handlers=retry_handlers)
    if repeat:
        response = hook.client.chat_postMessage(channel=channel, text=alert.repeat_text(), thread_ts=thread_ts)
    else:
        response = hook.client.chat_postMessage(
            channel=channel, text=alert.text(), blocks=alert.slack_blocks(), thread_ts=thread_ts
        )
    return str(response["ts"])


class SlackChannel(ChannelBase):
    """``alerts.slack_channel`` of the spec, through the ``slack_alerts`` connection."""

    name = "slack"
    default_conn_id = connections.SLACK
    threads = True

    def route(self, spec: PipelineSpec, alert: Alert) -> str | None:
        return spec.alerts.slack_channel

    def send(
        self,
        alert: Alert,
        target: Any,
        *,
        thread_ts: str | None = None,
        repeat: bool = False,
        state: S3AlertState | None = None,
    ) -> str | None:
        return send_slack(alert, target, self.conn_id or connections.SLACK, thread_ts=thread_ts, repeat=repeat)
