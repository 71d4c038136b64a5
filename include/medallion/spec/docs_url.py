"""Where alerts link the runbook: ``<alerts.docs_url>/docs/runbook.md``, once ``docs_url`` is really set.

Here, at the bottom of the package, because ``validate`` warns about the placeholder (``spec.checks``)
and alerts build their links (``alerts.runbook``) by the same rule.
"""

from __future__ import annotations

RUNBOOK_PATH = "docs/runbook.md"
#: The value ``dag_configs/defaults.yaml`` ships with; ``medallion validate`` warns while it is unchanged.
DOCS_URL_PLACEHOLDER = "https://github.com/<your-org>/<your-repo>/blob/main"


def docs_url_missing(url: str | None) -> bool:
    """True while ``alerts.docs_url`` is unset or still the shipped placeholder."""
    return not url or url.strip() == DOCS_URL_PLACEHOLDER or "<" in url
