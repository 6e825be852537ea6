"""Newest-first search of a large index from its newest messages.

A date-sorted search collects every match to keep the newest ones, so its
cost grows with the inbox: on a million messages a query matching most of
them (``t:linux-f2fs-devel``, ``"page cache"``, ``s:PATCH -s:RFC``) took
10-17 ms against 0.3-1.3 ms for the same query over the newest 20,000
messages (``/tmp/s6/win.py`` in docs/notes/2026-12-04-s6.md).  So a page of
hits newest first is asked of the newest :data:`FIRST` documents first
(those received at or after a time *lo*, a range on the ``ts`` column),
then of :data:`GROW` times as many, then of the whole index.

The answer of a window is exact whenever the window holds at least
``offset + limit`` hits: every document outside it was received strictly
before every document in it, so none of them can be among the newest
``offset + limit`` (ties on ``ts`` never straddle the window's edge).  Only
the total is then unknown: it is estimated from the window's share of the
index, and the page says so (public-inbox's ``of ~N`` for Xapian's
estimates).  A caller that needs the exact count (IMAP SEARCH, ``pubinbox
q``, the mbox of all results) asks for it and gets the whole-index search.

The window edges are found with range counts on the ``ts`` column
(:class:`Edges`, each when first needed) and kept until the index has
grown or shrunk by :data:`DRIFT` documents: a window only grows with new
mail, which never makes an answer wrong, only a window a little larger.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

#: documents in the first window
FIRST = 20_000
#: each next window is this many times larger
GROW = 8
#: windows stop at this share of the index (a larger one saves too little)
MAX_SHARE = 0.5
#: recompute the edges once the index changed by this many documents
DRIFT = FIRST // 4
#: the span of ``ts`` the bisection covers (unix seconds; wider than any date)
TS_SPAN = (-(1 << 40), 1 << 40)


@dataclass(frozen=True, slots=True)
class Window:
    """The documents received at or after *lo*: *docs* of them when measured."""

    lo: int
    docs: int


class Edges:
    """The windows of one index, each measured when a search first needs it
    (the first one's edge: ~20 range counts near the top of the ``ts``
    column, under 9 ms on a million messages; a larger one's counts cost
    more, as they count more)."""

    def __init__(self, num_docs: int, now: int) -> None:
        self.num_docs = num_docs
        self.now = now
        self.found: list[Window] = []
        self.done = False  # no more windows: the next is too large
        self._lock = threading.Lock()  # the search process answers in threads

    def stale(self, num_docs: int) -> bool:
        """Whether the index changed too much since these were measured."""
        return abs(num_docs - self.num_docs) > DRIFT

    def get(self, i: int, count_from: Callable[[int], int]) -> Window | None:
        """Window *i* (0 the smallest); *count_from(t)* counts the documents
        with ``ts >= t``.  None when there is no such window."""
        if i < len(self.found):
            return self.found[i]
        with self._lock:
            return self._measure(i, count_from)

    def _measure(self, i: int, count_from: Callable[[int], int]) -> Window | None:
        while len(self.found) <= i and not self.done:
            want = FIRST * GROW ** len(self.found)
            below = self.found[-1].lo if self.found else TS_SPAN[1]
            w = None if want > self.num_docs * MAX_SHARE else _edge(count_from, want, below, self.now)
            if w is None or w.docs >= self.num_docs:
                self.done = True
            else:
                self.found.append(w)
        return self.found[i] if i < len(self.found) else None


def _edge(count_from: Callable[[int], int], want: int, below: int, now: int) -> Window | None:
    """A window of at least *want* documents, at most ~5/4 of it when the
    dates allow, whose edge is below *below*: from *now*, steps back of an
    hour, doubling, until the count is reached (or forward, when mail is
    dated in the future), then a bisection."""
    lo_end, hi_end = TS_SPAN[0], below
    t = min(now, below - 1)
    step = 3600
    if count_from(t) >= want:  # lo: count >= want; hi: count < want
        lo, hi = t, hi_end
        while lo + step < hi_end and count_from(lo + step) >= want:
            lo += step
            step *= 2
        hi = min(hi_end, lo + step)
    else:
        hi = t
        lo = max(lo_end, hi - step)
        while count_from(lo) < want:
            if lo == lo_end:
                return None
            hi = lo
            step *= 2
            lo = max(lo_end, hi - step)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        n = count_from(mid)
        if n < want:
            hi = mid
            continue
        lo = mid
        if n <= want + want // 4:
            break
    return Window(lo, count_from(lo))


def worth_growing(hits: int, need: int) -> bool:
    """Whether the next window, :data:`GROW` times larger, may hold *need*
    hits when this one held *hits*; if not, the whole index answers at once
    (a query of old mail would otherwise pay for every window)."""
    return hits * GROW >= need


def estimate(hits: int, window: Window, num_docs: int, docs_then: int) -> int:
    """The total of a query with *hits* in *window*, by the window's share of
    the index: new documents since the edges were measured are in the
    window (they are the newest)."""
    docs = window.docs + max(0, num_docs - docs_then)
    if docs <= 0:
        return hits
    return max(hits, round(hits * num_docs / docs))
