"""HTTP layer: parses a request (query string and/or JSON body, even on GET) and answers in JSON."""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from medallion.local.databricks.api import find_route
from medallion.local.databricks.model import ApiError, malformed

if TYPE_CHECKING:
    from medallion.local.databricks.emulator import DatabricksEmulator

log = logging.getLogger(__name__)


class Handler(BaseHTTPRequestHandler):
    """Parses a request (query string and/or JSON body, even on GET) and dispatches it."""

    protocol_version = "HTTP/1.1"
    timeout = 60  # close idle keep-alive connections
    server: Server

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    def _handle(self, method: str) -> None:
        try:
            status, body = HTTPStatus.OK, self._dispatch(method)
        except ApiError as exc:
            status, body = HTTPStatus(exc.status), exc.body()
        except Exception as exc:  # pragma: no cover - surfaced to the client as a 500
            log.exception("Emulator error on %s %s", method, self.path)
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            body = {"error_code": "INTERNAL_ERROR", "message": str(exc)}
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _dispatch(self, method: str) -> dict[str, Any]:
        url = urlsplit(self.path)
        params = {**dict(parse_qsl(url.query)), **self._json_body()}
        emulator = self.server.emulator
        path = url.path.rstrip("/")
        if (method, path) == ("GET", "/.well-known/databricks-config"):
            return {"workspace_id": "1234567890"}
        if (method, path) == ("POST", "/emulator/faults"):
            return emulator._engine.set_faults(params)
        if (method, path) == ("GET", "/emulator/stats"):
            return emulator.stats()
        if path.startswith("/api/"):
            self._check_auth()
        return find_route(method, path)(emulator._engine, params)

    def _json_body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise malformed("Request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise malformed("Request body must be a JSON object.")
        return body

    def _check_auth(self) -> None:
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                HTTPStatus.UNAUTHORIZED,
                "UNAUTHENTICATED",
                "Credential was not sent or was of an unsupported type for this API. "
                "Send 'Authorization: Bearer <token>'.",
            )


class Server(ThreadingHTTPServer):
    daemon_threads = True
    emulator: DatabricksEmulator
