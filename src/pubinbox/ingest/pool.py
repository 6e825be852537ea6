"""Parsing in worker processes: results in input order, a bounded window ahead.

The writer side (numbering, threading, the databases) stays in one process
and in order; parsing a message, the costly part, is done by up to *jobs*
worker processes (forked, so they share what the parent imported).  At most
*window* tasks are in flight, so a slow consumer never piles up results in
memory, however large the input.  Callers send a batch of messages per
task: one round trip per batch, not per message.  A :class:`Pool` can be
kept for a whole run (the indexer hands it work while it is still walking
git, then the rest in order); :func:`ordered_map` is one use of a pool.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

__all__ = ["Pool", "ordered_map"]

T = TypeVar("T")
R = TypeVar("R")


class Pool:
    """*jobs* worker processes, started on the first task."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, fn: Callable[[T], R], item: T) -> Future[R]:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.jobs)
        return self._pool.submit(fn, item)

    def ordered_map(self, fn: Callable[[T], R], items: Iterable[T], *, window: int) -> Iterator[R]:
        """``map(fn, items)``, at most *window* items submitted ahead of the
        one being yielded."""
        pending: deque[Future[R]] = deque()
        for item in items:
            pending.append(self.submit(fn, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def close(self) -> None:
        """Stop the workers (tasks not started are dropped)."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ordered_map(fn: Callable[[T], R], items: Iterable[T], *, jobs: int, window: int) -> Iterator[R]:
    """``map(fn, items)`` computed by *jobs* processes, at most *window*
    items submitted ahead of the one being yielded."""
    with Pool(jobs) as pool:
        yield from pool.ordered_map(fn, items, window=window)
