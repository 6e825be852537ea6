"""Parsing in worker processes: results in input order, a bounded window ahead.

The writer side (numbering, threading, the databases) stays in one process
and in order; parsing a message, the costly part, is done by up to *jobs*
worker processes (forked, so they share what the parent imported).  At most
*window* tasks are in flight, so a slow consumer never piles up results in
memory, however large the input.  Callers send a batch of messages per
task: one round trip per batch, not per message.  A :class:`Pool` can be
kept for a whole run (the indexer hands it work while it is still walking
git, then the rest in order); :func:`ordered_map` is one use of a pool.

Tasks go to the workers in turn, each over its own pipe, and each worker
answers in the order it was asked: the writing process reads a result
when it needs it, with no thread of its own.  (``concurrent.futures``
gave it two, a feeder and a result reader, which took the interpreter
lock from the writer for every task: an eighth of its time in an index.)
A worker reads its tasks in a thread of its own, so that a large task
never waits for a result the writer has not read yet.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import queue
import signal
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

from pubinbox.errors import IndexingError

__all__ = ["Pool", "PoolBroken", "Task", "ordered_map"]

T = TypeVar("T")
R = TypeVar("R")

#: a task's result not read yet
_PENDING: Any = object()


class PoolBroken(IndexingError):
    """A worker process died (killed, out of memory)."""


class Task(Generic[R]):
    """A task sent to one worker; :meth:`result` waits for it."""

    __slots__ = ("_error", "_value", "_worker")

    def __init__(self, worker: _Worker) -> None:
        self._worker = worker
        self._value: Any = _PENDING
        self._error: BaseException | None = None

    def done(self) -> bool:
        """Whether the result is here (reads what has arrived, never waits)."""
        while self._value is _PENDING and self._error is None and self._worker.receive(block=False):
            pass
        return self._value is not _PENDING or self._error is not None

    def result(self) -> R:
        while self._value is _PENDING and self._error is None:
            self._worker.receive(block=True)
        if self._error is not None:
            raise self._error
        value: R = self._value
        return value


class _Worker:
    """One forked process, its pipe, and the tasks it has not answered."""

    def __init__(self, others: list[_Worker], nice: int = 0) -> None:
        here, there = multiprocessing.Pipe(duplex=True)  # a socket pair
        for end in (here, there):
            _roomy(end)
        ctx = multiprocessing.get_context("fork")
        # the child closes our ends of its pipe and of the workers forked
        # before it: a worker must see EOF when this process closes its pipe
        ends = [here, *(w.conn for w in others)]
        self.proc = ctx.Process(target=_serve, args=(there, ends, nice), daemon=True)
        self.proc.start()
        there.close()
        self.conn: Connection = here
        self.waiting: deque[Task[Any]] = deque()

    def send(self, fn: Callable[[Any], Any], item: Any) -> Task[Any]:
        task: Task[Any] = Task(self)
        try:
            self.conn.send_bytes(pickle.dumps((fn, item), pickle.HIGHEST_PROTOCOL))
        except OSError as e:
            raise PoolBroken(f"a parsing process is gone: {e}") from e
        self.waiting.append(task)
        return task

    def receive(self, *, block: bool) -> bool:
        """Read the next answer into its task; False if none is there yet."""
        if not self.waiting:
            return False
        try:
            if not block and not self.conn.poll(0):
                return False
            data = self.conn.recv_bytes()
        except (EOFError, OSError) as e:
            code = self.proc.exitcode
            raise PoolBroken(f"a parsing process is gone (exit status {code}): {e!r}") from e
        ok, value = pickle.loads(data)
        task = self.waiting.popleft()
        if ok:
            task._value = value
        else:
            task._error = value
        return True

    def close(self) -> None:
        self.conn.close()  # the worker reads EOF and stops
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()


#: bytes a worker's socket holds each way: results of several tasks (a
#: chunk of 128 messages parsed is 70-100 KiB), so that a worker goes on
#: to its next task while the writer has not read the last result yet
#: (the default, 208 KiB less overhead, held one or two: the workers
#: waited, 10% of their time)
SOCKET_BUFFER = 1 << 20


def _roomy(conn: Connection) -> None:
    """Give *conn*'s socket :data:`SOCKET_BUFFER` bytes each way (the
    kernel may cap it: ``net.core.wmem_max``, ``rmem_max``)."""
    with socket.fromfd(conn.fileno(), socket.AF_UNIX, socket.SOCK_STREAM) as sock:  # a dup of the descriptor
        for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)


def _serve(conn: Connection, parent_ends: list[Connection], nice: int) -> None:
    """A worker: tasks read by a thread, done in order, answered in order,
    until the parent closes the pipe (what is still queued is dropped)."""
    for end in parent_ends:
        end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ^C is the parent's to handle
    if nice:
        with contextlib.suppress(OSError):
            os.nice(nice)
    tasks: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    closed = threading.Event()

    def read() -> None:
        try:
            while True:
                tasks.put(conn.recv_bytes())
        except (EOFError, OSError):
            closed.set()
            tasks.put(None)

    threading.Thread(target=read, daemon=True).start()
    while (data := tasks.get()) is not None and not closed.is_set():
        fn, item = pickle.loads(data)
        try:
            out = pickle.dumps((True, fn(item)), pickle.HIGHEST_PROTOCOL)
        except BaseException as e:  # noqa: BLE001 - handed to the caller, as concurrent.futures does
            try:
                out = pickle.dumps((False, e), pickle.HIGHEST_PROTOCOL)
            except Exception:  # noqa: BLE001 - an exception that does not pickle
                out = pickle.dumps((False, RuntimeError(f"in a parsing process: {e!r}")), pickle.HIGHEST_PROTOCOL)
        try:
            conn.send_bytes(out)
        except OSError:
            break  # the parent is gone
    os._exit(0)


class Pool:
    """*jobs* worker processes, started on the first task; with *aside*,
    one more, for :meth:`submit_aside` only.  *nice*: the workers' (not
    the aside's) priority below this process's (``os.nice``): what runs
    here waits for no one when it has work, they take the rest."""

    def __init__(self, jobs: int, *, aside: bool = False, nice: int = 0) -> None:
        self.jobs = jobs
        self.aside = aside
        self.nice = nice
        self._workers: list[_Worker] = []
        self._aside: _Worker | None = None
        self._next = 0

    @property
    def started(self) -> bool:
        """Whether the workers are running (a task was sent)."""
        return bool(self._workers)

    def _start(self) -> None:
        # all at once: forked while the caller holds no database lock
        for _ in range(self.jobs):
            self._workers.append(_Worker(self._workers, self.nice))
        if self.aside:
            self._aside = _Worker(self._workers)

    def submit(self, fn: Callable[[T], R], item: T) -> Task[R]:
        if not self._workers:
            self._start()
        w = self._workers[self._next]
        self._next = (self._next + 1) % len(self._workers)
        return w.send(fn, item)

    def submit_aside(self, fn: Callable[[T], R], item: T) -> Task[R]:
        """A task for the process kept aside: it never waits behind the
        others' tasks, nor they behind it (the pool must be started)."""
        if self._aside is None:
            raise ValueError("no worker aside, or the pool is not started")
        return self._aside.send(fn, item)

    def ordered_map(self, fn: Callable[[T], R], items: Iterable[T], *, window: int) -> Iterator[R]:
        """``map(fn, items)``, at most *window* items submitted ahead of the
        one being yielded."""
        pending: deque[Task[R]] = deque()
        for item in items:
            pending.append(self.submit(fn, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def close(self) -> None:
        """Stop the workers (tasks not done are dropped)."""
        workers, self._workers = self._workers, []
        if self._aside is not None:
            workers.append(self._aside)
            self._aside = None
        for w in workers:
            w.close()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ordered_map(fn: Callable[[T], R], items: Iterable[T], *, jobs: int, window: int) -> Iterator[R]:
    """``map(fn, items)`` computed by *jobs* processes, at most *window*
    items submitted ahead of the one being yielded."""
    with Pool(jobs) as pool:
        yield from pool.ordered_map(fn, items, window=window)
