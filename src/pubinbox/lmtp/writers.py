"""Inbox writers kept open across LMTP deliveries, with group commit.

``pubinbox mda`` opens a writer per message: the lock, a catch-up walk of
git, a ``git fast-import`` process, and a search-index commit each time.
The LMTP server delivers many messages in one process, so :class:`Writers`
keeps one :class:`~pubinbox.ingest.writer.InboxWriter` per inbox open while
mail flows, owned by one thread per inbox (SQLite handles stay in the
thread that opened them):

- a delivery hands its message to the inbox's thread and waits; the thread
  takes every message waiting (at most :data:`ROUND_MAX`), adds them, and
  makes them durable with one checkpoint (git fast-import's
  ``checkpoint``: pack written and branch moved, then msgmap and the
  overview committed) before any of them is answered: an acknowledged
  message is in git, whatever happens to the process after.  Deliveries
  that overlap (several LMTP connections) thus share a checkpoint: the
  batching window is the time the previous checkpoint took;
- the search index and the patch series, which git does not need, are
  committed at most every :data:`INDEX_SECONDS` (and when the writer
  closes), so new mail is searchable within about a second; if the process
  dies first, the next writer catches them up from the overview;
- a writer idle for :data:`IDLE_SECONDS` is closed (``inbox.lock``
  released for ``pubinbox mda``, ``watch``, ``index``, ``purge`` and other
  serve workers), and one held for :data:`HOLD_SECONDS` is closed and not
  reopened for :data:`PAUSE_SECONDS`, so another writer waiting for the
  lock gets it even while mail keeps coming;
- a failure closes the writer: what was not checkpointed is rolled back and
  those deliveries fail (451, the MTA tries again), messages not tried yet
  go to a new writer.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pubinbox.config import Config, InboxConfig
from pubinbox.errors import StorageError

if TYPE_CHECKING:
    from pubinbox.ingest.writer import AddResult, InboxWriter

log = logging.getLogger(__name__)

#: most messages added under one checkpoint
ROUND_MAX = 200
#: the search index and series are committed at most this often
INDEX_SECONDS = 1.0
#: a writer with no delivery for this long is closed
IDLE_SECONDS = 1.0
#: a writer open this long is closed after its current round ...
HOLD_SECONDS = 10.0
#: ... and not reopened for this long, so that other writers get the lock
PAUSE_SECONDS = 0.25
#: how often an inbox's thread looks at its writer when no mail comes
TICK = 0.2
#: longest wait of a delivery for its inbox's thread (then 451)
DELIVERY_TIMEOUT = 600.0

Result = tuple["AddResult", "str | None"]


@dataclass(eq=False)
class _Job:
    raw: bytes
    done: Future[Result] = field(default_factory=Future)


class _Inbox(threading.Thread):
    """The thread that owns one inbox's writer."""

    def __init__(self, ibx: InboxConfig, conf: Config) -> None:
        super().__init__(name=f"lmtp-{ibx.name}", daemon=True)
        self.ibx = ibx
        self.conf = conf
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.writer: InboxWriter | None = None
        self.opened = 0.0
        self.last_used = 0.0
        self.indexed_at = 0.0
        self.index_dirty = False
        self.stopping = False
        self.dead = False

    # -- the loop ----------------------------------------------------------------------
    def run(self) -> None:
        todo: deque[_Job] = deque()
        try:
            self._loop(todo)
        except Exception as e:  # a bug: fail what waits (451) rather than leave it hanging
            log.exception("lmtp: %s: writer thread failed", self.ibx.name)
            self.dead = True
            while True:
                try:
                    job = todo.popleft() if todo else self.jobs.get_nowait()
                except queue.Empty:
                    break
                if job is not None and not job.done.done():
                    job.done.set_exception(StorageError(f"{self.ibx.name}: {type(e).__name__}: {e}"))
            if self.writer is not None:
                self.writer.abort()
                self.writer = None

    def _loop(self, todo: deque[_Job]) -> None:
        while True:
            if not todo:
                try:
                    job = self.jobs.get(timeout=TICK)
                except queue.Empty:
                    self._tend()
                    continue
                if job is None:
                    break
                todo.append(job)
            while len(todo) < ROUND_MAX:
                try:
                    job = self.jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    self.stopping = True
                    break
                todo.append(job)
            self._round(todo)
            self._tend()
            if self.stopping and not todo:
                break
        self._close()

    def _round(self, todo: deque[_Job]) -> None:
        """Add the waiting messages, checkpoint, answer them."""
        try:
            w = self._open()
        except Exception as e:  # noqa: BLE001 - a lock timeout, a broken inbox: these deliveries fail
            while todo:
                todo.popleft().done.set_exception(e)
            return
        added: list[tuple[_Job, AddResult]] = []
        while todo and len(added) < ROUND_MAX:
            job = todo.popleft()
            try:
                added.append((job, w.add(job.raw, list_id=True)))
            except Exception as e:  # noqa: BLE001 - the writer's state is unknown: drop it
                job.done.set_exception(e)
                self._fail(added, e)
                return
        try:
            w.checkpoint(indexes=False)
        except Exception as e:  # noqa: BLE001 - see _fail
            self._fail(added, e)
            return
        self.index_dirty = True
        self.last_used = time.monotonic()
        fd = w.lock.fd
        if fd is not None:
            try:
                os.utime(fd)  # readers watching the lock file see new mail
            except OSError:
                pass
        for job, res in added:
            job.done.set_result((res, None))

    def _fail(self, added: list[tuple[_Job, AddResult]], e: Exception) -> None:
        """The writer is broken: close it; what git has counts as delivered."""
        w = self.writer
        assert w is not None
        self.writer = None
        what = f"{self.ibx.name}: {type(e).__name__}: {e}" if str(e) else f"{self.ibx.name}: {type(e).__name__}"
        log.warning("lmtp: %s; writer closed", what)
        durable = w.git_durable
        w.abort()
        late = (
            f"{self.ibx.name}: stored in git, but updating the indexes failed ({e or type(e).__name__}); "
            "the next delivery or `pubinbox index` catches them up"
        )
        for job, res in added:
            if durable:
                job.done.set_result((res, late))
            else:
                job.done.set_exception(StorageError(f"not stored ({what})"))

    # -- the writer ---------------------------------------------------------------------
    def _open(self) -> InboxWriter:
        if self.writer is None:
            from pubinbox.ingest.writer import open_writer

            self.writer = open_writer(self.ibx, epoch_size=self.conf.epoch_size, lock_timeout=self.conf.lock_timeout)
            self.opened = self.indexed_at = time.monotonic()
        return self.writer

    def _tend(self) -> None:
        """Commit the search index when due; close an idle writer or one
        held long enough (then pause, so others get the lock)."""
        if self.writer is None:
            return
        now = time.monotonic()
        if now - self.opened >= HOLD_SECONDS and not self.stopping:
            self._close()
            time.sleep(PAUSE_SECONDS)  # deliveries wait in the queue meanwhile
        elif now - self.last_used >= IDLE_SECONDS:
            self._close()
        elif self.index_dirty and now - self.indexed_at >= INDEX_SECONDS:
            try:
                self.writer.commit_indexes()
            except Exception as e:  # noqa: BLE001 - mail is in git; the next writer catches the indexes up
                log.warning("lmtp: %s: search index not updated: %s", self.ibx.name, e)
            self.indexed_at = now
            self.index_dirty = False

    def _close(self) -> None:
        w, self.writer = self.writer, None
        self.index_dirty = False
        if w is not None:
            try:
                w.close()
            except Exception as e:  # noqa: BLE001 - everything acknowledged is in git already
                log.warning("lmtp: %s: closing the writer: %s", self.ibx.name, e)


