"""A local SMTP relay stand-in that captures mail instead of delivering it.

Airflow's ``SmtpHook``/``EmailOperator`` and plain ``smtplib`` can send to this server on a
developer laptop. Each message is written verbatim to ``<store_dir>/<timestamp>-<n>.eml`` and
indexed in ``<store_dir>/index.jsonl`` so a person or a test can read it back.
"""

from __future__ import annotations

import email
import email.policy
import itertools
import json
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Self, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from medallion.local.service import LocalService, free_port

INDEX_FILE = "index.jsonl"
SERVER_HOSTNAME = "medallion-smtp-capture"


# --------------------------------------------------------------------------- storage


def _index_path(store_dir: Path) -> Path:
    return Path(store_dir) / INDEX_FILE


def read_index(store_dir: Path) -> list[dict[str, Any]]:
    """Index entries (from, to, subject, received_at, file), in arrival order."""
    path = _index_path(store_dir)
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def read_mail(store_dir: Path) -> list[EmailMessage]:
    """Every captured message parsed with ``email.policy.default``, in arrival order."""
    messages = []
    for entry in read_index(store_dir):
        raw = (Path(store_dir) / entry["file"]).read_bytes()
        messages.append(cast(EmailMessage, email.message_from_bytes(raw, policy=email.policy.default)))
    return messages


def clear_mail(store_dir: Path) -> None:
    """Delete captured messages and the index so a test or demo starts clean."""
    store = Path(store_dir)
    for eml in store.glob("*.eml"):
        eml.unlink(missing_ok=True)
    _index_path(store).unlink(missing_ok=True)


# --------------------------------------------------------------------------- aiosmtpd plumbing


def _accept_any_login(server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
    """Airflow's SmtpHook logs in whenever a login is configured; any credentials will do here."""
    return AuthResult(success=True)


class _CaptureHandler:
    """aiosmtpd handler: persist each DATA payload and its envelope to ``store_dir``."""

    def __init__(self, store_dir: Path) -> None:
        self.store_dir = store_dir
        self._seq = itertools.count(1)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.save(envelope)
        return "250 Message accepted for delivery"

    def save(self, envelope: Envelope) -> Path:
        """Write the raw message and append its index line (runs on the single event-loop thread)."""
        now = datetime.now(UTC)
        raw = envelope.original_content or _as_bytes(envelope.content)
        path = self.store_dir / f"{now:%Y%m%dT%H%M%S%fZ}-{next(self._seq)}.eml"
        path.write_bytes(raw)
        headers = email.message_from_bytes(raw, policy=email.policy.default)
        entry = {
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "subject": str(headers.get("Subject", "")),
            "received_at": now.isoformat(timespec="microseconds"),
            "file": path.name,
        }
        with _index_path(self.store_dir).open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
        return path


def _as_bytes(content: bytes | str | None) -> bytes:
    if content is None:
        return b""
    return content if isinstance(content, bytes) else content.encode("utf-8")


# --------------------------------------------------------------------------- server


class SmtpServer(LocalService):
    """Capturing SMTP server (no TLS; AUTH PLAIN/LOGIN accepted with any credentials)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, store_dir: Path) -> None:
        self.host = host
        self._requested_port = port
        self.store_dir = Path(store_dir)
        self._controller: Controller | None = None

    def start(self) -> Self:
        """Start aiosmtpd in its own thread; returns self so ``SmtpServer(...).start()`` chains."""
        if self._controller is not None:
            raise RuntimeError("SmtpServer already started")
        self.store_dir.mkdir(parents=True, exist_ok=True)
        controller = Controller(
            _CaptureHandler(self.store_dir),
            hostname=self.host,
            port=self._requested_port or free_port(),  # aiosmtpd connects to its own port: no port 0
            server_hostname=SERVER_HOSTNAME,  # avoids a slow socket.getfqdn() per connection
            authenticator=_accept_any_login,
            auth_require_tls=False,
        )
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop the server thread and release the port; safe to call twice."""
        if self._controller is None:
            return
        self._controller.stop()
        self._controller = None

    @property
    def port(self) -> int:
        if self._controller is None:
            raise RuntimeError("SmtpServer is not running")
        return int(self._controller.port)
