"""Slack's rules for a message, as the local Slack server enforces them: Block Kit and
``chat.postMessage`` limits, the error codes Slack answers, and channel ids.

An alert that breaks a limit fails here the way it would fail against real Slack.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

# Block Kit and chat.postMessage limits documented by Slack.
MAX_BLOCKS = 50
MAX_HEADER_TEXT = 150
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_MESSAGE_TEXT = 40000


class SlackError(Exception):
    """A Slack-style error answer: ``error`` code plus the HTTP status Slack would use."""

    def __init__(self, error: str, status: int = HTTPStatus.OK, details: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.details = details or []


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


def parse_blocks(raw: Any) -> list[Any] | None:
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
