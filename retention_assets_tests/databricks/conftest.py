"""Fixtures of the Databricks track: a stand-in workspace (`workspace.py`) with a Sail Spark Connect server as its
"cluster" engine, whose `unity` catalog `main` is the stand-in's Unity Catalog; and real clients pointed at it.

* `databricks_workspace` (session): a `DatabricksTestWorkspace` with `.host`, `.token`, `.spark_remote`,
  `.root`, `.lake_root` (a `file://` URL for external Delta tables) and `.workspace` (the `StandInWorkspace`).
* `workspace_client`: a real `databricks.sdk.WorkspaceClient` for it (15 s retry window).
* `databricks_env`: `DATABRICKS_HOST` / `DATABRICKS_TOKEN` set (monkeypatch) for clients that read them
  (MLflow's `databricks-uc` registry store).
* `fast_pipes_log_forwarding`: Dagster's Pipes log readers stop 1 s (not 10 s) after a run ends.
* autouse: each test fails if it made the stand-in answer an unknown endpoint or fail internally.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .workspace import StandInWorkspace

TOKEN = "dapi-stand-in-token"
SAIL_START_TIMEOUT_SECONDS = 60.0
# variables that Sail's unity provider would read as its configuration (DATABRICKS_*, UNITY_*, UC_*), or Sail's own
_SAIL_HIDDEN_ENV_PREFIXES = ("DATABRICKS_", "UNITY_", "UC_", "SAIL_", "SPARK_REMOTE")


@dataclass(frozen=True)
class DatabricksTestWorkspace:
    """What the `databricks_workspace` fixture yields."""

    workspace: StandInWorkspace
    spark_remote: str  # sc://127.0.0.1:<port>, the Sail server (the stand-in's "clusters" use it too)
    lake_root: str  # file:///.../lake, a folder for external Delta tables

    @property
    def host(self) -> str:
        return self.workspace.host

    @property
    def token(self) -> str:
        return self.workspace.token

    @property
    def root(self) -> Path:
        return self.workspace.root


class SailServer:
    """A Sail Spark Connect server in a subprocess (`python -m pysail spark server`), configured by environment
    before it starts: one `unity` catalog named `main` backed by the stand-in's Unity Catalog.

    Sail reads its catalogs from `SAIL_CATALOG__LIST` (TOML-like inline tables) and `SAIL_CATALOG__DEFAULT_CATALOG`
    (a quoted string); the unity provider needs `default_catalog="main"` too (else it maps `main.<schema>` to the
    Unity catalog `unity`) and `UNITY_ALLOW_HTTP_URL=true` for an `http://` URL. Managed tables get their storage
    from the catalog (`staging-tables`), so no warehouse folder is configured (Sail 0.7.2 has no setting for one:
    `spark.sql.warehouse.dir` is a session conf).
    """

    def __init__(self, unity_uri: str, token: str, log_path: Path) -> None:
        self.unity_uri = unity_uri
        self.token = token
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def remote(self) -> str:
        return f"sc://127.0.0.1:{self.port}"

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_SAIL_HIDDEN_ENV_PREFIXES)}
        env["SAIL_CATALOG__LIST"] = (f'[{{name="main", type="unity", uri="{self.unity_uri}", token="{self.token}", '
                                     f'default_catalog="main"}}]')
        env["SAIL_CATALOG__DEFAULT_CATALOG"] = '"main"'
        env["UNITY_ALLOW_HTTP_URL"] = "true"
        return env

    def start(self) -> None:
        for _ in range(3):  # the port is picked free, then bound by Sail: another process may take it between
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "pysail", "spark", "server", "--ip", "127.0.0.1", "--port", str(self.port)],
                    env=self._environment(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
            if self._wait_until_listening():
                return
        raise RuntimeError(f"the Sail server did not start; its log: {self.log_path}\n{self.log_path.read_text()}")

    def _wait_until_listening(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + SAIL_START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                time.sleep(0.05)
        self.stop()
        return False

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@pytest.fixture(scope="session")
def databricks_workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabricksTestWorkspace]:
    """The stand-in workspace (started first, so its port is known), then Sail (whose `main` catalog is the
    stand-in's Unity Catalog), then the stand-in learns Sail's `sc://` URL for its clusters."""
    root = tmp_path_factory.mktemp("databricks")
    lake = root / "lake"
    lake.mkdir()
    workspace = StandInWorkspace(root / "workspace", TOKEN).start()
    sail = SailServer(f"{workspace.host}/api/2.1/unity-catalog", TOKEN, root / "sail.log")
    try:
        sail.start()
        workspace.spark_remote = sail.remote
        yield DatabricksTestWorkspace(workspace=workspace, spark_remote=sail.remote, lake_root=lake.as_uri())
    finally:
        workspace.stop()
        sail.stop()
    assert not workspace.internal_errors, f"the stand-in workspace failed: {workspace.internal_errors}"


@pytest.fixture(autouse=True)
def _no_unknown_endpoints(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that uses the stand-in must not reach an endpoint it does not implement (a real client then got a
    made-up 404), nor make it fail internally."""
    if "databricks_workspace" not in request.fixturenames:
        yield
        return
    workspace: StandInWorkspace = request.getfixturevalue("databricks_workspace").workspace
    unknown, errors = len(workspace.unknown_calls), len(workspace.internal_errors)
    yield
    assert workspace.unknown_calls[unknown:] == [], "calls to endpoints the stand-in does not implement"
    assert workspace.internal_errors[errors:] == [], "the stand-in workspace failed internally"


@pytest.fixture
def workspace_client(databricks_workspace: DatabricksTestWorkspace):
    """A real `WorkspaceClient` for the stand-in (a short retry window: an unreachable host fails in 15 s)."""
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.core import Config

    return WorkspaceClient(config=Config(host=databricks_workspace.host, token=databricks_workspace.token,
                                         retry_timeout_seconds=15))


@pytest.fixture
def databricks_env(databricks_workspace: DatabricksTestWorkspace, monkeypatch: pytest.MonkeyPatch
                   ) -> DatabricksTestWorkspace:
    """`DATABRICKS_HOST` and `DATABRICKS_TOKEN` for the clients that read them (MLflow's `databricks-uc` store)."""
    for key in [k for k in os.environ if k.startswith("DATABRICKS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DATABRICKS_HOST", databricks_workspace.host)
    monkeypatch.setenv("DATABRICKS_TOKEN", databricks_workspace.token)
    return databricks_workspace


@pytest.fixture
def fast_pipes_log_forwarding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dagster's Pipes log readers (e.g. `PipesDbfsLogReader` for driver logs) keep polling for 10 s after a run
    ends, for late log delivery: 1 s here. (Give the readers a small `interval` too: 10 s by default.)"""
    monkeypatch.setattr("dagster._core.pipes.utils.WAIT_FOR_LOGS_AFTER_EXECUTION_INTERVAL", 1)
