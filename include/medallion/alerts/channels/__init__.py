"""The alert channels, in delivery order: one class per channel, registered by listing it here.

Adding a channel: a module with a ``ChannelBase`` subclass (``route``, ``send``, optionally
``settle``), one line below, the spec field it routes by, and its tests.
"""

from __future__ import annotations

from medallion.alerts.channels.base import Channel, ChannelBase
from medallion.alerts.channels.email import EmailChannel
from medallion.alerts.channels.pagerduty import PagerDutyChannel
from medallion.alerts.channels.slack import SlackChannel

CHANNELS: list[type[ChannelBase]] = [SlackChannel, EmailChannel, PagerDutyChannel]

#: channels whose success means the whole alert reached someone
CARRIERS = frozenset(c.name for c in CHANNELS if c.carries_alert)


def channels(conn_ids: dict[str, str] | None = None) -> list[Channel]:
    """One instance per registered channel, on its default connection unless ``conn_ids`` names another."""
    conn_ids = conn_ids or {}
    return [cls(conn_ids.get(cls.name)) for cls in CHANNELS]


__all__ = ["CARRIERS", "CHANNELS", "Channel", "ChannelBase", "channels"]
