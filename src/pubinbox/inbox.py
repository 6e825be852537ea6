"""Inbox: the read-only facade over one inbox, for the web and ``pubinbox q``.

It bundles an inbox's configuration with its overview reader, its git
reader and a search backend: rows come from the overview, raw messages from
git by blob id, article numbers from the search index.  Open one per thread
(SQLite connections are per thread).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Generic, TypeVar

from pubinbox.config import InboxConfig
from pubinbox.errors import MessageNotFound, SearchUnavailable
from pubinbox.over.reader import Head, OverReader, OverRow
from pubinbox.store.git import GitReader
from pubinbox.store.layout import Layout

if TYPE_CHECKING:
    from pubinbox.search.backend import SearchBackend

R = TypeVar("R", OverRow, Head)


@dataclass(frozen=True, slots=True)
class Hits(Generic[R]):
    """One page of search results as overview rows (or their heads), and
    the total count."""

    total: int
    rows: tuple[R, ...]
    scores: dict[int, float] | None = None  # num -> score, relevance order only
    #: False when *total* is an estimate (``search(..., exact=False)``)
    exact: bool = True


class Inbox:
    """Read access to one inbox."""

    def __init__(
        self, cfg: InboxConfig, over: OverReader, git: GitReader, searcher: SearchBackend | None = None
    ) -> None:
        self.cfg = cfg
        self.layout = Layout(cfg.inboxdir)
        self.over = over
        self.git = git
        self._searcher = searcher

    @classmethod
    def open(cls, cfg: InboxConfig, searcher: SearchBackend | None = None, *, direct: bool = False) -> Inbox:
        """Open the inbox's databases; *searcher* answers its searches
        (default: a :class:`~pubinbox.search.reader.Searcher` in this
        process, opened on first use); *direct*: read blobs from the packs
        ourselves (a server: see :class:`~pubinbox.store.git.GitReader`)."""
        layout = Layout(cfg.inboxdir)
        layout.check()
        return cls(cfg, OverReader(layout.over_db), GitReader(layout, direct=direct), searcher)

    def close(self) -> None:
        self.over.close()
        self.git.close_packs()

    def __enter__(self) -> Inbox:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def name(self) -> str:
        return self.cfg.name

    def raw(self, row: OverRow) -> bytes:
        """The stored bytes of a message."""
        return self.raw_at(row.blob, row.epoch)

    def raw_at(self, blob: str, epoch: int) -> bytes:
        """The stored bytes of the message in *blob* of *epoch* (a row's
        ``blob`` and ``epoch``: see :meth:`~pubinbox.over.reader.OverReader.locate`)."""
        return self.git.blob(blob, epoch)

    def raw_by_mid(self, mid: str) -> list[tuple[OverRow, bytes]]:
        rows = self.over.by_mid(mid)
        if not rows:
            raise MessageNotFound(f"<{mid}> is not in {self.name}")
        return [(r, self.raw(r)) for r in rows]

    # -- search ----------------------------------------------------------------
    @property
    def searcher(self) -> SearchBackend:
        if self.cfg.indexlevel == "basic":
            raise SearchUnavailable(f"{self.name} has indexlevel=basic: no search index")
        if self._searcher is None:
            from pubinbox.search.reader import Searcher

            self._searcher = Searcher(self.layout.own_dir, self.cfg.indexlevel)
        return self._searcher

    def search(
        self,
        query: str,
        *,
        offset: int = 0,
        limit: int = 200,
        relevance: bool = False,
        threads: bool = False,
        ascending: bool = False,
        now: int | None = None,
        exact: bool = True,
    ) -> Hits[OverRow]:
        """Messages matching *query* (public-inbox's language), newest first
        or by relevance; *threads* expands every hit to its whole thread.
        Unless *exact*, the total may be an estimate (a page of a large
        inbox answered from its newest messages)."""
        res = self.searcher.search(
            query, offset=offset, limit=limit, relevance=relevance, ascending=ascending, now=now, exact=exact
        )
        rows = self.over.by_nums(res.nums)
        scores = dict(zip(res.nums, res.scores)) if res.scores else None
        if not threads:
            return Hits(res.total, tuple(rows), scores, res.exact)
        seen: dict[int, OverRow] = {}
        for tid in dict.fromkeys(r.tid for r in rows):
            for r in self.over.thread(tid):
                seen.setdefault(r.num, r)
        ordered = sorted(seen.values(), key=lambda r: (r.ts, r.num), reverse=not relevance)
        return Hits(res.total, tuple(ordered), scores, res.exact)

    def search_heads(
        self,
        query: str,
        *,
        offset: int = 0,
        limit: int = 200,
        relevance: bool = False,
        ascending: bool = False,
        exact: bool = True,
    ) -> Hits[Head]:
        """:meth:`search`, with the :class:`Head` of each hit: what a list
        of results shows."""
        res = self.searcher.search(
            query, offset=offset, limit=limit, relevance=relevance, ascending=ascending, exact=exact
        )
        scores = dict(zip(res.nums, res.scores)) if res.scores else None
        return Hits(res.total, tuple(self.over.heads(res.nums)), scores, res.exact)

    def thread_count(self) -> int:
        return int(self.over.query("SELECT COUNT(DISTINCT tid) FROM over WHERE num > 0")[0][0])
