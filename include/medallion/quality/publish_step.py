"""The step after a silver or gold gate: publish what the gate audited (write → audit → publish).

``silver_publish`` and ``gold_publish`` are this one operator. It runs only when its gate passed
(a failed gate leaves it ``upstream_failed``, so a failed check publishes nothing) and makes the
audited staging relations the layer's tables through ``quality.publish``, with the run's
provenance. Silver copies only the rows the quarantine step kept (its ``keep`` predicates, pulled
from XCom). Snapshot semantics: when a newer logical date is already published and this run is no
backfill, nothing is published and ``on_kept_back`` sends the warning alert.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from airflow.sdk import BaseOperator

from medallion import connections, layout, wap
from medallion.engines import apply_grants
from medallion.errors import FailureKind, step_errors
from medallion.failures import RetryByClass
from medallion.quality.publish import Publication, PublishedVersion, RunStamp, publish
from medallion.spec.models import PipelineSpec


class PublishOperator(RetryByClass, BaseOperator):
    """Publish ``tables`` of ``layer`` from staging; return what was published (or kept back)."""

    template_fields: Sequence[str] = ()
    ui_color = "#b5d99c"

    def __init__(
        self,
        *,
        spec: PipelineSpec,
        layer: str,
        tables: list[str],
        keep_from: str | None = None,
        on_kept_back: Callable[[PipelineSpec, Any, str, str, list[str]], Any] | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.spec, self.layer, self.tables = spec, layer, list(tables)
        self.keep_from = keep_from  # the quarantine step's task id (silver), whose keep predicates filter rows
        self.on_kept_back = on_kept_back  # passed in by the DAG builder (quality imports no alerts)

    @property
    def failure_layer(self) -> str:  # type: ignore[override]
        return self.layer

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow.sdk import BaseHook

        ds_nodash = str(context["ds"]).replace("-", "")
        pubs = publications(self.spec, self.layer, self.tables, ds_nodash, self._keep(context))
        stamp = run_stamp(self.spec, context)
        out: dict[str, Any] = {"layer": self.layer, "logical_date": stamp.logical_date, "run_id": stamp.run_id}
        if not pubs:
            return out | {"published": []}
        with step_errors(
            "publish",
            ", ".join(self.tables),
            "the data passed its gate but could not be published; the task retries",
            kind=FailureKind.GATE_INFRA,
        ):
            lakehouse = BaseHook.get_connection(connections.LAKEHOUSE_SQL)
            result = publish(
                lakehouse,
                pubs,
                stamp=stamp,
                backfill=is_backfill(context),
                drop_schema=layout.gold_staging_schema(self.spec, ds_nodash) if self.layer == "gold" else None,
            )
        if result.skipped:
            summary, details = kept_back_summary(self.layer, stamp, result.kept_newer, [p.staging for p in pubs])
            self.log.warning("%s\n  %s", summary, "\n  ".join(details))
            if self.on_kept_back is not None:
                self.on_kept_back(self.spec, context, self.layer, summary, details)
            return out | {"published": [], "kept_back": [v.describe() for v in result.kept_newer]}
        self.log.info(
            "published %s (logical date %s, run %s)",
            ", ".join(f"{p.staging} → {p.public}" for p in pubs),
            stamp.logical_date,
            stamp.run_id,
        )
        with step_errors(
            "grants",
            ", ".join(result.published),
            "the tables are published but their grants are not: the lakehouse identity needs MANAGE (or "
            "ownership) on them in Unity Catalog; the task retries",
            kind=FailureKind.GATE_INFRA,
        ):  # the spec's grants (README: Catalog): GRANT/REVOKE on Databricks, recorded on every engine
            granted = apply_grants(lakehouse, self.spec, result.published, stamp.run_id)
        changes = "; ".join(s for g in granted.values() for s in g) or "no GRANT/REVOKE needed"
        self.log.info(
            "grants of %s as the spec sets them (%s), recorded in %s", ", ".join(granted), changes, layout.TABLE_GRANTS
        )
        return out | {"published": result.published, "grants": granted}

    def _keep(self, context: Any) -> dict[str, str]:
        """table → predicate of the rows the quarantine step kept (none without that step)."""
        if not self.keep_from:
            return {}
        handed = context["ti"].xcom_pull(task_ids=self.keep_from) or {}
        return {table: given["keep"] for table, given in handed.items() if given.get("keep")}


def publications(
    spec: PipelineSpec, layer: str, tables: list[str], ds_nodash: str, keep: dict[str, str] | None = None
) -> list[Publication]:
    """One ``Publication`` per table: staged relation → public table, quarantine filter, merge rule."""
    keep = keep or {}
    rules = {r.table: (tuple(r.key), r.version) for r in spec.load.merge}
    return [Publication(wap.staged_relation(spec, layer, t, ds_nodash), t, keep.get(t), rules.get(t)) for t in tables]


def run_stamp(spec: PipelineSpec, context: Any) -> RunStamp:
    return RunStamp(spec.id, str(context["ds"]), str(context["run_id"]), spec.load.semantics)


def is_backfill(context: Any) -> bool:
    """The ``backfill`` DAG param (or run conf): rebuild older dates in date order, publishing each."""
    params = context.get("params") or {}
    conf = getattr(context.get("dag_run"), "conf", None) or {}
    return bool(params.get("backfill") or conf.get("backfill"))


def kept_back_summary(
    layer: str, stamp: RunStamp, kept: list[PublishedVersion], staged: list[str]
) -> tuple[str, list[str]]:
    """The warning alert when a snapshot run older than the published version did not publish."""
    summary = (
        f"{layer} not published: this run's logical date {stamp.logical_date} is older than the published "
        f"version (snapshot load semantics: the latest date wins); the newer data stays published."
    )
    details = [f"published: {v.describe()}" for v in kept]
    details.append("this run's audited outputs stay in " + ", ".join(staged) + " for inspection")
    details.append(
        "to rebuild older dates on purpose, trigger a backfill in date order with the backfill param: "
        f"airflow backfill create --dag-id {stamp.pipeline} --from-date … --to-date … --max-active-runs 1 "
        "--dag-run-conf '{\"backfill\": true}'"
    )
    return summary, details
