"""What every alert channel provides, so delivery loops over channels instead of naming them.

A channel is a small class (see ``slack.py``, ``email.py``, ``pagerduty.py``) listed once in
``alerts/channels/__init__.py``. Delivery asks each channel where the spec routes an alert
(``route``), sends it there (``send``), and tells every channel when a task succeeds
(``settle``: e.g. PagerDuty resolves its incident).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from medallion.alerts.message import Alert
    from medallion.alerts.state import S3AlertState
    from medallion.spec.models import PipelineSpec


@runtime_checkable
class Channel(Protocol):
    """One way to reach people. ``name`` keys the channel's status in a ``Delivery``."""

    #: the key in ``Delivery.statuses`` and in a kept alert's targets
    name: ClassVar[str]
    #: the Airflow connection it uses unless the caller names another
    default_conn_id: ClassVar[str | None]
    #: True if it carries the whole alert (a page only points at it): an alert counts as
    #: delivered, and is not kept for later, once such a channel took it
    carries_alert: ClassVar[bool]
    #: True if ``send`` returns a thread id that later messages can reply in
    threads: ClassVar[bool]

    conn_id: str | None

    def route(self, spec: PipelineSpec, alert: Alert) -> Any:
        """Where ``spec`` sends ``alert`` on this channel (channel name, recipients…), or None."""
        ...

    def send(
        self,
        alert: Alert,
        target: Any,
        *,
        thread_ts: str | None = None,
        repeat: bool = False,
        state: S3AlertState | None = None,
    ) -> str | None:
        """Send ``alert`` (or its one-line repeat) to ``target``; raise on failure; a thread id or None."""
        ...

    def settle(self, spec: PipelineSpec, context: Any, state: S3AlertState) -> None:
        """A task of ``spec`` succeeded: close what this channel opened for an earlier failure."""
        ...


class ChannelBase:
    """Defaults for channels that neither thread nor react to success."""

    name: ClassVar[str]
    default_conn_id: ClassVar[str | None] = None
    carries_alert: ClassVar[bool] = True
    threads: ClassVar[bool] = False

    def __init__(self, conn_id: str | None = None) -> None:
        self.conn_id = conn_id or self.default_conn_id

    def settle(self, spec: PipelineSpec, context: Any, state: S3AlertState) -> None:
        return None
