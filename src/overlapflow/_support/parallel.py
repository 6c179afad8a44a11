"""Independent jitted runs on all cores: one thread per core.

XLA executes a computation on the thread that launches it, and JAX releases the GIL while it
runs, so independent runs (the lane groups of the twins study, the runs of `scaling`) launched
from a thread pool learn in parallel, one per core. Results come back in input order.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from . import interrupt as _interrupt

__all__ = ["available_cores", "map_threaded"]


def available_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity on this OS
        return max(1, os.cpu_count() or 1)


def map_threaded(fn, items, workers: int | None = None) -> list:
    """[fn(x) for x in items], run by `workers` threads (default: one per available core).

    On Ctrl-C the items not started are cancelled and the running ones are waited for before
    KeyboardInterrupt propagates: no thread is left running XLA behind the caller's back.
    """
    items = list(items)
    workers = min(len(items), workers or available_cores())
    if workers <= 1:
        out = []
        for x in items:
            _interrupt.check()
            out.append(fn(x))
        return out

    def guarded(x):
        _interrupt.check()  # the command was interrupted: start nothing new
        return fn(x)

    pool = ThreadPoolExecutor(max_workers=workers)
    futures = []
    try:
        futures.extend(pool.submit(guarded, x) for x in items)
        return [f.result() for f in futures]
    except BaseException:
        for f in futures:
            f.cancel()
        raise
    finally:
        while True:  # a second Ctrl-C must not leave the workers running
            try:
                pool.shutdown(wait=True, cancel_futures=True)
                break
            except KeyboardInterrupt:
                continue
