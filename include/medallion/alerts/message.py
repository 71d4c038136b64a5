"""What an alert says, independent of where it is delivered.

One ``Alert`` renders to Slack Block Kit (within Slack's limits, with a plain-text
fallback) and to an e-mail with text and HTML parts.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

HEADER_LIMIT = 150
SECTION_LIMIT = 3000
MAX_BLOCKS = 50

_SECRET_PATTERNS = [
    re.compile(r"xox[abposr]-[A-Za-z0-9-]+"),
    re.compile(r"dapi[0-9a-zA-Z-]{8,}"),
    re.compile(r"AKIA[0-9A-Z]{16}"),
    re.compile(r"(?i)(password|passwd|secret|token|api[_-]?key)(\s*[=:]\s*)([^\s,;'\"]+)"),
    re.compile(r"://([^:/@\s]+):([^@/\s]+)@"),
]


def scrub(text: str) -> str:
    """Remove anything that looks like a credential before it leaves the worker."""
    text = _SECRET_PATTERNS[0].sub("xox?-***", text)
    text = _SECRET_PATTERNS[1].sub("dapi***", text)
    text = _SECRET_PATTERNS[2].sub("AKIA***", text)
    text = _SECRET_PATTERNS[3].sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    return _SECRET_PATTERNS[4].sub(lambda m: f"://{m.group(1)}:***@", text)


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 20].rstrip() + "\n… (truncated)"


@dataclass
class Alert:
    severity: str  # "critical" | "warning"
    title: str
    summary: str
    pipeline: str
    domain: str
    layer: str | None
    task: str
    logical_date: str
    attempt: str
    failure_class: str
    details: list[str] = field(default_factory=list)
    hint: str = ""
    runbook: str | None = None
    owners: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)
    commands: dict[str, str] = field(default_factory=dict)
    run_id: str = ""
    fingerprint: str = ""  # pipeline, layer, task, class and logical date (deduplication)
    retry: str = ""  # whether Airflow retries the task, and why
    late_since: str = ""  # set when no channel was reachable at first: when it was first sent

    @property
    def headline(self) -> str:
        icon = ":red_circle:" if self.severity == "critical" else ":large_yellow_circle:"
        late = "[late] " if self.late_since else ""
        return truncate(f"{icon} {late}{self.title}: {self.pipeline} · {self.layer or '-'}", HEADER_LIMIT)

    def facts(self) -> list[tuple[str, str]]:
        facts = [
            ("Severity", self.severity),
            ("Pipeline", f"{self.pipeline} ({self.domain})"),
            ("Layer / task", f"{self.layer or '-'} / {self.task}"),
            ("Logical date", self.logical_date),
            ("Attempt", self.attempt),
            ("Class", self.failure_class),
        ]
        if self.retry:
            facts.append(("Retry", self.retry))
        if self.late_since:
            facts.append(("Delivered late", f"first sent at {self.late_since}; no channel was reachable then"))
        return facts

    @property
    def runbook_is_url(self) -> bool:
        return bool(self.runbook and re.match(r"https?://", self.runbook))

    def _runbook_mrkdwn(self) -> str:
        if self.runbook_is_url:
            return f"\n<{self.runbook}|Runbook: {self.failure_class}>"
        return f"\nRunbook: `{self.runbook}` in the project repository" if self.runbook else ""

    def repeat_text(self) -> str:
        """One line for the first alert's Slack thread: the same failure on another logical date."""
        line = f"Also on {self.logical_date}: {self.task} ({self.attempt}) — {self.summary}"
        if self.retry:
            line += f" Retry: {self.retry}."
        log = self.links.get("Airflow log")
        return scrub(truncate(line + (f" <{log}|Airflow log>" if log else ""), SECTION_LIMIT))

    def text(self) -> str:
        """Plain text: the Slack fallback and the e-mail's text part."""
        lines = [self.headline.split(" ", 1)[1], "", self.summary, ""]
        lines += [f"{k}: {v}" for k, v in self.facts()]
        if self.details:
            lines += ["", "What failed:"] + [f"  - {d}" for d in self.details]
        lines += ["", f"What to do: {self.hint}"]
        if self.runbook:
            lines.append(f"Runbook: {self.runbook}" + ("" if self.runbook_is_url else " (in the project repository)"))
        if self.owners:
            lines.append(f"Owners: {', '.join(self.owners)}")
        lines += [f"{k}: {v}" for k, v in self.links.items()]
        lines += [f"{k}: {v}" for k, v in self.commands.items()]
        return scrub("\n".join(lines))

    def slack_blocks(self) -> list[dict[str, Any]]:
        """Block Kit within Slack's limits whatever the size of the error."""

        def section(md: str) -> dict[str, Any]:
            return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(scrub(md), SECTION_LIMIT)}}

        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": truncate(self.headline, HEADER_LIMIT)}},
            section(self.summary),
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": truncate(f"*{k}*\n{v}", 2000)} for k, v in self.facts()],
            },
        ]
        if self.details:
            blocks.append(section("*What failed*\n" + "\n".join(f"• {d}" for d in self.details)))
        blocks.append(section(f"*What to do*\n{self.hint}" + self._runbook_mrkdwn()))
        if self.links:
            blocks.append(section(" · ".join(f"<{url}|{name}>" for name, url in self.links.items())))
        if self.commands:
            blocks.append(section("\n".join(f"*{k}*\n```{v}```" for k, v in self.commands.items())))
        if self.owners:
            blocks.append(
                {
                    "type": "context",
                    "elements": [
                        {
                            "type": "mrkdwn",
                            "text": truncate("Owners: " + ", ".join(self.owners), SECTION_LIMIT),
                        }
                    ],
                }
            )
        return blocks[:MAX_BLOCKS]

    def email_subject(self) -> str:
        late = "[LATE] " if self.late_since else ""
        return f"{late}[{self.severity.upper()}] {self.title}: {self.pipeline} {self.layer or ''} {self.logical_date}"

    def email_html(self) -> str:
        esc = lambda s: html.escape(scrub(str(s)))  # noqa: E731
        facts = "".join(f"<tr><th align=left>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in self.facts())
        details = "".join(f"<li>{esc(d)}</li>" for d in self.details)
        links = "".join(f'<li><a href="{esc(u)}">{esc(n)}</a></li>' for n, u in self.links.items())
        cmds = "".join(f"<p><b>{esc(k)}</b><br><code>{esc(v)}</code></p>" for k, v in self.commands.items())
        runbook = (
            f'<p><a href="{esc(self.runbook)}">Runbook</a></p>'
            if self.runbook_is_url
            else f"<p>Runbook: <code>{esc(self.runbook)}</code> in the project repository</p>"
            if self.runbook
            else ""
        )
        return (
            f"<html><body><h2>{esc(self.title)}: {esc(self.pipeline)}</h2><p>{esc(self.summary)}</p>"
            f"<table>{facts}</table><h3>What failed</h3><ul>{details}</ul>"
            f"<h3>What to do</h3><p>{esc(self.hint)}</p>{runbook}<ul>{links}</ul>{cmds}"
            f"<p>Owners: {esc(', '.join(self.owners))}</p></body></html>"
        )
