"""Reading the cross-inbox index: an :class:`~pubinbox.inbox.Inbox` for ``/all/``.

:class:`ExtInbox` has the interface of one inbox (overview rows, raw
messages, search), so the web's pages and ``pubinbox q`` use it unchanged;
its rows' blobs are read from the inbox that holds them, and
:meth:`ExtInbox.copies` lists every inbox a message is in.

:class:`FederatedSearch` answers a query with every inbox's own search
index: each gives its hits newest first (or by relevance), they are mapped
to rows here, de-duplicated (a cross-post is found in each of its lists)
and merged.  A page at offset *o* needs the first *o* + *l* hits of each
inbox; the merged list is kept for a few seconds so that paging through
the results (an mbox.gz download of 50,000 hits asks page by page) does not
start over at every page, until the index changes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pubinbox.config import InboxConfig
from pubinbox.errors import CorruptObject, IndexingError
from pubinbox.extindex import EPOCH_SPAN, NAME
from pubinbox.inbox import Inbox
from pubinbox.over.reader import OverReader
from pubinbox.search.backend import SearchBackend, SearchResult
from pubinbox.store.git import GitReader
from pubinbox.store.layout import Layout

__all__ = ["Copy", "ExtInbox", "FederatedSearch", "ext_config"]

#: hits asked of each inbox per round (the search reader's own cap)
CHUNK = 10_000
#: most hits asked of one inbox for one query (the deepest page there is)
MAX_DEPTH = 100_000 + 10_000
#: seconds a merged result list is reused for the next page
KEEP = 30.0


@dataclass(frozen=True, slots=True)
class Copy:
    """One inbox's copy of a message of the index."""

    inbox: str
    num: int  # its article number there
    blob: str


def ext_config(topdir: Path, *, name: str = NAME) -> InboxConfig:
    """What the pages need to know of ``/all/`` as if it were an inbox: no
    address (no reply instructions to a list), searchable."""
    return InboxConfig(name=name, inboxdir=topdir, addresses=(), indexlevel="full", feedmax=25)


