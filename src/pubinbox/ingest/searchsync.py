"""Keeping the search index equal to the overview (``pubinbox index``).

What the overview has past the index's highest number is added; then, when
the index's document count or highest number disagrees with the overview's,
the two are compared number by number and blob key by blob key, and every
document that is not the overview's (a duplicate, a removed message, another
message under that number) is deleted and redone.  Documents are made from
the blobs, in worker processes when there are many.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

from pubinbox.errors import CorruptObject
from pubinbox.ingest.parsing import Unreadable, extract_job
from pubinbox.over.writer import OverWriter
from pubinbox.search.extract import SearchDoc, extract
from pubinbox.search.writer import SCAN_CHUNK, DocWords, SearchWriter, blob_key, crlf_size
from pubinbox.store.git import GitReader
from pubinbox.store.layout import Layout

__all__ = ["SearchSync"]

log = logging.getLogger(__name__)

#: commit the index after this many documents (an interrupted rebuild resumes there)
BATCH = 5000
#: below this many documents, making them in this process is faster than a pool
PARALLEL_MIN = 2000

#: an overview row as the search side needs it: (num, blob, epoch, ts, ds)
Row = tuple[int, str, int, int, int]


class SearchSync:
    """One pass making *search* agree with *over* (caller holds inbox.lock)."""

    def __init__(self, layout: Layout, git: GitReader, over: OverWriter, search: SearchWriter) -> None:
        self.layout = layout
        self.git = git
        self.over = over
        self.search = search
        #: messages whose blob could not be read (not in the index)
        self.unreadable = 0

    def run(self, *, jobs: int | None = None, limit: int | None = None, full: bool = False) -> int:
        """Make the search index hold one document per overview message,
        made from that message's blob; returns how many documents were
        added or deleted.  With *limit*, more work than that is left alone
        (logged) for `pubinbox index`; *full* compares every document even
        when the counts agree."""
        full = full or self.search.fresh
        tail = self._rows("num > ?", (self.search.max_num,))
        if limit is not None and len(tail) > limit:
            log.warning("search index is %d messages behind: run `pubinbox index`", len(tail))
            return 0
        done = 0
        if tail:
            done += self._add_docs(tail, jobs, replace=not self.search.fresh)
            self.search.commit()
        count, top = self.over.db.execute("SELECT COUNT(*), MAX(num) FROM over WHERE num > 0").fetchone()
        have_count, have_top = self.search.stats()
        if not full and (have_count, have_top) == (int(count), int(top or 0)):
            return done
        if not full:
            log.warning(
                "search index disagrees with the overview (%d documents up to #%d, %d messages up to #%d): repairing",
                have_count,
                have_top,
                count,
                top or 0,
            )
        budget = None if limit is None else limit - done
        fixed, complete = self._repair(max(int(top or 0), have_top), jobs, budget)
        if complete:
            self.search.fresh = False
            self.search.set_max_num(int(top or 0))
            self.search.commit()
        return done + fixed

    def _repair(self, top: int, jobs: int | None, budget: int | None) -> tuple[int, bool]:
        """Compare the index with the overview, one range of numbers at a
        time (memory stays bounded on the largest lists); returns how many
        documents were deleted or added, and whether it got to the end."""
        fixed = 0
        for lo in range(1, top + 1, SCAN_CHUNK):
            hi = lo + SCAN_CHUNK - 1
            have = self.search.doc_keys(lo, hi)
            rows = self._rows("num BETWEEN ? AND ?", (lo, hi))
            want = {r[0]: blob_key(r[1]) for r in rows}
            stale = [num for num, keys in have.items() if keys != [want.get(num)]]
            stale_set = set(stale)
            redo = [r for r in rows if r[0] not in have or r[0] in stale_set]
            work = len(stale) + len(redo)
            if budget is not None and fixed + work > budget:
                log.warning("search index needs %d documents redone: run `pubinbox index`", work)
                return fixed, False
            if stale:
                self.search.delete(stale)
            if redo:
                self._add_docs(redo, jobs, replace=False)
            if work:
                self.search.commit()
            fixed += work
        return fixed, True

    def _rows(self, where: str, args: tuple[int, ...]) -> list[Row]:
        sql = f"SELECT num, blob, epoch, ts, ds FROM over WHERE num > 0 AND {where} ORDER BY num"
        return [
            (int(a), str(b), int(c or 0), int(d or 0), int(e or 0)) for a, b, c, d, e in self.over.db.execute(sql, args)
        ]

    def _add_docs(self, rows: list[Row], jobs: int | None, *, replace: bool = True) -> int:
        """Add the search documents of these overview rows."""
        args = [(str(self.layout.inboxdir), r[2], r[1]) for r in rows]
        if len(rows) >= PARALLEL_MIN and (jobs is None or jobs > 1):
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=jobs or max(1, os.cpu_count() or 2)) as pool:
                return self._add_each(rows, pool.map(extract_job, args, chunksize=64), replace)
        return self._add_each(rows, (self._extract_here(*a) for a in args), replace)

    def _extract_here(self, _inboxdir: str, epoch: int, blob: str) -> tuple[SearchDoc, int, None, None] | Unreadable:
        """:func:`extract_job` in this process (the writer makes the stems and words)."""
        try:
            raw = self.git.blob(blob, epoch)
        except CorruptObject as e:
            return Unreadable(str(e))
        return extract(raw), crlf_size(raw), None, None

    def _add_each(
        self,
        rows: list[Row],
        docs: Iterator[tuple[SearchDoc, int, tuple[str, ...] | None, DocWords | None] | Unreadable],
        replace: bool,
    ) -> int:
        added = 0
        for (num, blob, _epoch, ts, ds), got in zip(rows, docs, strict=True):
            if isinstance(got, Unreadable):
                log.warning("W: message #%d: %s; it is not in the search index", num, got.reason)
                self.unreadable += 1
                continue
            doc, size, stems, words = got
            self.search.add(num, doc, blob=blob, ts=ts, ds=ds, size=size, replace=replace, stems=stems, words=words)
            added += 1
            if added % BATCH == 0:
                # a long rebuild that is interrupted resumes from here
                self.search.commit()
        return added
