"""Appending messages to a v2 inbox: numbering, dedupe, git, overview.

:class:`InboxWriter` is the one way mail gets in (``import``, ``mda``,
later ``watch``).  While open it holds ``inbox.lock``.  For each message it
assigns an article number in ``msgmap.sqlite3`` with public-inbox's rules
(exact resends dropped by content hash, a reused Message-ID with different
content stored under a generated one), queues a commit in ``git
fast-import`` and adds the overview row.  Nothing is acknowledged until
:meth:`checkpoint`: git is flushed first, then msgmap, then the overview,
so a crash at any point leaves git ahead of (never behind) the databases,
and the next writer or ``pubinbox index`` catches up from git.  When a
checkpoint fails, :attr:`InboxWriter.git_durable` says whether git has every
message anyway (only the databases lag then).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from pubinbox.config import DEFAULT_EPOCH_SIZE, InboxConfig
from pubinbox.errors import PubinboxError, StorageError
from pubinbox.extindex.writer import keep_current as extindex_keep_current
from pubinbox.ingest import history
from pubinbox.ingest.indexer import Indexer, IndexStats
from pubinbox.ingest.indexing import open_search
from pubinbox.ingest.message import Incoming, SameContent, all_mids, generated_mid, prepare, search_doc, with_extra_mid
from pubinbox.mail.parse import strip_from_line
from pubinbox.over.writer import OverWriter
from pubinbox.search.writer import SearchWriter
from pubinbox.series.marks import Marks
from pubinbox.series.store import remember as series_remember
from pubinbox.series.store import sync as series_sync
from pubinbox.store.fastimport import FastImport, rev_parse
from pubinbox.store.git import GitReader, packed_size
from pubinbox.store.layout import Layout, clear_stale_git_locks, ensure_all_git, init_epoch, init_inbox
from pubinbox.store.lock import InboxLock
from pubinbox.store.msgmap import Msgmap
from pubinbox.store.packs import tidy_packs

log = logging.getLogger(__name__)

#: a writer (mda, import) adds at most this many messages missing from the
#: search index before its own work; more is left to `pubinbox index`
WRITER_SEARCH_CATCH_UP = 2000

#: a checkpoint also comes after this many bytes of new mail (the batch's
#: messages are kept in memory until git has them)
BATCH_BYTES = 64 << 20

#: seconds between syncs of the patch series and /all/ during a long run
#: (every checkpoint's overview is durable at once; these follow)
DERIVED_SECONDS = 30.0

#: packed git is assumed to be this fraction of the raw mail (public-inbox's rule)
PACKING_FACTOR = 0.4


@dataclass(frozen=True, slots=True)
class AddResult:
    """What happened to one message."""

    status: str  # "added" | "duplicate"
    num: int | None = None
    mid: str | None = None
    blob: str | None = None
    reused_mid: str | None = None  # set when the message's own Message-ID was taken


class InboxWriter:
    """Exclusive writer of one inbox.  Use as a context manager."""

    def __init__(
        self,
        ibx: InboxConfig,
        *,
        epoch_size: int = DEFAULT_EPOCH_SIZE,
        lock_timeout: float = 300.0,
        checkpoint_every: int = 2000,
    ) -> None:
        self.ibx = ibx
        self.layout = Layout(ibx.inboxdir)
        self.epoch_size = epoch_size
        self.checkpoint_every = checkpoint_every
        self.lock = InboxLock(self.layout.lock_file, timeout=lock_timeout)
        self.committer = f"{ibx.name} <{ibx.primary_address}>".encode()
        self._mm: Msgmap | None = None
        self._over: OverWriter | None = None
        self._git: GitReader | None = None
        self._search: SearchWriter | None = None
        self._fi: FastImport | None = None
        self._epoch = 0
        self._epoch_base = 0  # estimated raw bytes already in the current epoch
        self._pending = 0
        # blob -> its bytes, for messages not yet readable from git (the
        # content hash is only needed when a Message-ID comes again)
        self._batch_raw: dict[str, bytes] = {}
        self._batch_bytes = 0
        # blob -> series marks of the patches added since the last checkpoint
        self._marks: dict[str, Marks] = {}
        self._derived_at = time.monotonic()  # when series and /all/ were last synced
        self.index_stats = IndexStats()
        #: every message added so far is committed in git (fast-import has
        #: finished and the branch points at it), whatever the databases say
        self.git_durable = True

    def stores(self) -> tuple[Msgmap, OverWriter, GitReader, SearchWriter | None]:
        """msgmap, overview, git and search index of the open writer (for
        :mod:`~pubinbox.ingest.history`, which changes them together)."""
        assert self._mm is not None and self._over is not None and self._git is not None
        return self._mm, self._over, self._git, self._search

    # -- lifecycle ---------------------------------------------------------------
    def open(self) -> InboxWriter:
        self.layout.check()
        self.lock.acquire()
        try:
            if not self.layout.epochs():
                init_inbox(self.layout, f"public inbox for {self.ibx.primary_address}")
            ensure_all_git(self.layout)
            for stale in clear_stale_git_locks(self.layout):
                log.warning("removed %s left by a killed git process", stale)
            self._mm = Msgmap(self.layout.msgmap, create=True)
            self._over = OverWriter(self.layout.over_db)
            self._git = GitReader(self.layout)
            try:
                # a broken search index is rebuilt by `pubinbox index`, not here:
                # delivering one message must not wait for a whole rebuild
                self._search = open_search(self.layout, self.ibx.indexlevel, rebuild_broken=False)
            except (PubinboxError, OSError, ValueError, RuntimeError) as e:
                log.warning("search index unavailable (%s): storing mail without it; run `pubinbox index`", e)
            self._epoch = self.layout.epochs()[-1]
            init_epoch(self.layout, self._epoch)  # repairs one a crash left half-made
            history.recover(self)  # a purge/edit killed half-way: finished or dropped
            self._recover()
            self._epoch_base = int(packed_size(self.layout.epoch(self._epoch)) / PACKING_FACTOR)
        except BaseException:
            self._close_dbs(after_error=True)
            self.lock.release()
            raise
        return self

    def _recover(self) -> None:
        """Catch up with git (a crashed writer, or mail from public-inbox) and
        drop msgmap numbers that never made it into git."""
        assert self._mm is not None and self._over is not None and self._git is not None
        idx = Indexer(self.layout, self._git, self._mm, self._over, self._search)
        self.index_stats = idx.run(search_catch_up_max=WRITER_SEARCH_CATCH_UP)
        orphans = self._mm.delete_above(max(self._over.max_num(), 0))
        if orphans:
            log.warning("%s: dropped %d msgmap entries with no message in git", self.ibx.name, orphans)
        self._mm.commit()
        self._over.commit()

    def __enter__(self) -> InboxWriter:
        return self.open()

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            self.close()
        else:
            self.abort()

    def close(self) -> None:
        """Make everything durable, then release the lock.  If this raises,
        see :attr:`git_durable`."""
        try:
            self.checkpoint(final=True)
        except BaseException:
            self.abort()
            raise
        for n in self.layout.epochs():
            tidy_packs(self.layout.epoch(n))  # fast-import's one pack per checkpoint, rolled up
        try:
            self._close_dbs()
        finally:
            self.lock.release(touched=True)

    def abort(self) -> None:
        """Drop everything not yet checkpointed and release the lock; never
        raises over the error that brought us here."""
        try:
            if self._fi is not None:
                self._fi.abort()
                self._fi = None
            for db in (self._mm, self._over, self._search):
                if db is not None:
                    try:
                        db.rollback()
                    except (sqlite3.Error, OSError, ValueError, RuntimeError) as e:
                        log.debug("rollback after an error: %s", e)
            self._close_dbs(after_error=True)
        finally:
            self.lock.release()

    def _close_dbs(self, *, after_error: bool = False) -> None:
        """Close the databases (whatever they had is committed or rolled back
        by now); a failure to close one is a warning (a debug message when
        we are cleaning up after an error anyway), never an error."""
        dbs: tuple[SearchWriter | Msgmap | OverWriter | None, ...] = (self._search, self._mm, self._over)
        self._search = self._mm = self._over = None
        for db in dbs:
            if db is not None:
                try:
                    db.close()
                except (sqlite3.Error, OSError, ValueError, RuntimeError) as e:
                    log.log(
                        logging.DEBUG if after_error else logging.WARNING,
                        "%s: closing %s: %s",
                        self.ibx.name,
                        type(db).__name__,
                        e,
                    )

    # -- durability ----------------------------------------------------------------
    def checkpoint(self, *, final: bool = False, indexes: bool = True) -> None:
        """Flush git, then commit msgmap, then the overview, then (unless
        not *indexes*: the LMTP server does it later) :meth:`commit_indexes`."""
        assert self._mm is not None and self._over is not None
        if self._fi is not None:
            fi = self._fi
            tip = fi.done() if final else fi.checkpoint()
            if final:
                self._fi = None
            if tip is not None and rev_parse(fi.git_dir) != tip:
                raise StorageError(f"{fi.git_dir}: git fast-import finished but the branch is not at {tip}")
            self.git_durable = True
            if tip is not None:
                self._over.meta_set(f"last_commit-{self._epoch}", tip)
        self._mm.commit()
        self._over.commit()
        if indexes or final:
            self.commit_indexes(final=final)
        self._batch_raw.clear()
        self._batch_bytes = 0
        self._pending = 0

    def commit_indexes(self, *, final: bool = True) -> None:
        """Commit the search index and the patch series (the slow part of a
        checkpoint, not needed for the mail to be durable).  Unless *final*,
        the series and ``/all/`` are brought up to date at most every
        :data:`DERIVED_SECONDS`: a bulk import checkpoints every 2,000
        messages, and each series sync reads every thread that got a patch
        again (43 % of an import's time at 450K messages, when it ran at
        every checkpoint)."""
        if self._search is not None:
            try:
                self._search.commit()
            except (OSError, ValueError, RuntimeError) as e:
                self._drop_search(e)
        series_remember(self.layout, self._marks)
        self._marks.clear()
        now = time.monotonic()
        if final or now - self._derived_at >= DERIVED_SECONDS:
            series_sync(self.layout)  # patch series, from the overview (issue 12)
            extindex_keep_current(self.ibx)  # the cross-inbox index /all/ (issue 9)
            self._derived_at = time.monotonic()

    def _drop_search(self, e: BaseException) -> None:
        """The search index failed: carry on without it (mail is never held
        up by search); it lags the overview and the next run catches up."""
        log.warning("search index not updated (%s); `pubinbox index` will catch up", e)
        if self._search is not None:
            try:
                self._search.rollback()
                self._search.close()
            except (OSError, ValueError, RuntimeError):
                pass
            self._search = None

    # -- adding ----------------------------------------------------------------------
    def add(self, raw: bytes, *, list_id: bool = False, now: int | None = None) -> AddResult:
        """Store one message (bytes as received; a leading ``From `` line is
        dropped).  *list_id* adds ``List-Id`` as public-inbox-mda does."""
        now = int(time.time()) if now is None else now
        inc = prepare(raw, now=now, list_id_address=self.ibx.primary_address if list_id else None)
        return self.add_incoming(inc, now=now)

    def add_incoming(self, inc: Incoming, *, now: int) -> AddResult:
        """Store one message already prepared (:func:`prepare`, possibly in
        another process): number it, commit it, add its rows."""
        assert self._mm is not None and self._over is not None
        num, mid0, reused = self._number(inc)
        if num is None:
            return AddResult("duplicate", mid=inc.message.mids[0] if inc.message.mids else None)
        if mid0 not in inc.message.mids:  # generated: stored as an extra Message-ID header
            inc = with_extra_mid(inc, mid0, now=now)
        msg, m = inc.message, inc.message.meta
        fi = self._importer(len(inc.raw))
        self.git_durable = False
        blob = fi.add(
            inc.raw,
            author=m.author_ident,
            author_time=m.author_time,
            committer=self.committer,
            committer_time=m.committer_time,
            subject=m.commit_subject,
        )
        self._over.add(msg.over_row(num=num, mid0=mid0, blob=blob, epoch=self._epoch))
        if msg.series is not None:
            self._marks[blob] = msg.series
        if self._search is not None:
            try:
                doc = search_doc(inc.raw, msg)
                self._search.add(num, doc, blob=blob, ts=m.ts, ds=m.ds, size=msg.crlf_size)
            except (OSError, ValueError, RuntimeError) as e:
                self._drop_search(e)
        self._batch_raw[blob] = inc.raw
        self._batch_bytes += len(inc.raw)
        self._pending += 1
        if self._pending >= self.checkpoint_every or self._batch_bytes >= BATCH_BYTES:
            self.checkpoint()
        return AddResult("added", num=num, mid=mid0, blob=blob, reused_mid=reused)

    def _number(self, inc: Incoming) -> tuple[int | None, str, str | None]:
        """(num, primary mid, reused mid) — num None for an exact duplicate."""
        assert self._mm is not None
        mids = inc.message.mids
        if mids:
            num = self._mm.mid_insert(mids[0])
            if num is not None:
                return num, mids[0], None
            same = SameContent(inc.raw)
            for mid in mids:
                if self._content_exists(mid, same):
                    return None, mid, None
            log.warning("<%s> reused for mismatched content", mids[0])
            for mid in mids[:0:-1]:
                num = self._mm.mid_insert(mid)
                if num is not None:
                    return num, mid, mids[0]
        for mid in generated_mid(inc.raw, inc.message.meta.ds):
            num = self._mm.mid_insert(mid)
            if num is not None:
                return num, mid, mids[0] if mids else None
        raise AssertionError("unreachable: generated_mid is endless")

    def _content_exists(self, mid: str, same: SameContent) -> bool:
        assert self._over is not None and self._git is not None
        for _num, blob in self._over.blobs_for_mid(mid):
            raw = self._batch_raw.get(blob)
            if raw is None:
                try:
                    raw = self._git.blob(blob)
                except PubinboxError:
                    continue
            if same(raw):
                return True
        return False

    def _importer(self, incoming: int) -> FastImport:
        """The fast-import of the current epoch, rolling over when full."""
        fi = self._fi
        if fi is not None and fi.commits and self._epoch_base + fi.bytes_added + incoming > self.epoch_size:
            self.checkpoint(final=True)
            fi = None
            self._epoch += 1
            init_epoch(self.layout, self._epoch)
            self._epoch_base = 0
            if self._git is not None:
                self._git.refresh()
            log.info("%s: rolled over to epoch %d", self.ibx.name, self._epoch)
        elif fi is None and self._epoch_base + incoming > self.epoch_size and self._epoch_base > 0:
            self._epoch += 1
            init_epoch(self.layout, self._epoch)
            self._epoch_base = 0
            if self._git is not None:
                self._git.refresh()
        if fi is None:
            fi = self._fi = FastImport(self.layout.epoch(self._epoch), lock_fd=self.lock.fd)
        return fi

    # -- removing ----------------------------------------------------------------------
    def remove_matching(self, raw: bytes, reason: str = "rm") -> list[tuple[int, str]]:
        """Remove every stored message with one of *raw*'s Message-IDs and
        the same content (public-inbox's content hash), as public-inbox's
        learn/watchspam do: one ``d`` commit per blob.  Returns the
        (article number, Message-ID) pairs removed; nothing when the
        message is not archived."""
        assert self._over is not None and self._git is not None
        raw = strip_from_line(raw)
        same = SameContent(raw)
        done: list[tuple[int, str]] = []
        seen: set[str] = set()
        for mid in all_mids(raw):
            for num, blob in self._over.blobs_for_mid(mid):
                if blob in seen:
                    continue
                seen.add(blob)
                stored = self._batch_raw.get(blob)
                if stored is None:
                    try:
                        stored = self._git.blob(blob)
                    except PubinboxError:
                        continue
                if not same(stored):
                    continue
                if self.remove_blob(blob, reason):
                    done.append((num, mid))
        return done

    def remove_blob(self, blob: str, reason: str = "rm") -> int:
        """Record removal of a stored message (a ``d`` commit); returns how
        many article numbers were dropped."""
        assert self._over is not None and self._mm is not None and self._git is not None
        nums = self._over.nums_for_blob(blob)
        if not nums:
            return 0
        raw = self._batch_raw.get(blob) or self._git.blob(blob)
        fi = self._importer(0)
        self.git_durable = False
        ident = self.committer
        stamp = b"%d +0000" % int(time.time())
        fi.add(
            raw,
            author=ident,
            author_time=stamp,
            committer=ident,
            committer_time=stamp,
            subject=reason.encode(),
            path="d",
        )
        for num in nums:
            self._over.remove(num)
            self._mm.delete_num(num)
        if self._search is not None:
            self._search.delete(nums)
        self._pending += 1
        return len(nums)


def open_writer(ibx: InboxConfig, **kw: object) -> InboxWriter:
    """Open a writer, turning OS errors into StorageError."""
    try:
        return InboxWriter(ibx, **kw).open()  # type: ignore[arg-type]
    except OSError as e:
        raise StorageError(f"{ibx.inboxdir}: {e}") from e


def inbox_exists(path: Path) -> bool:
    return (path / "git").is_dir()