class ExtInbox(Inbox):
    """The cross-inbox index read as one inbox.  *searchers*: the search
    backend of every configured inbox that has one (by name)."""

    def __init__(self, topdir: Path, searchers: Mapping[str, SearchBackend], *, name: str = NAME) -> None:
        path = Layout(topdir).over_db
        if not path.exists():
            raise IndexingError(f"{path} does not exist: run `pubinbox extindex --all` first")
        over = OverReader(path)
        super().__init__(ext_config(topdir, name=name), over, GitReader(Layout(topdir)), None)
        self._inboxes: dict[int, tuple[str, Path]] = {}
        self._ids: dict[str, int] = {}
        self._load_inboxes()
        self._gits: dict[int, GitReader] = {}
        self._searcher = FederatedSearch(self, searchers)

    def _load_inboxes(self) -> None:
        """The inboxes table (again: an inbox added since this handle opened)."""
        got = self.over.query("SELECT ibx, name, inboxdir FROM inboxes")
        self._inboxes = {int(i): (str(n), Path(d)) for i, n, d in got}
        self._ids = {n: i for i, (n, _d) in self._inboxes.items()}

    def _inbox(self, ibx: int) -> tuple[str, Path] | None:
        if ibx not in self._inboxes:
            self._load_inboxes()
        return self._inboxes.get(ibx)

    def raw_at(self, blob: str, xepoch: int) -> bytes:
        ibx, epoch = divmod(xepoch, EPOCH_SPAN)
        git = self._gits.get(ibx)
        if git is None:
            got = self._inbox(ibx)
            if got is None:
                raise CorruptObject(f"blob {blob}: its inbox (#{ibx}) is no longer in the index")
            git = self._gits[ibx] = GitReader(Layout(got[1]), direct=True)  # served: random reads
        return git.blob(blob, epoch)

    def copies(self, num: int) -> list[Copy]:
        """Every inbox's copy of row *num*, by inbox name."""
        out = [
            Copy(got[0], int(x), str(b))
            for i, x, b in self.over.query("SELECT ibx, xnum, blob FROM xref WHERE num = ?", (num,))
            if (got := self._inbox(int(i))) is not None
        ]
        return sorted(out, key=lambda c: (c.inbox, c.num))

    def to_rows(self, inbox: str, nums: Iterable[int]) -> dict[int, tuple[int, int]]:
        """Article numbers of *inbox* -> (row number here, its received time)."""
        if inbox not in self._ids:
            self._load_inboxes()
        ibx = self._ids.get(inbox)
        got: dict[int, tuple[int, int]] = {}
        if ibx is None:
            return got
        todo = list(nums)
        for i in range(0, len(todo), 500):
            chunk = todo[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for x, n, ts in self.over.query(
                f"SELECT xref.xnum, xref.num, over.ts FROM xref JOIN over ON over.num = xref.num"
                f" WHERE xref.ibx = ? AND xref.xnum IN ({marks})",
                (ibx, *chunk),
            ):
                got[int(x)] = (int(n), int(ts or 0))
        return got


@dataclass(slots=True)
class _Merged:
    at: float
    depth: int  # hits asked of each inbox
    complete: bool  # every inbox gave all its hits
    total: int
    nums: list[int]
    scores: list[float]


class FederatedSearch:
    """A :class:`SearchBackend` over every inbox's search index, answering
    in the index's row numbers."""

    def __init__(self, ext: ExtInbox, searchers: Mapping[str, SearchBackend]) -> None:
        self.ext = ext
        self.searchers = dict(searchers)
        self._kept: dict[tuple[object, ...], _Merged] = {}
        self._lock = threading.Lock()

    def search(
        self,
        query: str,
        *,
        offset: int = 0,
        limit: int = 200,
        relevance: bool = False,
        ascending: bool = False,
        now: int | None = None,
        exact: bool = True,  # always exact: every inbox's hits are merged
    ) -> SearchResult:
        # a page of the same results: what the index held then (new mail
        # makes another list, so a search never lags an ingest)
        key = (query, relevance, ascending, now, self.ext.over.meta("ext_next_num"))
        want = offset + max(limit, 1)
        with self._lock:
            got = self._kept.get(key)
        if got is None or time.monotonic() - got.at > KEEP or (got.depth < want and not got.complete):
            depth = 1000
            while depth < want:
                depth *= 4
            got = self._merge(query, min(depth, MAX_DEPTH), relevance, ascending, now)
            with self._lock:
                if len(self._kept) >= 8:
                    self._kept.clear()
                self._kept[key] = got
        nums = tuple(got.nums[offset : offset + limit])
        scores = tuple(got.scores[offset : offset + limit]) if relevance else ()
        return SearchResult(total=got.total, nums=nums, scores=scores)

    def _merge(self, query: str, depth: int, relevance: bool, ascending: bool, now: int | None) -> _Merged:
        best: dict[int, tuple[float, int]] = {}  # row -> (score, ts)
        total = found = 0
        complete = True
        for name, backend in self.searchers.items():
            off = 0
            inbox_total = 0
            while off < depth:
                res = backend.search(
                    query, offset=off, limit=min(CHUNK, depth - off), relevance=relevance, ascending=ascending, now=now
                )
                inbox_total = res.total
                scores = res.scores or (0.0,) * len(res.nums)
                rows = self.ext.to_rows(name, res.nums)
                for xnum, score in zip(res.nums, scores):
                    got = rows.get(xnum)
                    if got is None:
                        continue  # not in the index yet
                    found += 1
                    num, ts = got
                    old = best.get(num)
                    if old is None or score > old[0]:
                        best[num] = (score, ts)
                off += len(res.nums)
                if not res.nums or off >= res.total:
                    break
            if off < inbox_total:
                complete = False
            total += inbox_total
        if relevance:
            order = sorted(best, key=lambda n: (-best[n][0], -best[n][1], -n))
        else:
            sign = 1 if ascending else -1
            order = sorted(best, key=lambda n: (sign * best[n][1], sign * n))
        dups = found - len(best)  # copies of one message found in several inboxes
        return _Merged(
            time.monotonic(),
            depth,
            complete,
            len(best) if complete else max(total - dups, len(best)),
            order,
            [best[n][0] for n in order],
        )
