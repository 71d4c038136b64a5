"""Local emulator of the Databricks Jobs API subset used by the Airflow Databricks provider.

The real provider operators (``DatabricksWorkflowTaskGroup`` + ``DatabricksNotebookOperator``,
``DatabricksSubmitRunOperator``) talk to it over HTTP exactly as they talk to a workspace, and the
notebooks really run (PySpark on DuckDB through sqlframe, see ``notebook_runner``). Runs follow the
Databricks state machine (PENDING -> RUNNING -> TERMINATED / INTERNAL_ERROR / SKIPPED) so that
operator polling, failure extraction, cancel and timeouts behave as in production.

One worker thread executes runs in submission order and the tasks of a run in dependency order;
only one notebook runs at a time because the DuckDB lakehouse file allows a single writer.

Modules, one concern each: ``model`` (run/job records, states, API errors), ``tasks`` (task graph,
request bodies to tasks), ``clusters``, ``notebooks`` (notebook paths, abandonable notebook calls),
``engine`` (jobs and runs operations), ``worker`` (execution, retries, timeouts), ``views`` (GET
bodies), ``api`` (2.1/2.2 routes) and ``server`` (HTTP); this module is the service that binds them.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from medallion.duck import S3Settings
from medallion.local.databricks.engine import Engine
from medallion.local.databricks.server import Handler, Server
from medallion.local.service import LocalService, serve_in_background, shut_down

log = logging.getLogger(__name__)


class DatabricksEmulator(LocalService):
    """HTTP emulator of the Databricks Jobs API (2.1 and 2.2) that runs notebooks on DuckDB.

    Point an Airflow ``databricks`` connection at it with ``host=127.0.0.1``, ``port=<port>``,
    ``schema=http`` and any non-empty token as password (see ``connection_json``).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        project_dir: Path,
        workspace_root: str = "/Workspace/medallion",
        lakehouse_path: Path,
        s3: S3Settings | None = None,
        cluster_start_seconds: float = 0.5,
    ) -> None:
        """``cluster_start_seconds`` is the simulated start-up (or attach, for an existing cluster) of
        each cluster a run uses; meanwhile the run is RUNNING and its task PENDING. Keep it above
        zero: the workflow ``launch`` operator fails unless it sees the fresh run PENDING or RUNNING,
        so a run must not end instantly.
        """
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"The Databricks emulator binds to loopback only, not {host!r}.")
        self._address = (host, port)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._engine = Engine(
            project_dir=project_dir,
            workspace_root=workspace_root,
            lakehouse_path=lakehouse_path,
            s3=s3,
            base_url=lambda: self.url,
            cluster_start_seconds=cluster_start_seconds,
        )

    def start(self) -> DatabricksEmulator:
        """Bind the port and start the HTTP and worker threads (once: a stopped emulator is done)."""
        if self._server is not None:
            return self
        if self._engine.stopped:
            raise RuntimeError("A stopped Databricks emulator cannot be restarted; create a new one.")
        server = Server(self._address, Handler)
        server.emulator = self
        self._server = server
        self._engine.start()
        self._thread = serve_in_background(server, "databricks-emulator", poll_interval=0.05)
        log.info("Databricks emulator listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and cancel what is still running (notebook threads are abandoned)."""
        if self._server is None:
            return
        shut_down(self._server, self._thread)
        self._engine.stop()
        self._server = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("The Databricks emulator is not started.")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._address[0]}:{self.port}"

    def stats(self) -> dict[str, Any]:
        """Counters: ``cluster_launches`` (billed launches), ``runs``, ``notebooks_executed``..."""
        return self._engine.stats()

    def inject_faults(self, *, cluster_start_failure: bool = False) -> None:
        """Python twin of ``POST /emulator/faults``: the next run's clusters fail to start."""
        self._engine.set_faults({"cluster_start_failure": cluster_start_failure})

    def connection_json(self, token: str = "local-emulator-token") -> str:
        """Airflow connection (``AIRFLOW_CONN_<ID>`` JSON) that points the provider here."""
        host, port = self._address[0], self.port
        return json.dumps({"conn_type": "databricks", "host": host, "port": port, "schema": "http", "password": token})
