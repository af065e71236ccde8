"""Small helpers for tests that drive the stand-in workspace with the real `databricks-sdk` client."""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service.jobs import Run


def wait_for_run(client: WorkspaceClient, run_id: int, timeout: float = 90.0, poll_seconds: float = 0.2) -> Run:
    """Polls `jobs.get_run` until the run is over (TERMINATED, SKIPPED or INTERNAL_ERROR) and returns it.

    The SDK's own `submit(...).result()` sleeps 1 s, 2 s, 3 s... between polls (slow for tests) and raises on
    INTERNAL_ERROR instead of returning the run."""
    from databricks.sdk.service.jobs import RunLifeCycleState

    over = {RunLifeCycleState.TERMINATED, RunLifeCycleState.SKIPPED, RunLifeCycleState.INTERNAL_ERROR}
    deadline = time.monotonic() + timeout
    while True:
        run = client.jobs.get_run(run_id)
        if run.state is not None and run.state.life_cycle_state in over:
            return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} is still {run.state} after {timeout} s")
        time.sleep(poll_seconds)


def dbfs_put(client: WorkspaceClient, path: str, data: bytes | str) -> None:
    """Uploads a small file (up to 1 MB) to DBFS with `files.DbfsAPI.put`, as a deployment step would."""
    from databricks.sdk.service import files

    raw = data.encode() if isinstance(data, str) else data
    files.DbfsAPI(client.api_client).put(path, contents=base64.b64encode(raw).decode(), overwrite=True)
