"""Where the git-heavy pages run (blob solves, series mboxes, range-diffs):
off the event loop, a few at a time for the whole server, at low priority.

* **Slots**: at most ``pubinbox.solveProcesses`` (default: the cores but
  one, at least 1) of these requests run at once across every worker (the
  slots are githttp's abstract sockets, so a killed worker frees its
  own); the others wait up to :data:`WAIT` seconds, at most
  ``githttp.QUEUE`` of them per worker; past either, a 503.
* **Threads**: a small pool of this worker's own, whose threads lower
  their scheduling priority (``nice`` +:data:`NICE`, per thread on
  Linux) when they start; the ``git apply`` and ``git cat-file`` they
  spawn inherit it.  So with every core busy solving, the event loop and
  the other pages still get the CPU first.

A slot is held until the thread is done, also when the client has gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from pubinbox.config import Config
from pubinbox.web.githttp import Slots

__all__ = ["NICE", "WAIT", "SolvePool", "solve_processes"]

T = TypeVar("T")

#: added to the niceness of the pool's threads (and so of their git)
NICE = 10
#: seconds a request waits for a slot before a 503
WAIT = 10.0


def solve_processes(config: Config) -> int:
    default = max(1, (os.cpu_count() or 1) - 1)
    return max(1, int(config.number("pubinbox.solveprocesses", default)))


def _lower_priority() -> None:
    if sys.platform != "linux":  # elsewhere the niceness is the whole process's
        return
    tid = threading.get_native_id()
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + NICE))


class SolvePool:
    def __init__(self, n: int, key: str) -> None:
        self.n = n
        self.slots = Slots(n, f"solve:{key}")
        self.threads = ThreadPoolExecutor(max_workers=n, thread_name_prefix="solve", initializer=_lower_priority)

    async def run(self, fn: Callable[[], T]) -> T | None:
        """*fn()* in a pool thread once a slot is free; None when none came
        free in time or too many wait."""
        loop = asyncio.get_running_loop()
        slot = await self.slots.acquire(loop.time() + WAIT)
        if slot is None:
            return None
        try:
            fut: Future[T] = self.threads.submit(fn)
        except BaseException:
            slot.close()
            raise
        # also when the client left first; in the loop (a per-process slot is an asyncio.Semaphore)
        fut.add_done_callback(lambda _f: loop.call_soon_threadsafe(slot.close))
        return await asyncio.wrap_future(fut)

    def close(self) -> None:
        self.threads.shutdown(wait=False, cancel_futures=True)
