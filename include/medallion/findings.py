"""What a task's own tool reported about its nodes (dbt's failed or warned tests and models), as the text
an alert shows.

The layer that ran the tool builds it from the tool's artefacts (``gold.results``); alerting only renders
it (``alerts.content``). Neither imports the other: the DAG builder hands the layer's reader to the alert
callbacks (``factory.alerting``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medallion.spec.models import PipelineSpec


@dataclass(frozen=True)
class NodeFindings:
    """The nodes a task's tool flagged, one entry per node in both tuples."""

    headlines: tuple[str, ...]  # what failed or warned: `dbt test x on m.c: fail, 3 failing row(s)`
    details: tuple[str, ...] = ()  # the long form: where the node's code is, then the tool's message
    kind: str | None = None  # the hints-catalog class the nodes name (None: classify the exception)

    def summary(self, limit: int = 3) -> str:
        """The first ``limit`` headlines on one line (an ellipsis says there are more)."""
        return "; ".join(self.headlines[:limit]) + ("; …" if len(self.headlines) > limit else "")


#: Reads a task's findings from its Airflow context: None when its tool flagged no node (or it ran none).
FindingsReader = Callable[["PipelineSpec", Any], NodeFindings | None]
