"""Work spread over spawned worker processes, in order and with bounded memory.

Used where Python, not the engine, is the bottleneck (SHAP for batch scores, Feast's value encoding
for the online store): each worker takes one core; results come back in input order, with at most
`in_flight` items per worker queued, so memory stays bounded by a few batches whatever the input.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def available_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def map_in_processes(function: Callable[[T], R], items: Iterable[T], *, workers: int,
                     initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = (),
                     in_flight: int = 2) -> Iterator[R]:
    """`function` over `items` in `workers` spawned processes, yielding results in input order.

    Spawned, never forked: the caller may hold engine threads. `function` and `initializer` must be
    importable module-level functions. An error in a worker cancels the rest and is raised here.
    """
    import multiprocessing
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=initializer, initargs=initargs) as pool:
        pending: deque = deque()
        try:
            for item in items:
                pending.append(pool.submit(function, item))
                if len(pending) >= in_flight * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
