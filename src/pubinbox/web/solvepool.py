"""Where the git-heavy pages run (blob solves, series mboxes, range-diffs):
off the event loop, a few at a time for the whole server.

* **Slots**: at most ``pubinbox.solveProcesses`` (default: the cores but
  one, at least 1) of these requests run at once across every worker (the
  slots are githttp's abstract sockets, so a killed worker frees its
  own); the others wait up to :data:`WAIT` seconds, at most
  ``githttp.QUEUE`` of them per worker; past either, a 503.
* **Threads**: a small pool of this worker's own.  The solver's git
  (``git apply``, ``cat-file``) runs niced (solver/batch.py), so with
  every core busy solving, the event loop and the other pages still get
  the CPU first.  The threads themselves are not niced: one holding the
  GIL must not wait behind other processes while the event loop waits
  for it.

A slot is held until the thread is done, also when the client has gone.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from pubinbox.config import Config
from pubinbox.web.githttp import Slots

__all__ = ["WAIT", "SolvePool", "solve_processes"]

T = TypeVar("T")

#: seconds a request waits for a slot before a 503
WAIT = 10.0


def solve_processes(config: Config) -> int:
    default = max(1, (os.cpu_count() or 1) - 1)
    return max(1, int(config.number("pubinbox.solveprocesses", default)))


class SolvePool:
    def __init__(self, n: int, key: str) -> None:
        self.n = n
        self.slots = Slots(n, f"solve:{key}")
        self.threads = ThreadPoolExecutor(max_workers=n, thread_name_prefix="solve")

    async def run(self, fn: Callable[[], T]) -> T | None:
        """*fn()* in a pool thread once a slot is free; None when none came
        free in time or too many wait."""
        loop = asyncio.get_running_loop()
        slot = await self.slots.acquire(loop.time() + WAIT)
        if slot is None:
            return None
        try:
            fut: Future[T] = self.threads.submit(contextvars.copy_context().run, fn)  # the request's context
        except BaseException:
            slot.close()
            raise
        # also when the client left first; in the loop (a per-process slot is an asyncio.Semaphore)
        fut.add_done_callback(lambda _f: loop.call_soon_threadsafe(slot.close))
        return await asyncio.wrap_future(fut)

    def close(self) -> None:
        self.threads.shutdown(wait=False, cancel_futures=True)
