"""One run at a time per data directory: a second run waits for the first instead of reading its
half-written outputs (or promoting the model the other trained).

An exclusive `flock` on `<data dir>/.run.lock`, held for the whole run; the kernel releases it when
the holder exits, so a killed run never leaves a stale lock. The holder's pid is written into the
file so a waiting run can say whom it waits for.

Every run takes it: the quickstart around its whole run, and any run launched from the UI, a sensor or
a schedule through the engine resource's run guard (`resources/publication.py`), held from the run's
start to its end. Within one process the lock is re-entrant (the quickstart's run takes it again).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = ".run.lock"
_HELD: dict[Path, int] = {}  # lock files this process holds, with their nesting depth


@contextmanager
def data_dir_lock(data_dir: Path, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the data directory's run lock for the block; if another run holds it, call `on_wait` with
    its pid and block until it is released."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = (data_dir / LOCK_FILE).resolve()
    if path in _HELD:  # this process holds it already (a run inside the quickstart)
        _HELD[path] += 1
        try:
            yield
        finally:
            _HELD[path] -= 1
        return
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            if on_wait is not None:
                on_wait(handle.read().strip() or "unknown")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            _HELD[path] = 1
            yield
        finally:
            _HELD.pop(path, None)
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
