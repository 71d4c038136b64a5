"""Real slack-sdk / smtplib / Airflow-hook clients against the local Slack and SMTP stand-ins."""

from __future__ import annotations

import json
import smtplib
import time
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from medallion.local.slack_server import SlackServer, clear_messages, read_messages
from medallion.local.smtp_server import SmtpServer, clear_mail, read_index, read_mail

pytestmark = pytest.mark.integration  # every test here starts the servers it checks

TOKEN = "xoxb-local-test-token-abcd"


@pytest.fixture
def slack(tmp_path: Path) -> Iterator[SlackServer]:
    server = SlackServer(store_dir=tmp_path / "slack", valid_tokens={TOKEN}, unknown_channels={"nope"})
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    server = SmtpServer(store_dir=tmp_path / "mail")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _client(server: SlackServer, token: str | None = TOKEN, **kwargs: Any) -> WebClient:
    return WebClient(token=token, base_url=server.url, timeout=5, **kwargs)


def _admin_post(server: SlackServer, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{server.base}/_admin/faults",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


# --------------------------------------------------------------------------- Slack


def test_post_with_blocks_and_thread_reply_is_stored(slack: SlackServer) -> None:
    client = _client(slack)
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "orders failed"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*3* rows rejected"}},
    ]
    parent = client.chat_postMessage(channel="#alerts", text="orders failed", blocks=blocks)
    reply = client.chat_postMessage(channel=parent["channel"], text="details", thread_ts=parent["ts"])

    assert parent["ok"] and parent["channel"].startswith("C")
    assert parent["message"]["blocks"] == blocks
    assert reply["message"]["thread_ts"] == parent["ts"]
    first, second = read_messages(slack.store_dir)
    assert (first["channel"], first["blocks"], first["via"], first["thread_ts"]) == (
        "#alerts",
        blocks,
        "api",
        None,
    )
    assert second["thread_ts"] == parent["ts"] and second["ts"] == reply["ts"]
    assert first["token"] == "...abcd" and TOKEN not in json.dumps(first)

    clear_messages(slack.store_dir)
    assert read_messages(slack.store_dir) == []


def test_auth_test_and_conversations_list(slack: SlackServer) -> None:
    client = _client(slack)
    assert client.auth_test()["team_id"]
    client.chat_postMessage(channel="#alerts", text="hi")
    names = [c["name"] for c in client.conversations_list()["channels"]]
    assert names == ["alerts"]


@pytest.mark.parametrize(
    ("token", "kwargs", "error"),
    [
        ("xoxb-wrong", {"channel": "#a", "text": "x"}, "invalid_auth"),
        (None, {"channel": "#a", "text": "x"}, "not_authed"),
        (TOKEN, {"channel": "#nope", "text": "x"}, "channel_not_found"),
        (TOKEN, {"channel": "", "text": "x"}, "channel_not_found"),
        (TOKEN, {"channel": "#a", "text": "x" * 40001}, "msg_too_long"),
        (TOKEN, {"channel": "#a", "text": "x", "blocks": [{"type": "divider"}] * 51}, "invalid_blocks"),
        (
            TOKEN,
            {"channel": "#a", "text": "x", "blocks": [{"type": "header", "text": {"text": "h" * 151}}]},
            "invalid_blocks",
        ),
        (
            TOKEN,
            {"channel": "#a", "text": "x", "blocks": [{"type": "section", "text": {"text": "s" * 3001}}]},
            "invalid_blocks",
        ),
    ],
)
def test_slack_errors(slack: SlackServer, token: str | None, kwargs: dict[str, Any], error: str) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        _client(slack, token=token).chat_postMessage(**kwargs)
    assert excinfo.value.response["error"] == error
    assert read_messages(slack.store_dir) == []


def test_invalid_blocks_names_the_offending_block(slack: SlackServer) -> None:
    blocks = [{"type": "divider"}, {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]
    with pytest.raises(SlackApiError) as excinfo:
        _client(slack).chat_postMessage(channel="#a", text="x", blocks=blocks)
    assert any("/blocks/1/text" in e for e in excinfo.value.response["errors"])


def test_rate_limit_retry_after_is_honoured(slack: SlackServer) -> None:
    assert _admin_post(slack, {"rate_limit": 2, "retry_after": 1})["faults"]["rate_limit"] == 2
    client = _client(slack, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)])

    started = time.monotonic()
    response = client.chat_postMessage(channel="#alerts", text="after 429")

    assert response["ok"]
    assert time.monotonic() - started >= 2  # two 429s, Retry-After: 1 each
    assert [m["text"] for m in read_messages(slack.store_dir)] == ["after 429"]


def test_rate_limit_without_retry_handler_surfaces_ratelimited(slack: SlackServer) -> None:
    slack.inject_rate_limit(1, retry_after=7)
    with pytest.raises(SlackApiError) as excinfo:
        _client(slack).chat_postMessage(channel="#alerts", text="x")
    assert excinfo.value.response.status_code == 429
    assert excinfo.value.response.headers["Retry-After"] == "7"
    assert excinfo.value.response["error"] == "ratelimited"


