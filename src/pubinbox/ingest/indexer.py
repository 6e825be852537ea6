"""Bringing the overview up to date with git (``pubinbox index``).

Walks each epoch from the last commit indexed (kept in the overview's
``meta`` table as ``last_commit-N``) to its tip, and for every ``m`` commit
gives the message an article number and an overview row; ``d`` commits
remove the message they name.  Numbers come from ``msgmap.sqlite3`` when a
writer (ours or public-inbox's) already assigned them, so both programs agree
on article numbers; otherwise new numbers are handed out in commit order.
Works on epochs written by anyone: git is the only input it trusts.

A message whose blob (or a commit whose tree) is missing or unreadable is a
warning naming the commit and the object, not an error: indexing goes on, as
public-inbox's does, the object is remembered in the overview's ``meta``
(``unreadable:OID``), tried again by later runs, and counted in the stats.

Parsing, the costly part, runs in worker processes when there is a lot to
do (the newest messages already while the walk goes on, :mod:`.prefetch`);
numbering and threading stay in this process, in commit order.

The search index is then made to agree with the overview
(:mod:`.searchsync`).
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from pubinbox.errors import CorruptObject, IndexingError
from pubinbox.ingest.message import SameContent, all_mids, generated_mid
from pubinbox.ingest.parsing import Parsed, Unreadable, parse_blob, parse_chunk, unpack
from pubinbox.ingest.pool import Pool, Task
from pubinbox.ingest.prefetch import Prefetch
from pubinbox.ingest.searchsync import SearchSync
from pubinbox.over.writer import OverWriter
from pubinbox.search.writer import SearchWriter
from pubinbox.series.marks import Marks
from pubinbox.series.store import remember as series_remember
from pubinbox.series.store import sync as series_sync
from pubinbox.store.git import Change, GitReader
from pubinbox.store.layout import Layout
from pubinbox.store.msgmap import Msgmap

log = logging.getLogger(__name__)

#: commit the databases after this many messages, so a long index that is
#: interrupted resumes near where it stopped
BATCH = 5000
#: below this many commits, parsing in-process is faster than a pool
PARALLEL_MIN = 2000
#: messages per task sent to a parsing process
CHUNK = 128
#: how much lower the parsing processes run when there is a search index
#: (:class:`Pool`'s *nice*): tantivy's indexing thread, here, then keeps up
#: with the documents instead of falling behind and catching up alone, one
#: core idle, at each commit (f2fs -L full: 20-22 s -> 18 s; 5 and 19 do
#: the same; without search the parse is what everything waits for)
WORKER_NICE = 10
#: the part of a long run left when the series are brought up to date in a
#: process of their own (:meth:`Indexer._series_start`)
SERIES_AHEAD = 0.15
#: messages parsed ahead during the walk, at most (their results wait in
#: memory: a few hundred bytes each, tens of KiB with a search document)
PREFETCH = 8192
PREFETCH_SEARCH = 1024
#: prefix of the overview meta keys naming git objects that could not be read
UNREADABLE = "unreadable:"
#: the overview's copy of msgmap's meta (restores a lost msgmap's UIDVALIDITY)
MSGMAP_META = {"created_at": "msgmap_created_at", "num_highwater": "msgmap_num_highwater"}

#: what a purged message's commit holds (public-inbox-purge, pubinbox purge)
EMPTY_BLOB = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"


@dataclass(slots=True)
class IndexStats:
    """What one index run did."""

    added: int = 0
    removed: int = 0
    skipped: int = 0
    renumbered: int = 0
    #: git objects (message blobs, commit trees) missing or unreadable, not indexed
    unreadable: int = 0
    #: search documents added or deleted to make the index agree with the overview
    search_fixed: int = 0


def _last_key(epoch: int) -> str:
    return f"last_commit-{epoch}"


class Indexer:
    """Indexes git history into msgmap + overview (caller holds inbox.lock)."""

    def __init__(
        self,
        layout: Layout,
        git: GitReader,
        mm: Msgmap,
        over: OverWriter,
        search: SearchWriter | None = None,
    ) -> None:
        self.layout = layout
        self.git = git
        self.mm = mm
        self.over = over
        self.search = search
        # Starting from an empty overview (first index, --reindex), the blobs
        # seen so far are all in this set and the per-message query is skipped.
        self._seen_blobs: set[str] | None = set() if over.max_num() == 0 else None
        self._walked: list[tuple[int, str, bool, list[Change]]] | None = None
        # Starting from an empty msgmap (a mirrored epoch's first index), every
        # number in it is one this run gave a message it indexed: no
        # Message-ID has an unused number waiting, and the lookup is skipped.
        self._msgmap_had_rows = mm.max_num() != 0
        # blob -> series marks of the patches indexed since the last commit
        self._marks: dict[str, Marks] = {}
        # the parsing processes, kept from the walk to the last epoch
        self._pool: Pool | None = None
        self._prefetch: Prefetch | None = None
        # the series brought up to date in one of them, near the end
        self._series_ahead: Task[None] | None = None

    def _blob_indexed(self, blob: str) -> bool:
        if self._seen_blobs is not None:
            if blob in self._seen_blobs:
                return True
            self._seen_blobs.add(blob)
            return False
        return bool(self.over.nums_for_blob(blob))

    def _walk(self, jobs: int | None) -> list[tuple[int, str, bool, list[Change]]]:
        """Per epoch with commits not indexed yet: (epoch, tip, whether its
        history was rewritten since, the commits to index).  With more
        than one job, the newest messages are parsed meanwhile."""
        walked = []
        if jobs is None or jobs > 1:
            nice = WORKER_NICE if self.search is not None else 0
            self._pool = Pool(jobs or max(1, os.cpu_count() or 2), aside=True, nice=nice)
            self._prefetch = Prefetch(
                self._pool,
                str(self.layout.inboxdir),
                search=self.search is not None,
                chunk=CHUNK,
                start_after=PARALLEL_MIN,
                limit=PREFETCH if self.search is None else PREFETCH_SEARCH,
            )
        for n in self.layout.epochs():
            tip = self.git.tip(n)
            last = self.over.meta_get(_last_key(n))
            if tip is None or tip == last:
                continue
            rewritten = last is not None and not self.git.is_ancestor(n, last, tip)
            pre = self._prefetch
            walked.append(
                (
                    n,
                    tip,
                    rewritten,
                    self.git.changes(
                        n, None if rewritten else last, tip, walked=None if pre is None else partial(pre.walked, n)
                    ),
                )
            )
        return walked

    def pending(self, *, jobs: int | None = None) -> int:
        """How many commits are not indexed yet (for a progress bar); the
        walk is kept for :meth:`run` (which should get the same *jobs*)."""
        self._walked = self._walk(jobs)
        return sum(len(w[3]) for w in self._walked)

    def close(self) -> None:
        """Stop the parsing processes (:meth:`run` does when it is done)."""
        if self._prefetch is not None:
            self._prefetch.clear()
            self._prefetch = None
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def run(
        self,
        *,
        progress: Callable[[int], None] | None = None,
        jobs: int | None = None,
        search_catch_up_max: int | None = None,
    ) -> IndexStats:
        """Index what git has and the overview lacks, then bring the search
        index (if any) in line with the overview; *search_catch_up_max*
        bounds that search work (a writer's), leaving more to `pubinbox index`."""
        stats = IndexStats()
        try:
            walked = self._walked if self._walked is not None else self._walk(jobs)
            self._walked = None
            plan: list[tuple[int, str, list[Change]]] = []
            for n, tip, rewritten, changes in walked:
                if rewritten:
                    # history was rewritten (purge/edit): forget this epoch and redo it
                    log.warning("epoch %d history was rewritten; reindexing it", n)
                    self._forget_epoch(n)
                plan.append((n, tip, changes))
            _drop_removed_pairs(plan)
            total = sum(len(changes) for _n, _tip, changes in plan)
            series_at = total - int(total * SERIES_AHEAD)  # the series sync starts aside
            for n, tip, changes in plan:
                self._index_changes(n, changes, stats, progress, jobs, series_at=series_at)
                series_at -= len(changes)
                self.over.meta_set(_last_key(n), tip)
                self.commit()
            if self._series_ahead is not None:
                self._series_ahead.result()  # the caller's series sync takes it from there
        finally:
            self.close()
        bounded = search_catch_up_max is not None  # a writer's run, before its own work
        if not bounded:
            self._retry_unreadable(stats)
        stats.unreadable = len(self.unreadable())
        self._copy_msgmap_meta()
        try:
            self.search_sync(stats, jobs=jobs, limit=search_catch_up_max)
        except (IndexingError, ValueError, OSError, RuntimeError) as e:
            if not bounded:
                raise IndexingError(f"search index: {e}") from e
            # a delivery is never held up by the search index
            log.warning("search index not checked (%s); `pubinbox index` will", e)
        return stats

    def _copy_msgmap_meta(self) -> None:
        """Keep msgmap's UIDVALIDITY and highwater mark in the overview too:
        a lost msgmap is restored with them (the caller commits)."""
        for key, val in (("created_at", self.mm.created_at), ("num_highwater", self.mm.num_highwater)):
            if self.over.meta_get(MSGMAP_META[key]) != str(val):
                self.over.meta_set(MSGMAP_META[key], str(val))

    def commit(self, *, background: bool = False) -> None:
        """Commit msgmap, the overview, the search index and the series
        marks; *background*: the search index in a thread (a batch in the
        middle of a run: :meth:`SearchWriter.commit`)."""
        self.mm.commit()
        self.over.commit()
        if self.search is not None:
            self.search.commit(background=background)
        series_remember(self.layout, self._marks)
        self._marks.clear()

    # -- unreadable git objects ------------------------------------------------------
    def unreadable(self) -> dict[str, str]:
        """Git objects skipped so far: oid -> "EPOCH COMMIT KIND"."""
        return self.over.meta_prefix(UNREADABLE)

    def _skip_unreadable(self, n: int, change: Change, reason: str) -> None:
        """*reason* names the object: "blob OID is missing", "tree OID ..."."""
        log.warning("W: epoch %d commit %s: %s; its message is not indexed", n, change.commit, reason)
        self.over.meta_set(UNREADABLE + change.blob, f"{n} {change.commit} {change.kind}")

    def _retry_unreadable(self, stats: IndexStats) -> None:
        """Index the messages skipped earlier whose blob can be read now
        (copied back from another mirror); they get their numbers now.
        Only `pubinbox index` tries: a delivery does not pay for it."""
        for oid, where in self.unreadable().items():
            parts = where.split()
            if len(parts) != 3 or parts[2] != "m" or not parts[0].isdigit():
                continue  # a commit's tree: only a rebuild walks that commit again
            epoch, commit = int(parts[0]), parts[1]
            try:
                raw = self.git.blob(oid, epoch)
            except CorruptObject:
                continue
            _at, ct = self.git.commit_times(epoch, commit)
            parsed = parse_blob(raw, oid, commit_time=ct, search=self.search is not None)
            self.over.meta_del(UNREADABLE + oid)
            if self.index_one(epoch, parsed, stats) is not None:
                log.warning("blob %s of commit %s can be read again: indexed", oid, commit)
            self.commit()

    # -- the search index ---------------------------------------------------------------
    def search_sync(
        self, stats: IndexStats | None = None, *, jobs: int | None = None, limit: int | None = None, full: bool = False
    ) -> int:
        """Make the search index hold one document per overview message
        (:class:`~.searchsync.SearchSync`); returns how many documents were
        added or deleted."""
        if self.search is None:
            return 0
        stats = stats if stats is not None else IndexStats()
        sync = SearchSync(self.layout, self.git, self.over, self.search)
        done = sync.run(jobs=jobs, limit=limit, full=full)
        stats.search_fixed += done
        stats.unreadable += sync.unreadable
        return done

    # -- the overview --------------------------------------------------------------------
    def _forget_epoch(self, n: int) -> None:
        self.over.begin()
        for (num,) in self.over.db.execute("SELECT num FROM over WHERE epoch = ? AND num > 0", (n,)).fetchall():
            self.over.remove(int(num))

    def _parsed(self, n: int, changes: list[Change], jobs: int | None) -> Iterator[Parsed | Unreadable | None]:
        pre = self._prefetch
        ahead = pre if pre is not None and len(pre) else None
        adds = [c for c in changes if c.kind == "m" and (ahead is None or c.commit not in ahead)]
        pool = self._pool if len(adds) >= PARALLEL_MIN or ahead is not None else None
        want = self.search is not None
        if pool is None:
            for c in changes:
                if c.kind != "m":
                    yield None
                    continue
                try:
                    raw = self.git.blob(c.blob, n)
                except CorruptObject as e:
                    yield Unreadable(str(e))
                    continue
                yield parse_blob(raw, c.blob, commit_time=c.commit_time, search=want)
            return
        inboxdir = str(self.layout.inboxdir)
        chunks = (
            (inboxdir, n, [(c.blob, c.commit_time) for c in adds[i : i + CHUNK]], want)
            for i in range(0, len(adds), CHUNK)
        )
        packed = pool.ordered_map(parse_chunk, chunks, window=4 * pool.jobs)
        results = itertools.chain.from_iterable(map(unpack, packed))
        for c in changes:
            if c.kind != "m":
                yield None
            elif ahead is not None and c.commit in ahead:
                yield ahead.take(c.commit)
            else:
                yield next(results)

    def _index_changes(
        self,
        n: int,
        changes: list[Change],
        stats: IndexStats,
        progress: Callable[[int], None] | None,
        jobs: int | None,
        *,
        series_at: int = -1,
    ) -> None:
        done = 0
        for change, parsed in zip(changes, self._parsed(n, changes, jobs), strict=True):
            if change.kind == "d":
                nums = self.over.nums_for_blob(change.blob)
                for num in nums:
                    self.over.remove(num)
                    self.mm.delete_num(num)
                    stats.removed += 1
                if nums and self.search is not None:
                    self.search.delete(nums)
                if not nums:  # the removal of a message that was never indexed
                    self.over.meta_del(UNREADABLE + change.blob)
            elif change.kind == "x":
                self._skip_unreadable(n, change, f"tree {change.blob} cannot be read")
            elif change.blob == EMPTY_BLOB:
                stats.skipped += 1  # a purged message (public-inbox-purge, pubinbox purge)
            elif isinstance(parsed, Unreadable):
                self._skip_unreadable(n, change, parsed.reason)
            else:
                assert parsed is not None
                self.index_one(n, parsed, stats)
            done += 1
            if progress is not None and done % 256 == 0:
                progress(256)
            ahead = done == series_at and self._series_ahead is None
            if done % BATCH == 0 or ahead:
                # record progress only at a commit boundary we know is complete
                self.over.meta_set(_last_key(n), change.commit)
                self.commit(background=True)
                if ahead:
                    self._series_start()
        if progress is not None:
            progress(done % 256)

    def _series_start(self) -> None:
        """Most of the way through a long run (just committed): bring the
        series (:mod:`pubinbox.series.store`) up to date with what is
        committed, in the pool's process aside, while this one goes on.
        The caller's sync after the run then looks at the rest only, not
        at everything (from scratch, a third of a second for 22,000
        messages, with a core idle)."""
        if self._pool is None or self._series_ahead is not None or not self._pool.started:
            return
        self._series_ahead = self._pool.submit_aside(series_job, (str(self.layout.inboxdir), str(self.over.path)))

    def index_one(self, epoch: int, p: Parsed, stats: IndexStats) -> int | None:
        """Number and store one message; returns its number."""
        if self._blob_indexed(p.blob):
            stats.skipped += 1  # the same blob again (e.g. re-imported): already indexed
            return None
        got = self._number(p)
        if got is None:
            stats.skipped += 1
            return None
        num, mid0, fresh = got
        msg = p.message
        self.over.add(msg.over_row(num=num, mid0=mid0, blob=p.blob, epoch=epoch), fresh=fresh)
        if msg.series is not None:
            self._marks[p.blob] = msg.series
        if self.search is not None and p.doc is not None:
            m = msg.meta
            self.search.add(
                num,
                p.doc,
                blob=p.blob,
                ts=m.ts,
                ds=m.ds,
                size=msg.crlf_size,
                replace=not fresh,
                stems=p.stems,
                words=p.words,
            )
        stats.added += 1
        return num

    def _number(self, p: Parsed) -> tuple[int, str, bool] | None:
        """Article number for a message found in git, reusing msgmap's;
        None for an exact copy of a message already indexed."""
        mids = list(p.message.mids)
        order = mids[:1] + mids[:0:-1]  # first, then the rest backwards
        for mid in order:
            num = self._unused_num(mid)
            if num is not None:
                return num, mid, False
        for mid in order:
            num = self.mm.mid_insert(mid)
            if num is not None:
                return num, mid, True
        # No Message-ID, or all of them taken by other messages.
        raw = self.git.blob(p.blob)
        if mids and self._is_copy(raw, mids):
            return None  # the same message stored twice: public-inbox skips it too
        # a generated Message-ID a writer appended past the header size limit
        for mid in all_mids(raw):
            num = self._unused_num(mid)
            if num is not None:
                return num, mid, False
        # public-inbox skips such a message; we keep it under a generated
        # Message-ID, reusing the number it got before (reindex)
        gen = generated_mid(raw, p.message.meta.ds)
        first = [next(gen), next(gen)]
        for mid in first:
            num = self._unused_num(mid)
            if num is not None:
                return num, mid, False
        for mid in itertools.chain(first, gen):
            num = self.mm.mid_insert(mid)
            if num is not None:
                return num, mid, True
        raise AssertionError("unreachable: generated_mid is endless")

    def _unused_num(self, mid: str) -> int | None:
        """msgmap's number for *mid* if no indexed message has it yet."""
        if not self._msgmap_had_rows:
            return None
        num = self.mm.num_for(mid)
        if num is not None and not self.over.has_num(num):
            return num
        return None

    def _is_copy(self, raw: bytes, mids: list[str]) -> bool:
        same = SameContent(raw)
        for mid in mids:
            for _num, blob in self.over.blobs_for_mid(mid):
                try:
                    if same(self.git.blob(blob)):
                        return True
                except CorruptObject:
                    continue  # that copy cannot be read: it cannot be compared
        return False

    def prune_msgmap(self) -> int:
        """Drop msgmap rows with no message behind them (left by a crash or
        by an older indexer); only valid once every epoch is indexed.  Not
        while messages are unreadable: their numbers are kept for them."""
        if self.unreadable():
            return 0
        have = {int(n) for (n,) in self.over.db.execute("SELECT num FROM over WHERE num > 0")}
        stale = [int(n) for (n,) in self.mm.db.execute("SELECT num FROM msgmap") if int(n) not in have]
        for num in stale:
            self.mm.delete_num(num)
        return len(stale)


def series_job(args: tuple[str, str]) -> None:
    """In a parsing process: the series of an inbox brought up to date
    with the committed rows of an overview file (see :meth:`Indexer._series_start`)."""
    inboxdir, over_db = args
    series_sync(Layout(Path(inboxdir)), over_db=Path(over_db))


def _drop_removed_pairs(plan: list[tuple[int, str, list[Change]]]) -> None:
    """A message added and later removed (a ``d`` commit naming its blob,
    possibly in a later epoch) within what is about to be indexed is never
    numbered at all, as in public-inbox: drop both commits from the plan."""
    pending: dict[str, int] = {}
    drop: set[tuple[int, int]] = set()
    removal_at: dict[str, list[tuple[int, int]]] = {}
    for pi in range(len(plan) - 1, -1, -1):
        changes = plan[pi][2]
        for ci in range(len(changes) - 1, -1, -1):
            c = changes[ci]
            if c.kind == "d":
                pending[c.blob] = pending.get(c.blob, 0) + 1
                removal_at.setdefault(c.blob, []).append((pi, ci))
            elif c.kind == "m" and pending.get(c.blob):
                pending[c.blob] -= 1
                drop.add((pi, ci))
                drop.add(removal_at[c.blob].pop())
    if drop:
        for pi, (n, tip, changes) in enumerate(plan):
            plan[pi] = (n, tip, [c for ci, c in enumerate(changes) if (pi, ci) not in drop])
