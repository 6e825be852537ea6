"""What a search backend answers, whichever process runs it.

:class:`SearchBackend` is what :class:`pubinbox.inbox.Inbox` asks: the
in-process :class:`~pubinbox.search.reader.Searcher` (the CLI) and the web's
:class:`~pubinbox.search.isolated.InboxSearch` (a search process per web
worker, with a deadline and a memory cap) both implement it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["SearchBackend", "SearchResult"]


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Article numbers of one page of hits, and how many match in all."""

    total: int
    nums: tuple[int, ...]
    scores: tuple[float, ...] = ()  # relevance order only, same order as nums
    #: False when *total* is an estimate (``exact=False`` searches of a large index)
    exact: bool = True


class SearchBackend(Protocol):
    """Runs public-inbox queries over one inbox's search index."""

    def search(
        self,
        query: str,
        *,
        offset: int = 0,
        limit: int = 200,
        relevance: bool = False,
        ascending: bool = False,
        now: int | None = None,
        exact: bool = True,
    ) -> SearchResult: ...