class Writers:
    """Inbox writers shared by the deliveries of one process (thread-safe)."""

    def __init__(self, conf: Config) -> None:
        self.conf = conf
        self._inboxes: dict[str, _Inbox] = {}
        self._lock = threading.Lock()
        self._closed = False

    def store(self, ibx: InboxConfig, raw: bytes, conf: Config) -> Result:
        """Add *raw* to *ibx* and return once it is durable in git, like
        :func:`pubinbox.deliver.mda.store` (whose signature it has): the
        result and a warning when a database lags git.  Raises when the
        message is not in git."""
        job = _Job(raw)
        with self._lock:
            if self._closed:
                raise StorageError("the LMTP server is shutting down")
            t = self._inboxes.get(ibx.name)
            if t is None or t.ibx.inboxdir != ibx.inboxdir or t.dead or not t.is_alive():
                t = self._inboxes[ibx.name] = _Inbox(ibx, self.conf)
                t.start()
            t.jobs.put(job)
        try:
            return job.done.result(timeout=DELIVERY_TIMEOUT)
        except TimeoutError:
            raise StorageError(f"{ibx.name}: not stored within {DELIVERY_TIMEOUT:.0f}s") from None

    def close(self, timeout: float = 60.0) -> None:
        """Finish the deliveries handed over, close every writer; further
        deliveries fail with :class:`StorageError` (451)."""
        with self._lock:
            self._closed = True
            threads = list(self._inboxes.values())
        for t in threads:
            t.jobs.put(None)
        deadline = time.monotonic() + timeout
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
