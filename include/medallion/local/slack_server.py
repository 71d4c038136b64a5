"""A local stand-in for the Slack Web API and incoming webhooks.

Real ``slack_sdk`` clients (and Airflow's Slack hooks) can point at this server on a developer
laptop, so alerts can be exercised end to end without a workspace. Every accepted message is
appended to ``<store_dir>/messages.jsonl`` where a person or a test can read it back
(``read_messages``).

Endpoints:

* ``POST /api/chat.postMessage``, ``/api/auth.test``, ``/api/conversations.list`` (GET or POST)
* ``POST /services/<T>/<B>/<X>`` incoming webhooks (answer plain ``ok``)
* ``POST /_admin/faults`` fault injection, ``GET /_admin/messages`` read what was received

This module holds the Web API methods, fault injection and the server's lifecycle; Slack's message
rules are in ``slack_blocks``, the HTTP routing in ``slack_http``, the message file in ``slack_store``.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, Self

from medallion.local.service import LocalService, serve_in_background, shut_down
from medallion.local.slack_blocks import SlackError, channel_id, parse_blocks, validate_message
from medallion.local.slack_http import SlackHttpServer
from medallion.local.slack_store import append_message, clear_messages, read_messages

__all__ = ["BOT_ID", "TEAM_ID", "USER_ID", "SlackServer", "clear_messages", "read_messages"]

TEAM_ID = "T0LOCAL"
USER_ID = "U0LOCAL"
BOT_ID = "B0LOCAL"


@dataclass
class Faults:
    """Pending injected failures; each one is consumed by the next non-admin request."""

    rate_limit: int = 0
    retry_after: int = 1
    server_error: int = 0


class SlackServer(LocalService):
    """Slack Web API + incoming-webhook look-alike running in a background thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        store_dir: Path,
        valid_tokens: set[str] | None = None,
        unknown_channels: Iterable[str] = (),
    ) -> None:
        _require_loopback(host)
        self.host = host
        self._requested_port = port
        self.store_dir = Path(store_dir)
        self.valid_tokens = valid_tokens
        self.unknown_channels: set[str] = {c.lstrip("#") for c in unknown_channels}
        self.faults = Faults()
        self._lock = threading.Lock()
        self._ts_seq = 0
        self._channels: dict[str, str] = {}
        self._httpd: SlackHttpServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle

    def start(self) -> Self:
        """Bind and serve in a daemon thread; returns self so ``SlackServer(...).start()`` chains."""
        if self._httpd is not None:
            raise RuntimeError("SlackServer already started")
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._httpd = SlackHttpServer((self.host, self._requested_port), self)
        self._thread = serve_in_background(self._httpd, "slack-local")
        return self

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        if self._httpd is None:
            return
        shut_down(self._httpd, self._thread)
        self._httpd = None
        self._thread = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("SlackServer is not running")
        return int(self._httpd.server_address[1])

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """Web API base URL for ``WebClient(base_url=...)``; the trailing slash matters (urljoin)."""
        return f"{self.base}/api/"

    def webhook_url(self, team: str = TEAM_ID, bot: str = BOT_ID, secret: str = "localsecret") -> str:
        """An incoming-webhook URL served by this server."""
        return f"{self.base}/services/{team}/{bot}/{secret}"

    # ---- fault injection

    def inject_rate_limit(self, count: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``count`` calls with HTTP 429 and ``Retry-After: retry_after``."""
        with self._lock:
            self.faults.rate_limit = count
            self.faults.retry_after = retry_after

    def inject_server_error(self, count: int = 1) -> None:
        """Answer the next ``count`` calls with HTTP 500."""
        with self._lock:
            self.faults.server_error = count

    def clear_faults(self) -> None:
        with self._lock:
            self.faults = Faults()

    def apply_fault_request(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Handle a ``/_admin/faults`` body; returns the resulting fault state."""
        if body.get("clear"):
            self.clear_faults()
        if "rate_limit" in body:
            self.inject_rate_limit(int(body["rate_limit"]), int(body.get("retry_after", 1)))
        if "server_error" in body:
            self.inject_server_error(int(body["server_error"]))
        if "unknown_channels" in body:
            self.unknown_channels = {str(c).lstrip("#") for c in body["unknown_channels"]}
        return {"ok": True, "faults": vars(self.faults), "unknown_channels": sorted(self.unknown_channels)}

    def take_fault(self) -> tuple[int, dict[str, str]] | None:
        """Consume one pending fault: (HTTP status, extra headers), or None to serve normally."""
        with self._lock:
            if self.faults.rate_limit > 0:
                self.faults.rate_limit -= 1
                return HTTPStatus.TOO_MANY_REQUESTS, {"Retry-After": str(self.faults.retry_after)}
            if self.faults.server_error > 0:
                self.faults.server_error -= 1
                return HTTPStatus.INTERNAL_SERVER_ERROR, {}
        return None

    # ---- API methods

    def check_token(self, token: str | None) -> None:
        if not token:
            raise SlackError("not_authed")
        if self.valid_tokens is not None and token not in self.valid_tokens:
            raise SlackError("invalid_auth")

    def post_message(self, params: Mapping[str, Any], token: str | None) -> dict[str, Any]:
        """``chat.postMessage``: validate like Slack, store, answer with channel ID and ts."""
        self.check_token(token)
        channel = params.get("channel")
        if not channel or str(channel).lstrip("#") in self.unknown_channels:
            raise SlackError("channel_not_found")
        text, blocks = params.get("text"), parse_blocks(params.get("blocks"))
        attachments = params.get("attachments")
        validate_message(text, blocks, attachments)
        cid = self._remember_channel(str(channel))
        ts = self._next_ts()
        thread_ts = params.get("thread_ts") or None
        self._store(
            channel=str(channel),
            channel_id=cid,
            text=text,
            blocks=blocks,
            attachments=attachments,
            thread_ts=thread_ts,
            ts=ts,
            via="api",
            token=token,
        )
        message = {"type": "message", "user": USER_ID, "bot_id": BOT_ID, "text": text or "", "ts": ts}
        if blocks is not None:
            message["blocks"] = blocks
        if thread_ts:
            message["thread_ts"] = thread_ts
        return {"ok": True, "channel": cid, "ts": ts, "message": message}

    def auth_test(self, token: str | None) -> dict[str, Any]:
        self.check_token(token)
        return {
            "ok": True,
            "url": f"{self.base}/",
            "team": "medallion-local",
            "user": "medallion-bot",
            "team_id": TEAM_ID,
            "user_id": USER_ID,
            "bot_id": BOT_ID,
        }

    def conversations_list(self, token: str | None) -> dict[str, Any]:
        self.check_token(token)
        with self._lock:
            known = dict(self._channels)
        channels = [{"id": cid, "name": name, "is_channel": True} for name, cid in sorted(known.items())]
        return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}

    def receive_webhook(self, path_parts: list[str], body: Mapping[str, Any]) -> None:
        """Incoming webhook: store the payload or raise the error Slack would answer (HTTP 4xx)."""
        if len(path_parts) != 3 or not all(path_parts):
            raise SlackError("no_service", HTTPStatus.NOT_FOUND)
        blocks = parse_blocks(body.get("blocks"))
        try:
            validate_message(body.get("text"), blocks, body.get("attachments"))
        except SlackError as err:
            raise SlackError(err.error, HTTPStatus.BAD_REQUEST, err.details) from None
        channel = body.get("channel")
        if channel and str(channel).lstrip("#") in self.unknown_channels:
            raise SlackError("channel_not_found", HTTPStatus.NOT_FOUND)
        self._store(
            channel=channel,
            channel_id=self._remember_channel(channel) if channel else None,
            text=body.get("text"),
            blocks=blocks,
            attachments=body.get("attachments"),
            thread_ts=body.get("thread_ts"),
            ts=self._next_ts(),
            via="webhook",
            token=path_parts[2],
            webhook=f"{path_parts[0]}/{path_parts[1]}",
        )

    # ---- helpers

    def _next_ts(self) -> str:
        """Slack ``ts`` strings are unique per channel; a counter suffix keeps ours unique."""
        with self._lock:
            self._ts_seq += 1
            return f"{int(time.time())}.{self._ts_seq % 1_000_000:06d}"

    def _remember_channel(self, channel: str) -> str:
        cid = channel_id(channel)
        with self._lock:
            self._channels.setdefault(channel.lstrip("#"), cid)
        return cid

    def _store(self, *, token: str | None, **fields: Any) -> None:
        with self._lock:
            append_message(self.store_dir, token=token, **fields)


def _require_loopback(host: str) -> None:
    """The server accepts any token and stores messages: never expose it beyond this machine."""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"SlackServer only binds loopback addresses, got {host!r}")
