"""Bringing the overview up to date with git (``pubinbox index``).

Walks each epoch from the last commit indexed (kept in the overview's
``meta`` table as ``last_commit-N``) to its tip, and for every ``m`` commit
gives the message an article number and an overview row; ``d`` commits
remove the message they name.  Numbers come from ``msgmap.sqlite3`` when a
writer (ours or public-inbox's) already assigned them, so both programs agree
on article numbers; otherwise new numbers are handed out in commit order.
Works on epochs written by anyone: git is the only input it trusts.

Parsing, the costly part, runs in worker processes when there is a lot to
do; numbering and threading stay in this process, in commit order.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pubinbox.mail.ingest import Parsed, all_mids, content_key, generated_mid, parse_for_index
from pubinbox.over.writer import NewRow, OverWriter
from pubinbox.search.extract import SearchDoc, extract
from pubinbox.search.writer import SearchWriter, crlf_size
from pubinbox.store.git import Change, GitReader
from pubinbox.store.layout import Layout
from pubinbox.store.msgmap import Msgmap

log = logging.getLogger(__name__)

#: commit the databases after this many messages, so a long index that is
#: interrupted resumes near where it stopped
BATCH = 5000
#: below this many commits, parsing in-process is faster than a pool
PARALLEL_MIN = 2000


@dataclass(slots=True)
class IndexStats:
    """What one index run did."""

    added: int = 0
    removed: int = 0
    skipped: int = 0
    renumbered: int = 0


def _last_key(epoch: int) -> str:
    return f"last_commit-{epoch}"


def _parse_job(args: tuple[str, int, str, int, int, bool]) -> Parsed:
    inboxdir, epoch, blob, at, ct, search = args
    reader = _worker_reader(inboxdir)
    return parse_for_index(reader.blob(blob, epoch), blob, fallback_ds=at, fallback_ts=ct, search=search)


def _extract_job(args: tuple[str, int, str]) -> tuple[SearchDoc, int]:
    inboxdir, epoch, blob = args
    raw = _worker_reader(inboxdir).blob(blob, epoch)
    return extract(raw), crlf_size(raw)


_WORKER_READERS: dict[str, GitReader] = {}


def _worker_reader(inboxdir: str) -> GitReader:
    r = _WORKER_READERS.get(inboxdir)
    if r is None:
        from pathlib import Path

        r = _WORKER_READERS[inboxdir] = GitReader(Layout(Path(inboxdir)))
    return r


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

    def _blob_indexed(self, blob: str) -> bool:
        if self._seen_blobs is not None:
            if blob in self._seen_blobs:
                return True
            self._seen_blobs.add(blob)
            return False
        return bool(self.over.nums_for_blob(blob))

    def pending(self) -> int:
        """How many commits are not indexed yet (for a progress bar)."""
        total = 0
        for n in self.layout.epochs():
            last = self.over.meta_get(_last_key(n))
            if self.git.tip(n) != last:
                total += self.git.count_changes(n, last)
        return total

    def run(
        self,
        *,
        progress: Callable[[int], None] | None = None,
        jobs: int | None = None,
        search_catch_up_max: int | None = None,
    ) -> IndexStats:
        stats = IndexStats()
        plan: list[tuple[int, str, list[Change]]] = []
        for n in self.layout.epochs():
            tip = self.git.tip(n)
            last = self.over.meta_get(_last_key(n))
            if tip is None or tip == last:
                continue
            if last is not None and not self.git.is_ancestor(n, last, tip):
                # history was rewritten (purge/edit): forget this epoch and redo it
                log.warning("epoch %d history was rewritten; reindexing it", n)
                self._forget_epoch(n)
                last = None
            plan.append((n, tip, list(self.git.changes(n, last, tip))))
        _drop_removed_pairs(plan)
        for n, tip, changes in plan:
            self._index_changes(n, changes, stats, progress, jobs)
            self.over.meta_set(_last_key(n), tip)
            self.commit()
        self.search_catch_up(jobs=jobs, limit=search_catch_up_max)
        return stats

    def search_catch_up(self, *, jobs: int | None = None, limit: int | None = None) -> int:
        """Add to the search index what the overview has and it lacks (a
        crash between the two commits, a new or rebuilt search index).  With
        *limit*, a larger gap is left alone (logged) for `pubinbox index`."""
        if self.search is None:
            return 0
        rows = self.over.db.execute(
            "SELECT num, blob, epoch, ts, ds, bytes FROM over WHERE num > ? ORDER BY num", (self.search.max_num,)
        ).fetchall()
        if not rows:
            return 0
        if limit is not None and len(rows) > limit:
            log.warning("search index is %d messages behind: run `pubinbox index`", len(rows))
            return 0
        args = [(str(self.layout.inboxdir), int(r[2]), str(r[1])) for r in rows]
        if len(rows) >= PARALLEL_MIN and (jobs is None or jobs > 1):
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=jobs or max(1, os.cpu_count() or 2)) as pool:
                docs: Iterator[tuple[SearchDoc, int]] = pool.map(_extract_job, args, chunksize=64)
                self._add_docs(rows, docs)
        else:
            self._add_docs(rows, (_extract_job(a) for a in args))
        self.search.commit()
        return len(rows)

    def _add_docs(self, rows: list[tuple[object, ...]], docs: Iterator[tuple[SearchDoc, int]]) -> None:
        assert self.search is not None
        for r, (doc, size) in zip(rows, docs, strict=True):
            self.search.add(int(r[0]), doc, ts=int(r[3]), ds=int(r[4]), size=size, replace=True)  # type: ignore[call-overload]

    def commit(self) -> None:
        self.mm.commit()
        self.over.commit()
        if self.search is not None:
            self.search.commit()

    def _forget_epoch(self, n: int) -> None:
        self.over.begin()
        for (num,) in self.over.db.execute("SELECT num FROM over WHERE epoch = ? AND num > 0", (n,)).fetchall():
            self.over.remove(int(num))

    def _parsed(self, n: int, changes: list[Change], jobs: int | None) -> Iterator[Parsed | None]:
        adds = [c for c in changes if c.kind == "m"]
        want_pool = len(adds) >= PARALLEL_MIN and (jobs is None or jobs > 1)
        if not want_pool:
            for c in changes:
                if c.kind != "m":
                    yield None
                    continue
                raw = self.git.blob(c.blob, n)
                yield parse_for_index(
                    raw, c.blob, fallback_ds=c.author_time, fallback_ts=c.commit_time, search=self.search is not None
                )
            return
        from concurrent.futures import ProcessPoolExecutor

        workers = jobs or max(1, (os.cpu_count() or 2))
        want = self.search is not None
        args = [(str(self.layout.inboxdir), n, c.blob, c.author_time, c.commit_time, want) for c in adds]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = pool.map(_parse_job, args, chunksize=64)
            for c in changes:
                yield None if c.kind != "m" else next(results)

    def _index_changes(
        self,
        n: int,
        changes: list[Change],
        stats: IndexStats,
        progress: Callable[[int], None] | None,
        jobs: int | None,
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
            else:
                assert parsed is not None
                self.index_one(n, parsed, stats)
            done += 1
            if progress is not None and done % 256 == 0:
                progress(256)
            if done % BATCH == 0:
                # record progress only at a commit boundary we know is complete
                self.over.meta_set(_last_key(n), change.commit)
                self.commit()
        if progress is not None:
            progress(done % 256)

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
        mids = (mid0,) + tuple(m for m in p.mids if m != mid0)
        self.over.add(
            NewRow(
                num=num,
                mids=mids,
                references=tuple(r for r in p.references if r not in mids),
                subject=p.subject,
                subject_path=p.subject_path,
                from_=p.from_,
                to=p.to,
                cc=p.cc,
                ts=p.ts,
                ds=p.ds,
                blob=p.blob,
                bytes=p.size,
                lines=p.lines,
                epoch=epoch,
            ),
            fresh=fresh,
        )
        if self.search is not None and p.search is not None:
            self.search.add(num, p.search, ts=p.ts, ds=p.ds, size=p.crlf_size, replace=not fresh)
        stats.added += 1
        return num

    def _number(self, p: Parsed) -> tuple[int, str, bool] | None:
        """Article number for a message found in git, reusing msgmap's;
        None for an exact copy of a message already indexed."""
        mids = list(p.mids)
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
        gen = generated_mid(raw, p.ds)
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
        num = self.mm.num_for(mid)
        if num is not None and not self.over.has_num(num):
            return num
        return None

    def _is_copy(self, raw: bytes, mids: list[str]) -> bool:
        key = content_key(raw)
        for mid in mids:
            for _num, blob in self.over.blobs_for_mid(mid):
                if content_key(self.git.blob(blob)) == key:
                    return True
        return False

    def prune_msgmap(self) -> int:
        """Drop msgmap rows with no message behind them (left by a crash or
        by an older indexer); only valid once every epoch is indexed."""
        have = {int(n) for (n,) in self.over.db.execute("SELECT num FROM over WHERE num > 0")}
        stale = [int(n) for (n,) in self.mm.db.execute("SELECT num FROM msgmap") if int(n) not in have]
        for num in stale:
            self.mm.delete_num(num)
        return len(stale)


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
            elif pending.get(c.blob):
                pending[c.blob] -= 1
                drop.add((pi, ci))
                drop.add(removal_at[c.blob].pop())
    if drop:
        for pi, (n, tip, changes) in enumerate(plan):
            plan[pi] = (n, tip, [c for ci, c in enumerate(changes) if (pi, ci) not in drop])
