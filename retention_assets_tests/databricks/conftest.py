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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .sail import SailServer
from .workspace import StandInWorkspace

TOKEN = "dapi-stand-in-token"


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
