"""A Sail Spark Connect server in a subprocess whose catalog `main` is a Unity Catalog (the stand-in's): the
engine of the stand-in workspace's clusters, for the tests and the Databricks benchmark."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

SAIL_START_TIMEOUT_SECONDS = 60.0
# variables that Sail's unity provider would read as its configuration (DATABRICKS_*, UNITY_*, UC_*), or Sail's own
_SAIL_HIDDEN_ENV_PREFIXES = ("DATABRICKS_", "UNITY_", "UC_", "SAIL_", "SPARK_REMOTE")


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
