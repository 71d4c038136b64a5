"""Third-party log noise we cannot fix at its source, silenced at the narrowest scope.

Every entry names one logger (or the module a Python warning is attributed to) and one
message; nothing else from that logger is touched. Noise whose cause is ours is fixed where it
arises instead (cosmos ``emit_datasets``, Databricks task keys, GE's ``base`` logger level):
see README "Readable task logs". Installed when the package is imported, before cosmos is.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass


@dataclass(frozen=True)
class LogNoise:
    """One message from one logger that says nothing a person reading a task log can act on."""

    logger: str
    message: str  # regular expression, searched in the formatted message (cosmos may prefix its own tag)
    why: str

    def matches(self, record: logging.LogRecord) -> bool:
        return re.search(self.message, record.getMessage()) is not None


@dataclass(frozen=True)
class WarningNoise:
    """One Python warning raised on behalf of one third-party module."""

    module: str  # the module the warning is attributed to (``warnings`` ``module=``)
    message: str
    why: str


LOG_NOISE: tuple[LogNoise, ...] = (
    LogNoise(
        "cosmos.operators.local",
        r"To enable emitting Openlineage events, install apache-airflow-providers-openlineage",
        "cosmos asks for the OpenLineage provider at import; whether we emit lineage is issue #16's decision",
    ),
    LogNoise(
        "airflow.sdk.definitions.dag",
        r"No tasks to run\. unrunnable tasks:",
        "dag.test() (local runs only) repeats it every second while a task waits for its retry or sits behind "
        "a failed upstream, with every task instance's repr; the run summary names failed and skipped tasks",
    ),
    LogNoise(
        "airflow.sdk._shared.configuration.parser",
        r"section/key \[openlineage/namespace\] not found in config",
        "cosmos reads [openlineage] namespace at import; the section exists only with the OpenLineage provider",
    ),
)

WARNING_NOISE: tuple[WarningNoise, ...] = (
    WarningNoise(
        r"airflow\.providers\.databricks\.hooks\.databricks_base",
        r"ProvidersManager\.hooks is deprecated",
        "the Databricks provider builds its user agent from the deprecated ProvidersManager on every hook",
    ),
    WarningNoise(
        r"airflow\.models\.connection",
        r"ProvidersManager\.hooks is deprecated",
        "Airflow's LocalFilesystemBackend (the local runtime's connections) returns core Connection objects "
        "whose get_hook() still uses the deprecated ProvidersManager; deployed workers get task-SDK connections",
    ),
)


class _DropNoise(logging.Filter):
    """Drops the listed messages of the logger it is attached to."""

    def __init__(self, noise: tuple[LogNoise, ...]) -> None:
        super().__init__()
        self.noise = noise

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(n.matches(record) for n in self.noise)


def install() -> None:
    """Attach the filters (idempotent); must run before the noisy modules are imported."""
    for name in {n.logger for n in LOG_NOISE}:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropNoise) for f in logger.filters):
            logger.addFilter(_DropNoise(tuple(n for n in LOG_NOISE if n.logger == name)))
    for noise in WARNING_NOISE:
        warnings.filterwarnings("ignore", message=noise.message, module=noise.module)


#: Loggers whose INFO lines a person reading a task log needs (rows landed and committed, each
#: gate's verdict and report, the Databricks run page of each notebook task) while the rest of a local run logs at
#: WARNING; deployments log everything at INFO, where these show anyway.
USEFUL_LOGGERS: tuple[str, ...] = (
    "airflow.task.operators.medallion",  # the factory's operators (bronze, gates, preflight)
    "medallion",  # module loggers (alerts sent, dbt outcomes)
)


def namespace_levels() -> str:
    """Airflow's ``[logging] namespace_levels`` value that keeps :data:`USEFUL_LOGGERS` at INFO."""
    return " ".join(f"{name}=INFO" for name in USEFUL_LOGGERS)
