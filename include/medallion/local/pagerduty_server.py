"""A local stand-in for the PagerDuty Events API v2 (``POST /v2/enqueue``).

The official provider's hook (through the ``pagerduty`` client) can point at this server, so
paging and resolving can be exercised end to end without a PagerDuty account. Every accepted
event is appended to ``<store_dir>/events.jsonl``; ``incidents()`` folds them the way PagerDuty
does (one incident per dedup key: triggered, acknowledged or resolved).

Answers as PagerDuty documents them: 202 ``{"status": "success", "dedup_key": …}``, 400 for an
invalid event, and injected 429 / 500 (``inject_rate_limit``, ``inject_server_error``) to test retries.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

from medallion.local.service import LocalService, reply, serve_in_background, shut_down

EVENTS_FILE = "events.jsonl"
ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")


def read_events(store_dir: Path) -> list[dict[str, Any]]:
    """Every accepted event, oldest first."""
    path = Path(store_dir) / EVENTS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def incidents(store_dir: Path) -> dict[str, str]:
    """Dedup key → state of its incident after every event (a trigger on a resolved key opens a new one)."""
    states: dict[str, str] = {}
    for event in read_events(store_dir):
        action, key = event["event_action"], event["dedup_key"]
        if action == "trigger":
            states[key] = "triggered"
        elif key in states and states[key] != "resolved":
            states[key] = "acknowledged" if action == "acknowledge" else "resolved"
    return states


def invalid(event: dict[str, Any]) -> list[str]:
    """What PagerDuty would reject in ``event`` (empty when it is valid)."""
    errors = []
    if not event.get("routing_key"):
        errors.append("'routing_key' is missing or blank")
    action = event.get("event_action")
    if action not in ACTIONS:
        errors.append(f"'event_action' must be one of {', '.join(ACTIONS)}")
    if action in ("acknowledge", "resolve") and not event.get("dedup_key"):
        errors.append("'dedup_key' is required to acknowledge or resolve")
    if action == "trigger":
        payload = event.get("payload") or {}
        errors += [f"'payload.{k}' is missing or blank" for k in ("summary", "source") if not payload.get(k)]
        if payload.get("severity") not in SEVERITIES:
            errors.append(f"'payload.severity' must be one of {', '.join(SEVERITIES)}")
        if len(str(payload.get("summary", ""))) > 1024:
            errors.append("'payload.summary' is longer than 1024 characters")
    return errors


class PagerDutyServer(LocalService):
    """``with PagerDutyServer(store_dir=…) as pd:`` serves the Events API on 127.0.0.1."""

    def __init__(self, port: int = 0, *, store_dir: Path) -> None:
        self.store_dir = Path(store_dir)
        self._requested_port = port
        self._faults: list[int] = []  # HTTP statuses the next requests get
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._httpd is not None:
            raise RuntimeError("PagerDutyServer already started")
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self._requested_port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.app = self  # type: ignore[attr-defined]
        self._thread = serve_in_background(self._httpd, "pagerduty-local")
        return self

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        if self._httpd is None:
            return
        shut_down(self._httpd, self._thread)
        self._httpd = self._thread = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("PagerDutyServer is not running")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Events API base URL (the connection's ``extra.base_url``)."""
        return f"http://127.0.0.1:{self.port}"

    def inject_rate_limit(self, count: int = 1) -> None:
        with self._lock:
            self._faults += [HTTPStatus.TOO_MANY_REQUESTS] * count

    def inject_server_error(self, count: int = 1) -> None:
        with self._lock:
            self._faults += [HTTPStatus.INTERNAL_SERVER_ERROR] * count

    def take_fault(self) -> int | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def enqueue(self, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        errors = invalid(event)
        if errors:
            return HTTPStatus.BAD_REQUEST, {
                "status": "invalid event",
                "message": "Event object is invalid",
                "errors": errors,
            }
        key = event.get("dedup_key") or uuid.uuid4().hex
        stored = {**event, "dedup_key": key, "routing_key": "***", "received_at": datetime.now(UTC).isoformat()}
        with self._lock, (self.store_dir / EVENTS_FILE).open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(stored) + "\n")
        return HTTPStatus.ACCEPTED, {"status": "success", "message": "Event processed", "dedup_key": key}


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # quiet: events are in events.jsonl
        return None

    def do_POST(self) -> None:
        app: PagerDutyServer = self.server.app  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.rstrip("/") != "/v2/enqueue":
            return self._send(HTTPStatus.NOT_FOUND, {"status": "not found", "message": self.path})
        fault = app.take_fault()
        if fault is not None:
            return self._send(fault, {"status": "throttled" if fault == 429 else "error", "message": "injected"})
        try:
            event = json.loads(raw or b"{}")
        except ValueError:
            return self._send(HTTPStatus.BAD_REQUEST, {"status": "invalid event", "message": "body is not JSON"})
        self._send(*app.enqueue(event if isinstance(event, dict) else {}))

    def _send(self, status: int, body: dict[str, Any]) -> None:
        reply(self, status, json.dumps(body).encode(), "application/json")
