"""What the local Slack server accepted: one JSON line per message in ``<store_dir>/messages.jsonl``,
where a person, a test or the demo reads it back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MESSAGES_FILE = "messages.jsonl"


def messages_path(store_dir: Path) -> Path:
    return Path(store_dir) / MESSAGES_FILE


def read_messages(store_dir: Path) -> list[dict[str, Any]]:
    """Return every stored message, oldest first (empty when nothing was received yet)."""
    path = messages_path(store_dir)
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def clear_messages(store_dir: Path) -> None:
    """Forget every stored message so a test or demo starts from a clean slate."""
    messages_path(store_dir).unlink(missing_ok=True)


def append_message(store_dir: Path, *, token: str | None, **fields: Any) -> None:
    """Store one accepted message with its arrival time and the token it came with, redacted.

    Appends are not atomic across threads: the server serialises them (its lock).
    """
    record = {"received_at": datetime.now(UTC).isoformat(timespec="microseconds"), **fields, "token": redact(token)}
    line = json.dumps(record, ensure_ascii=False) + "\n"
    with messages_path(store_dir).open("a", encoding="utf-8") as fh:
        fh.write(line)


def redact(token: str | None) -> str | None:
    """Keep only the last 4 characters: enough to tell tokens apart, useless to an attacker."""
    if not token:
        return None
    return "..." + token[-4:]
