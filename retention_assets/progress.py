"""One short line per step of an in-process run, printed while it runs (the CLI's feedback on long work).

A background thread follows the run's event log (step start, success, failure) on the instance the run
writes to; the run itself keeps the main thread, so nothing about how it executes changes.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

import dagster as dg

STEP_EVENTS = {dg.DagsterEventType.STEP_START: "started", dg.DagsterEventType.STEP_SUCCESS: "done",
               dg.DagsterEventType.STEP_FAILURE: "FAILED"}


def step_line(elapsed: float, step: str, verb: str, took: float | None = None) -> str:
    """`[  1m05s] done     churn_model (38s)`: elapsed since the run started, the step, its own time."""
    def clock(seconds: float) -> str:
        minutes, secs = divmod(round(seconds), 60)
        return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"

    suffix = f" ({clock(took)})" if took is not None else ""
    return f"[{clock(elapsed):>6}] {verb:8} {step}{suffix}"


class RunProgress:
    """Use as a context manager around `execute_in_process(run_id=progress.run_id, ...)`."""

    def __init__(self, instance: dg.DagsterInstance, run_id: str, out: TextIO | None = None,
                 interval: float = 0.5) -> None:
        self.instance, self.run_id, self.out, self.interval = instance, run_id, out or sys.stdout, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="retention-progress", daemon=True)
        self._cursor: str | None = None
        self._started: dict[str, float] = {}
        self._t0 = time.time()

    def __enter__(self) -> RunProgress:
        self._t0 = time.time()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._poll()  # the last steps' lines

    def _follow(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._poll()
            except Exception as exc:  # noqa: BLE001 - progress is a courtesy; the run's own result is what counts
                print(f"(progress unavailable: {exc})", file=sys.stderr, flush=True)
                return

    def _poll(self) -> None:
        if self.instance.get_run_by_id(self.run_id) is None:
            return
        connection = self.instance.get_records_for_run(self.run_id, cursor=self._cursor,
                                                       of_type=set(STEP_EVENTS))
        self._cursor = connection.cursor
        for record in connection.records:
            event = record.event_log_entry.dagster_event
            if event is None or not event.step_key:
                continue
            now = record.event_log_entry.timestamp
            verb = STEP_EVENTS[event.event_type]
            took = None if verb == "started" else now - self._started.get(event.step_key, now)
            self._started.setdefault(event.step_key, now)
            print(step_line(now - self._t0, event.step_key, verb, took), file=self.out, flush=True)
