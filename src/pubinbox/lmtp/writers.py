"""Inbox writers kept open across LMTP deliveries, with group commit.

``pubinbox mda`` opens a writer per message: the lock, a catch-up walk of
git, a ``git fast-import`` process, and a search-index commit each time.
The LMTP server delivers many messages in one process, so :class:`Writers`
keeps one :class:`~pubinbox.ingest.writer.InboxWriter` per inbox open while
mail flows and shares its costs:

- a delivery adds its message, then makes it durable with a checkpoint
  (git fast-import's ``checkpoint``: pack written and branch moved, then
  msgmap and the overview committed) before the caller answers 250: an
  acknowledged message is in git, whatever happens to the process after;
- deliveries to one inbox that overlap (several LMTP connections) share a
  checkpoint: the first to finish adding waits up to :data:`WINDOW`
  seconds for the others still adding, then one checkpoint covers all;
- the search index and the patch series, which git does not need to
  answer, are committed at most every :data:`INDEX_SECONDS` (and when the
  writer closes), so new mail is searchable within about a second; if the
  process dies first, the next writer catches them up from the overview;
- a writer idle for :data:`IDLE_SECONDS` is closed (``inbox.lock``
  released for ``pubinbox mda``, ``watch``, ``index``, ``purge`` and other
  serve workers), and one held for :data:`HOLD_SECONDS` is closed and not
  reopened for :data:`PAUSE_SECONDS`, so another writer waiting for the
  lock gets it even while mail keeps coming;
- a failure closes the writer (what was not checkpointed is rolled back,
  those deliveries fail with 451); the next delivery opens a new one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pubinbox.config import Config, InboxConfig
from pubinbox.errors import StorageError

if TYPE_CHECKING:
    from pubinbox.ingest.writer import AddResult, InboxWriter

log = logging.getLogger(__name__)

#: how long a finished add waits for overlapping deliveries to join its checkpoint
WINDOW = 0.01
#: the search index and series are committed at most this often
INDEX_SECONDS = 1.0
#: a writer with no delivery for this long is closed
IDLE_SECONDS = 1.0
#: a writer open this long is closed at the next quiet moment ...
HOLD_SECONDS = 10.0
#: ... and not reopened for this long, so that other writers get the lock
PAUSE_SECONDS = 0.25
#: how often the housekeeping thread looks at the writers
TICK = 0.2


@dataclass(eq=False)
class _Open:
    """One opened writer and the deliveries it has taken."""

    writer: InboxWriter
    opened: float
    added: int = 0  # deliveries added (a sequence number per add)
    durable: int = 0  # deliveries covered by a successful checkpoint
    indexed_at: float = 0.0
    index_dirty: bool = False
    failed: str | None = None  # why the deliveries after `durable` were lost
    late: str | None = None  # git has them, a database does not (yet)


@dataclass(eq=False)
class _Slot:
    """Per inbox: the writer (or none) and who is using it."""

    ibx: InboxConfig
    cond: threading.Condition = field(default_factory=threading.Condition)
    cur: _Open | None = None
    users: int = 0  # deliveries between their first and last step
    adding: int = 0  # deliveries that have not added yet
    last_used: float = 0.0
    paused_until: float = 0.0


class Writers:
    """Inbox writers shared by the deliveries of one process (thread-safe)."""

    def __init__(self, conf: Config) -> None:
        self.conf = conf
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the delivery's side -------------------------------------------------------
    def store(self, ibx: InboxConfig, raw: bytes, conf: Config) -> tuple[AddResult, str | None]:
        """Add *raw* to *ibx* and return once it is durable in git, like
        :func:`pubinbox.deliver.mda.store` (whose signature it has): the
        result and a warning when a database lags git.  Raises when the
        message is not in git."""
        slot = self._slot(ibx)
        with slot.cond:
            slot.users += 1
            slot.adding += 1
        try:
            return self._store(slot, raw)
        finally:
            with slot.cond:
                slot.users -= 1
                slot.last_used = time.monotonic()
                slot.cond.notify_all()

    def _store(self, slot: _Slot, raw: bytes) -> tuple[AddResult, str | None]:
        with slot.cond:
            try:
                cur = self._writer(slot)
                try:
                    res = cur.writer.add(raw, list_id=True)
                except BaseException as e:
                    self._fail(slot, cur, e)
                    raise
            finally:
                slot.adding -= 1
                slot.cond.notify_all()
            if res.status == "added":
                cur.added += 1
            seq = cur.added  # a duplicate may match a message of the same batch
            if cur.durable >= seq:
                return res, None
            # others are adding to this writer: let them join this checkpoint
            slot.cond.wait_for(lambda: slot.adding == 0 or cur.durable >= seq, timeout=WINDOW)
            if cur.durable < seq and cur.failed is None and slot.cur is cur:
                self._checkpoint(slot, cur)
            if cur.durable >= seq:
                return res, cur.late
            raise StorageError(cur.failed or f"{slot.ibx.name}: the writer was closed before the message was stored")

    def _slot(self, ibx: InboxConfig) -> _Slot:
        with self._lock:
            if self._closed:
                raise StorageError("the LMTP server is shutting down")
            slot = self._slots.get(ibx.name)
            if slot is None or slot.ibx.inboxdir != ibx.inboxdir:
                slot = self._slots[ibx.name] = _Slot(ibx)
            if self._thread is None:
                self._thread = threading.Thread(target=self._housekeeping, name="lmtp-writers", daemon=True)
                self._thread.start()
            return slot

    def _writer(self, slot: _Slot) -> _Open:
        """The slot's open writer, opened if needed (slot's lock held)."""
        if slot.cur is not None:
            return slot.cur
        from pubinbox.ingest.writer import open_writer

        wait = slot.paused_until - time.monotonic()
        if wait > 0:
            slot.cond.wait(wait)  # another writer's turn (the lock is not held by us)
            if slot.cur is not None:
                return slot.cur
        w = open_writer(slot.ibx, epoch_size=self.conf.epoch_size, lock_timeout=self.conf.lock_timeout)
        now = time.monotonic()
        slot.cur = _Open(w, opened=now, indexed_at=now)
        return slot.cur

    def _checkpoint(self, slot: _Slot, cur: _Open) -> None:
        """Make everything added so far durable (slot's lock held)."""
        target = cur.added
        try:
            cur.writer.checkpoint(indexes=False)
        except BaseException as e:
            self._fail(slot, cur, e)
            if isinstance(e, Exception):
                return
            raise
        cur.durable = target
        cur.index_dirty = True
        fd = cur.writer.lock.fd
        if fd is not None:
            try:
                os.utime(fd)  # readers watching the lock file see new mail
            except OSError:
                pass
        slot.cond.notify_all()

    def _fail(self, slot: _Slot, cur: _Open, e: BaseException) -> None:
        """The writer is broken: close it; what git has counts as delivered."""
        what = f"{slot.ibx.name}: {type(e).__name__}: {e}" if str(e) else f"{slot.ibx.name}: {type(e).__name__}"
        if cur.writer.git_durable and cur.durable < cur.added:
            cur.durable = cur.added
            cur.late = (
                f"{slot.ibx.name}: stored in git, but updating the indexes failed ({e or type(e).__name__}); "
                "the next delivery or `pubinbox index` catches them up"
            )
        cur.failed = what
        log.warning("lmtp: %s; writer closed", what)
        cur.writer.abort()
        if slot.cur is cur:
            slot.cur = None
        slot.cond.notify_all()

    # -- housekeeping ------------------------------------------------------------------
    def _housekeeping(self) -> None:
        while not self._stop.wait(TICK):
            with self._lock:
                slots = list(self._slots.values())
            for slot in slots:
                self.tend(slot)

    def tend(self, slot: _Slot, *, closing: bool = False) -> None:
        """Commit the search index when due; close an idle (or *closing*)
        writer, or one held long enough, when nobody is using it."""
        with slot.cond:
            cur = slot.cur
            if cur is None:
                return
            if closing:
                slot.cond.wait_for(lambda: slot.users == 0, timeout=60)
            now = time.monotonic()
            if slot.users:
                if cur.index_dirty and now - cur.indexed_at >= INDEX_SECONDS:
                    self._commit_indexes(slot, cur, now)
                return
            held = now - cur.opened >= HOLD_SECONDS
            if closing or held or now - slot.last_used >= IDLE_SECONDS:
                self._close(slot, cur)
                if held and not closing:
                    slot.paused_until = time.monotonic() + PAUSE_SECONDS
            elif cur.index_dirty and now - cur.indexed_at >= INDEX_SECONDS:
                self._commit_indexes(slot, cur, now)

    def _commit_indexes(self, slot: _Slot, cur: _Open, now: float) -> None:
        try:
            cur.writer.commit_indexes()
        except Exception as e:  # noqa: BLE001 - mail is in git; the next writer catches the indexes up
            log.warning("lmtp: %s: search index not updated: %s", slot.ibx.name, e)
        cur.indexed_at = now
        cur.index_dirty = False

    def _close(self, slot: _Slot, cur: _Open) -> None:
        slot.cur = None
        try:
            cur.writer.close()
        except Exception as e:  # noqa: BLE001 - everything acknowledged is in git already
            log.warning("lmtp: %s: closing the writer: %s", slot.ibx.name, e)

    def close(self) -> None:
        """Close every writer (waiting for deliveries in progress); further
        deliveries fail with :class:`StorageError` (451)."""
        with self._lock:
            self._closed = True
            slots = list(self._slots.values())
        self._stop.set()
        for slot in slots:
            self.tend(slot, closing=True)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
