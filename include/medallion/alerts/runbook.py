"""The on-call runbook: ``docs/runbook.md``, one section per failure class of ``hints.yaml``.

Generated (``make runbook`` / ``medallion runbook``), never written by hand, so a class cannot be
added without its section; a test fails when the file is stale. Alerts link to the section of
their class: ``<alerts.docs_url>/docs/runbook.md#<class>`` once the org defaults say where the
project's files can be read; until then they name the file in the project, never a made-up URL.
"""

from __future__ import annotations

from medallion.failures import Catalog, load_catalog
from medallion.spec.docs_url import DOCS_URL_PLACEHOLDER, RUNBOOK_PATH, docs_url_missing
from medallion.spec.models import AlertRouting

__all__ = ["DOCS_URL_PLACEHOLDER", "RUNBOOK_PATH", "docs_url_missing", "render_runbook", "runbook_link"]


def runbook_link(routing: AlertRouting, class_name: str = "") -> str:
    """Where an alert of ``class_name`` sends on-call: the pipeline's own runbook (``alerts.runbook``),
    else the class's section of the project runbook (a URL when ``alerts.docs_url`` is set)."""
    if routing.runbook:
        return routing.runbook
    section = RUNBOOK_PATH + (f"#{class_name}" if class_name else "")
    if docs_url_missing(routing.docs_url):
        return section
    return f"{routing.docs_url.rstrip('/')}/{section}"  # type: ignore[union-attr]


_INTRO = """\
# On-call runbook

<!-- Generated from include/medallion/alerts/hints.yaml by `make runbook`; edit that file, not this one. -->

Every alert names its **class** (the `Class:` line) and links to the section of that class below.
An alert also says what failed (layer, task, logical date, try), the error, whether Airflow retries
the task (`Retry:`), the owners, links (Airflow log, quality report, Databricks run page) and two
commands: reproduce locally (`medallion run <pipeline> --date <ds>`) and re-run in Airflow
(`airflow tasks clear …`).

**Retries follow the class.** Code, data and spec errors fail the same way on every try, so they fail
at once without retry: fix the cause, then clear the task. Infrastructure errors (cluster start,
5xx, timeouts, unreachable endpoints) are retried `defaults.retries` times; the alert comes after the
last try.

**Repeats.** The same failure (pipeline, layer, task, class) is alerted once per logical date within
`alerts.dedup_minutes`; the same failure on other dates (a backfill, the next day) is one line in the
first alert's Slack thread. An alert that reached no channel (Slack and e-mail both down) is kept in
the lake bucket under `alerts/_undelivered/` and sent, marked `[late]`, by the next task that reaches
a channel. A task log line `ALERT NOT DELIVERED ANYWHERE` means exactly that.

**Invalid specs** appear as `invalid__<file>` DAGs tagged `medallion:invalid-spec`; their docs and
single failing task carry the errors with file, line and field.
"""


def render_runbook(catalog: Catalog | None = None) -> str:
    """The runbook's Markdown: the intro, then one section per class in catalog order."""
    catalog = catalog or load_catalog()
    lines = [_INTRO]
    for cls in catalog.classes.values():
        retry = (
            "**retried** (infrastructure: it may work on the next try)"
            if cls.retry
            else "**not retried** (it would fail the same way again)"
        )
        lines += ["", f"## {cls.name}", "", f"**{cls.title}**", "", f"- Airflow: {retry}"]
        if cls.layers:
            lines.append(f"- Layers: {', '.join(cls.layers)}")
        if cls.patterns:
            lines.append("- Recognised by: " + ", ".join(f"`{p.pattern}`" for p in cls.patterns))
        lines += ["", cls.hint]
    return "\n".join(lines) + "\n"