def test_server_error_then_success(slack: SlackServer) -> None:
    slack.inject_server_error(1)
    client = _client(slack, retry_handlers=[ServerErrorRetryHandler(max_retry_count=1)])
    assert client.chat_postMessage(channel="#alerts", text="after 500")["ok"]
    assert len(read_messages(slack.store_dir)) == 1


def test_clear_faults(slack: SlackServer) -> None:
    slack.inject_server_error(3)
    _admin_post(slack, {"clear": True})
    assert _client(slack).chat_postMessage(channel="#alerts", text="x")["ok"]


def test_webhook_is_stored_and_answers_plain_ok(slack: SlackServer) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "webhook alert"}}]
    response = WebhookClient(slack.webhook_url(secret="s3cr3tXYZW"), timeout=5).send(
        text="webhook alert", blocks=blocks
    )
    assert (response.status_code, response.body) == (200, "ok")
    (stored,) = read_messages(slack.store_dir)
    assert (stored["via"], stored["blocks"], stored["token"]) == ("webhook", blocks, "...XYZW")


def test_webhook_rejects_invalid_blocks(slack: SlackServer) -> None:
    response = WebhookClient(slack.webhook_url(), timeout=5).send(
        text="x", blocks=[{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]
    )
    assert (response.status_code, response.body) == (400, "invalid_blocks")


def test_airflow_slack_hooks_reach_the_server(slack: SlackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.slack.hooks.slack import SlackHook
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    api_conn = {"conn_type": "slack", "password": TOKEN, "extra": {"base_url": slack.url}}
    webhook_conn = {"conn_type": "slackwebhook", "password": slack.webhook_url()}
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_TEST", json.dumps(api_conn))
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_WEBHOOK_TEST", json.dumps(webhook_conn))

    SlackHook(slack_conn_id="slack_test").client.chat_postMessage(channel="#alerts", text="from hook")
    SlackWebhookHook(slack_webhook_conn_id="slack_webhook_test").send(text="from webhook hook")

    assert [(m["via"], m["text"]) for m in read_messages(slack.store_dir)] == [
        ("api", "from hook"),
        ("webhook", "from webhook hook"),
    ]


def test_slack_server_refuses_non_loopback(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SlackServer("0.0.0.0", store_dir=tmp_path)


# --------------------------------------------------------------------------- SMTP


def _multipart(subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "airflow@example.com"
    msg["To"] = "oncall@example.com"
    msg["Subject"] = subject
    msg.set_content("plain body")
    msg.add_alternative("<p>html body</p>", subtype="html")
    return msg


def test_smtplib_multipart_is_captured(smtp: SmtpServer) -> None:
    with smtplib.SMTP("127.0.0.1", smtp.port, timeout=5) as client:
        client.send_message(_multipart("first"), to_addrs=["oncall@example.com", "bcc@example.com"])
        client.login("anyone", "anything")  # AUTH is accepted without TLS
        client.send_message(_multipart("second"))

    first, second = read_mail(smtp.store_dir)
    assert (first["Subject"], second["Subject"]) == ("first", "second")
    assert first.get_body(("plain",)).get_content().strip() == "plain body"
    assert first.get_body(("html",)).get_content().strip() == "<p>html body</p>"
    entry = read_index(smtp.store_dir)[0]
    assert entry["to"] == ["oncall@example.com", "bcc@example.com"]
    assert entry["from"] == "airflow@example.com" and entry["file"].endswith("-1.eml")

    clear_mail(smtp.store_dir)
    assert read_mail(smtp.store_dir) == [] and not list(smtp.store_dir.glob("*.eml"))


def test_airflow_smtp_hook_sends_through_capture(smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    conn = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": smtp.port,
        "login": "airflow",
        "password": "any",
        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "a@b", "retry_limit": 0},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_TEST", json.dumps(conn))

    with SmtpHook(smtp_conn_id="smtp_test") as hook:
        hook.send_email_smtp(to="oncall@example.com", subject="dag failed", html_content="<b>boom</b>")

    (msg,) = read_mail(smtp.store_dir)
    assert (msg["Subject"], msg["From"]) == ("dag failed", "a@b")
    assert msg.get_body(("html",)).get_content().strip() == "<b>boom</b>"


def test_explicit_port_and_restart(tmp_path: Path, smtp: SmtpServer) -> None:
    port = smtp.port
    smtp.stop()
    with SmtpServer(port=port, store_dir=tmp_path / "again") as again:
        assert again.port == port
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
            client.sendmail("a@b", ["c@d"], "Subject: hi\r\n\r\nbody\r\n")
    assert read_mail(tmp_path / "again")[0]["Subject"] == "hi"
