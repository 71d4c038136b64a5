"""A local stand-in for the Slack Web API and incoming webhooks.

Real ``slack_sdk`` clients (and Airflow's Slack hooks) can point at this server on a developer
laptop, so alerts can be exercised end to end without a workspace. Every accepted message is
appended to ``<store_dir>/messages.jsonl`` where a person or a test can read it back.

Endpoints:

* ``POST /api/chat.postMessage``, ``/api/auth.test``, ``/api/conversations.list`` (GET or POST)
* ``POST /services/<T>/<B>/<X>`` incoming webhooks (answer plain ``ok``)
* ``POST /_admin/faults`` fault injection, ``GET /_admin/messages`` read what was received
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from medallion.local.service import LocalService, reply, serve_in_background, shut_down

log = logging.getLogger(__name__)

MESSAGES_FILE = "messages.jsonl"

# Block Kit and chat.postMessage limits documented by Slack.
MAX_BLOCKS = 50
MAX_HEADER_TEXT = 150
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_MESSAGE_TEXT = 40000

TEAM_ID = "T0LOCAL"
USER_ID = "U0LOCAL"
BOT_ID = "B0LOCAL"


class SlackError(Exception):
    """A Slack-style error answer: ``error`` code plus the HTTP status Slack would use."""

    def __init__(self, error: str, status: int = HTTPStatus.OK, details: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.details = details or []


@dataclass
class Faults:
    """Pending injected failures; each one is consumed by the next non-admin request."""

    rate_limit: int = 0
    retry_after: int = 1
    server_error: int = 0


# --------------------------------------------------------------------------- storage


def _messages_path(store_dir: Path) -> Path:
    return Path(store_dir) / MESSAGES_FILE


def read_messages(store_dir: Path) -> list[dict[str, Any]]:
    """Return every stored message, oldest first (empty when nothing was received yet)."""
    path = _messages_path(store_dir)
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def clear_messages(store_dir: Path) -> None:
    """Forget every stored message so a test or demo starts from a clean slate."""
    _messages_path(store_dir).unlink(missing_ok=True)


def _redact(token: str | None) -> str | None:
    """Keep only the last 4 characters: enough to tell tokens apart, useless to an attacker."""
    if not token:
        return None
    return "..." + token[-4:]


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


# --------------------------------------------------------------------------- validation


def _text_of(obj: Any) -> str:
    """Text of a Block Kit text object (``{"type": "plain_text", "text": ...}``)."""
    if isinstance(obj, Mapping):
        value = obj.get("text", "")
        return value if isinstance(value, str) else ""
    return ""


def _block_errors(index: int, block: Any) -> list[str]:
    """Errors for one block, phrased like Slack's ``[json-pointer:/blocks/N/...]`` messages."""
    pointer = f"/blocks/{index}"
    if not isinstance(block, Mapping) or not isinstance(block.get("type"), str):
        return [f"invalid block [json-pointer:{pointer}]"]
    kind = block["type"]
    text = _text_of(block.get("text"))
    errors: list[str] = []
    if kind == "header" and len(text) > MAX_HEADER_TEXT:
        errors.append(f"must be less than {MAX_HEADER_TEXT + 1} characters [json-pointer:{pointer}/text]")
    if kind == "section":
        if len(text) > MAX_SECTION_TEXT:
            errors.append(f"must be less than {MAX_SECTION_TEXT + 1} characters [json-pointer:{pointer}/text]")
        fields = block.get("fields") or []
        if len(fields) > MAX_SECTION_FIELDS:
            errors.append(f"must be less than {MAX_SECTION_FIELDS + 1} items [json-pointer:{pointer}/fields]")
        errors.extend(
            f"must be less than {MAX_FIELD_TEXT + 1} characters [json-pointer:{pointer}/fields/{i}]"
            for i, field in enumerate(fields)
            if len(_text_of(field)) > MAX_FIELD_TEXT
        )
    return errors


def _parse_blocks(raw: Any) -> list[Any] | None:
    """Blocks arrive as a list in JSON bodies but as a JSON string in form bodies."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as err:
            raise SlackError("invalid_blocks_format") from err
    if not isinstance(raw, list):
        raise SlackError("invalid_blocks_format")
    return raw


def validate_message(text: Any, blocks: list[Any] | None, attachments: Any = None) -> None:
    """Raise the SlackError that real Slack would answer for this message content."""
    if not text and not blocks and not attachments:
        raise SlackError("no_text")
    if text is not None and not isinstance(text, str):
        raise SlackError("invalid_arguments")
    if text and len(text) > MAX_MESSAGE_TEXT:
        raise SlackError("msg_too_long")
    if blocks is None:
        return
    errors = [f"must be less than {MAX_BLOCKS + 1} items [json-pointer:/blocks]"] if len(blocks) > MAX_BLOCKS else []
    for index, block in enumerate(blocks):
        errors.extend(_block_errors(index, block))
    if errors:
        raise SlackError("invalid_blocks", details=errors)


def channel_id(channel: str) -> str:
    """Slack answers with channel IDs; derive a stable fake one from a ``#name``."""
    name = channel.lstrip("#")
    if name[:1] in {"C", "G", "D"} and name.isalnum() and name.isupper():
        return name
    return "C" + hashlib.sha1(name.encode()).hexdigest()[:10].upper()


