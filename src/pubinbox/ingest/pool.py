"""Parsing in worker processes: results in input order, a bounded window ahead.

The writer side (numbering, threading, the databases) stays in one process
and in order; parsing a message, the costly part, is done by up to *jobs*
worker processes (forked, so they share what the parent imported).  At most
*window* tasks are in flight, so a slow consumer never piles up results in
memory, however large the input.  Callers send a batch of messages per
task: one round trip per batch, not per message.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

__all__ = ["ordered_map"]

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(fn: Callable[[T], R], items: Iterable[T], *, jobs: int, window: int) -> Iterator[R]:
    """``map(fn, items)`` computed by *jobs* processes, at most *window*
    items submitted ahead of the one being yielded."""
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        pending: deque[Future[R]] = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
