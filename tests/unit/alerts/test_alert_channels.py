"""The alert channel registry: every registered channel implements the protocol, is documented in
the README's "Alert channels" table and is delivered through by a test naming its class."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from medallion.alerts.channels import CARRIERS, CHANNELS, Channel, channels
from medallion.alerts.delivery import Delivery

ROOT = Path(__file__).resolve().parents[3]


def readme_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^### Alert channels\n(.*?)(?=^##)", text, re.S | re.M)
    assert match, "README.md has no '### Alert channels' section"
    return match.group(1)


@pytest.mark.parametrize("cls", CHANNELS, ids=lambda c: c.name)
def test_every_channel_implements_the_protocol(cls) -> None:
    channel = cls()
    assert isinstance(channel, Channel)
    assert cls.__module__ == f"medallion.alerts.channels.{cls.name}", "one module per channel, named after it"
    assert channel.conn_id == cls.default_conn_id and cls(conn_id="other").conn_id == "other"


def test_channel_names_are_unique_and_some_carry_the_alert() -> None:
    names = [c.name for c in CHANNELS]
    assert len(names) == len(set(names))
    assert CARRIERS and set(names) >= CARRIERS
    assert [c.name for c in channels({"slack": "x"})] == names and channels({"slack": "x"})[0].conn_id == "x"


@pytest.mark.parametrize("cls", CHANNELS, ids=lambda c: c.name)
def test_every_channel_is_documented_and_tested(cls) -> None:
    """Its README row names its module and the test file that delivers through it."""
    row = re.search(
        rf"^\| `{cls.name}` \| `channels/{cls.name}\.py` \|.*\| `(test_\w+\.py)` \|$", readme_section(), re.M
    )
    assert row, f"README 'Alert channels' needs a row for {cls.name} naming its module and its test file"
    test = (Path(__file__).parent / row.group(1)).read_text(encoding="utf-8")
    # a delivery whose result says this channel sent it: `result.<name> == "sent"`, `status("<name>")` … "sent"
    status = rf"(\.{cls.name}\b|status\(\"{cls.name}\"\))"
    sent = [line for line in test.splitlines() if re.search(rf"^\s*assert .*{status}.*\"sent\"", line)]
    assert "deliver(" in test and sent, f"{row.group(1)} never asserts that {cls.name} sent an alert"


def test_delivery_reads_each_channel_status() -> None:
    result = Delivery(statuses={"slack": "failed", "email": "sent", "pagerduty": "sent"})
    assert (result.slack, result.email, result.status("pagerduty")) == ("failed", "sent", "sent")
    assert result.delivered and result.summary() == "slack=failed email=sent pagerduty=sent"
    assert not Delivery(statuses={"pagerduty": "sent"}).delivered  # a page alone does not carry the alert
    assert Delivery(statuses={"slack": "threaded"}).delivered
