"""The local Slack server's HTTP side: routes ``/api/<method>``, ``/services/…`` webhooks and
``/_admin/…`` to the server's methods, decodes JSON and form bodies, and answers the way Slack
does (Web API errors as HTTP 200 + ``ok: false``, webhook errors as a plain-text status line)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from medallion.local.service import reply
from medallion.local.slack_blocks import SlackError
from medallion.local.slack_store import read_messages

if TYPE_CHECKING:
    from medallion.local.slack_server import SlackServer

log = logging.getLogger(__name__)


class SlackHttpServer(ThreadingHTTPServer):
    """The listening socket; its handlers reach the Slack look-alike as ``server.app``."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: SlackServer):
        super().__init__(address, SlackHandler)
        self.app = app


def parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
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


class SlackHandler(BaseHTTPRequestHandler):
    server: SlackHttpServer
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
                params = {**dict(parse_qsl(url.query)), **parse_body(self._content_type(), raw)}
                self._send_json(self._api(parts[1], params))
            elif parts[:1] == ["services"] and self.command == "POST":
                body = parse_body("json", raw) if raw.lstrip().startswith(b"{") else self._form_payload(raw)
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
            self._send_json(self.server.app.apply_fault_request(parse_body("json", raw)))
        elif parts == ["messages"] and self.command == "GET":
            self._send_json({"ok": True, "messages": read_messages(self.server.app.store_dir)})
        else:
            self._send_text(HTTPStatus.NOT_FOUND, "not_found")

    @staticmethod
    def _form_payload(raw: bytes) -> dict[str, Any]:
        """Legacy webhook form: ``payload=<json>``."""
        payload = dict(parse_qsl(raw.decode("utf-8"))).get("payload", "")
        return parse_body("json", payload.encode()) if payload else {}

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