# --------------------------------------------------------------------------- server


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
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle

    def start(self) -> Self:
        """Bind and serve in a daemon thread; returns self so ``SlackServer(...).start()`` chains."""
        if self._httpd is not None:
            raise RuntimeError("SlackServer already started")
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._httpd = _HttpServer((self.host, self._requested_port), _Handler, self)
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
        text, blocks = params.get("text"), _parse_blocks(params.get("blocks"))
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
        blocks = _parse_blocks(body.get("blocks"))
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
        record = {"received_at": _utc_now(), **fields, "token": _redact(token)}
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock, _messages_path(self.store_dir).open("a", encoding="utf-8") as fh:
            fh.write(line)


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


# --------------------------------------------------------------------------- HTTP plumbing


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], app: SlackServer):
        super().__init__(address, handler)
        self.app = app


def _parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
    """Decode a JSON or form-encoded body (slack-sdk uses JSON for chat.postMessage, forms elsewhere)."""
    if not raw:
        return {}
    if "json" in content_type:
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as err:
            raise SlackError("invalid_json") from err
        if not isinstance(body, dict):
            raise SlackError("invalid_json")
        return body
    return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))


def _bearer(header: str | None) -> str | None:
    if header and header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test and demo output clean; access logs go to debug logging only."""
        log.debug("slack-local: " + format, *args)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        raw = self._read_body()
        parts = [p for p in url.path.split("/") if p]
        try:
            if parts[:1] == ["_admin"]:
                self._admin(parts[1:], raw)
                return
            if (fault := self.server.app.take_fault()) is not None:
                self._send_fault(*fault)
                return
            if parts[:1] == ["api"] and len(parts) == 2:
                params = {**dict(parse_qsl(url.query)), **_parse_body(self._content_type(), raw)}
                self._send_json(self._api(parts[1], params))
            elif parts[:1] == ["services"] and self.command == "POST":
                body = _parse_body("json", raw) if raw.lstrip().startswith(b"{") else self._form_payload(raw)
                self.server.app.receive_webhook(parts[1:], body)
                self._send_text(HTTPStatus.OK, "ok")
            else:
                self._send_text(HTTPStatus.NOT_FOUND, "not_found")
        except SlackError as err:
            self._send_error(parts, err)

    def _api(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        app = self.server.app
        token = _bearer(self.headers.get("Authorization")) or params.pop("token", None)
        if method == "chat.postMessage":
            return app.post_message(params, token)
        if method == "auth.test":
            return app.auth_test(token)
        if method == "conversations.list":
            return app.conversations_list(token)
        raise SlackError("unknown_method")

    def _admin(self, parts: list[str], raw: bytes) -> None:
        if parts == ["faults"] and self.command == "POST":
            self._send_json(self.server.app.apply_fault_request(_parse_body("json", raw)))
        elif parts == ["messages"] and self.command == "GET":
            self._send_json({"ok": True, "messages": read_messages(self.server.app.store_dir)})
        else:
            self._send_text(HTTPStatus.NOT_FOUND, "not_found")

    @staticmethod
    def _form_payload(raw: bytes) -> dict[str, Any]:
        """Legacy webhook form: ``payload=<json>``."""
        payload = dict(parse_qsl(raw.decode("utf-8"))).get("payload", "")
        return _parse_body("json", payload.encode()) if payload else {}

    def _content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").lower()

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send_error(self, parts: list[str], err: SlackError) -> None:
        """Web API errors are HTTP 200 + ok:false; webhook errors are a plain-text status line."""
        if parts[:1] == ["services"]:
            self._send_text(err.status, err.error)
            return
        body: dict[str, Any] = {"ok": False, "error": err.error}
        if err.details:
            body["errors"] = err.details
            body["response_metadata"] = {"messages": [f"[ERROR] {d}" for d in err.details]}
        self._send_json(body, err.status)

    def _send_fault(self, status: int, headers: dict[str, str]) -> None:
        error = "ratelimited" if status == HTTPStatus.TOO_MANY_REQUESTS else "internal_error"
        self._send_json({"ok": False, "error": error}, status, headers)

    def _send_json(
        self, body: Mapping[str, Any], status: int = HTTPStatus.OK, headers: Mapping[str, str] | None = None
    ) -> None:
        self._send(status, json.dumps(body).encode(), "application/json; charset=utf-8", headers or {})

    def _send_text(self, status: int, text: str) -> None:
        self._send(status, text.encode(), "text/plain; charset=utf-8", {})

    def _send(self, status: int, payload: bytes, content_type: str, headers: Mapping[str, str]) -> None:
        reply(self, status, payload, content_type, dict(headers))
