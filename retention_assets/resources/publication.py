"""The run guard: one run at a time per data directory, and recovery before it starts.

Nested in the engine resource, so every run that computes a table holds the data directory's run lock
from its first step to its last (the in-process executor sets resources up once per run) and first
undoes what failed or killed runs left (`publication.switch.recover`). With the multiprocess
executor each step sets resources up in its own process, so the guard neither locks (steps of one run
run side by side) nor recovers there: the run queue (dagster.yaml) keeps such runs one at a time and
the release step recovers under the lock.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from retention_assets.resources.feature_store import FeatureStoreResource
from retention_assets.resources.tracking import MlflowTracking


class RunGuard(dg.ConfigurableResource):
    """Holds the run lock of `data_dir` for the run and recovers first (see the module docstring)."""

    data_dir: str
    tracking: MlflowTracking
    feast: FeatureStoreResource
    _stack: ExitStack | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        from retention_assets.profiles import executor_name

        run = context.run
        if executor_name() != "in_process" or run is None:
            return
        from retention_assets.core.run_lock import data_dir_lock

        stack = ExitStack()
        stack.enter_context(data_dir_lock(Path(self.data_dir), on_wait=lambda pid: context.log.info(
            f"another run (pid {pid}) is using {self.data_dir}; waiting for it to finish")))
        self._stack = stack
        try:
            self.recover(run.run_id, context.log, context.instance)
        except BaseException:
            stack.close()
            raise

    def recover(self, run_id: str | None, log=None, instance: dg.DagsterInstance | None = None):
        """Undo what earlier runs left (call it holding the run lock); `instance` says which runs succeeded."""
        from retention_assets.publication.switch import recover

        def succeeded(other: str) -> bool:
            record = instance.get_run_by_id(other) if instance is not None else None
            return record is not None and record.status == dg.DagsterRunStatus.SUCCESS

        done = recover(Path(self.data_dir), self.tracking.config(), self.feast.layout(), run_id, succeeded)
        if done.changed and log is not None:
            log.info(f"recovered the data directory: {done.describe()}")
        return done

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None
