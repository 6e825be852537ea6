"""Newest-first pages from the newest messages (search/window.py).

The edges are checked on counting functions over known dates; the pages on
the sample archive's real index (295 messages at ``-L full``) with windows
made small enough for it (10 and 40 documents), against the same searches
over the whole index: every page of every query must be the same article
numbers in the same order, and some of them must come from a window.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from pubinbox.search import window
from pubinbox.search.reader import Searcher
from pubinbox.search.window import Edges, Window, estimate, worth_growing
from tests.helpers import run_cli
from tests.search.test_search_e2e import _newmsg, make_inbox


def counter(dates: list[int]) -> tuple[Callable[[int], int], list[int]]:
    """count_from over *dates*, and the probes it was asked."""
    ts = sorted(dates)
    asked: list[int] = []

    def count_from(t: int) -> int:
        asked.append(t)
        return len(ts) - bisect.bisect_left(ts, t)

    return count_from, asked


NOW = 1_780_000_000


def test_edges_hold_the_newest_documents() -> None:
    rng = random.Random(5)
    # 400,000 messages over 20 years, and a few dated in the future
    dates = [NOW - rng.randrange(20 * 365 * 86400) for _ in range(400_000)] + [NOW + 86400 * d for d in range(30)]
    count_from, asked = counter(dates)
    e = Edges(len(dates), NOW)
    w0 = e.get(0, count_from)
    assert w0 is not None
    assert w0.docs == count_from(w0.lo)
    assert window.FIRST <= w0.docs <= window.FIRST * 5 // 4
    assert count_from(w0.lo + 1) < w0.docs or w0.docs <= window.FIRST * 5 // 4
    w1 = e.get(1, count_from)
    assert w1 is not None and w1.lo < w0.lo
    assert window.FIRST * window.GROW <= w1.docs <= window.FIRST * window.GROW * 5 // 4
    # 160,000 * 8 is past half the index: no third window, and it is not asked twice
    n = len(asked)
    assert e.get(2, count_from) is None and e.get(5, count_from) is None
    assert len(asked) == n
    assert e.get(0, count_from) == w0 and len(asked) == n  # measured once


def test_no_window_when_the_dates_do_not_tell_the_newest() -> None:
    # every message at one time (mail without dates gets its import time)
    count_from, _ = counter([NOW] * 100_000)
    assert Edges(100_000, NOW).get(0, count_from) is None
    # an index too small for a window to save anything
    count_from, _ = counter(list(range(NOW, NOW + 30_000)))
    assert Edges(30_000, NOW).get(0, count_from) is None


def test_edges_of_mail_dated_in_the_future_and_of_ties() -> None:
    # all mail in the future (a clock gone wrong): the search goes forward from now
    dates = [NOW + 1000 * i for i in range(100_000)]
    count_from, _ = counter(dates)
    w = Edges(len(dates), NOW).get(0, count_from)
    assert w is not None and window.FIRST <= w.docs <= window.FIRST * 5 // 4
    # blocks of 30,000 messages sharing a date: the window takes a whole block
    dates = [NOW - 86400 * (i // 30_000) for i in range(120_000)]
    count_from, _ = counter(dates)
    w = Edges(len(dates), NOW).get(0, count_from)
    assert w == Window(NOW, 30_000)


def test_worth_growing() -> None:
    # the next window is GROW (8) times larger: 25 hits may become 200, 24 not
    assert worth_growing(25, 200) and not worth_growing(24, 200) and not worth_growing(0, 1)


def test_estimate() -> None:
    w = Window(NOW, 1000)
    assert estimate(50, w, 100_000, 100_000) == 5000
    assert estimate(50, w, 101_000, 100_000) == 2525  # new mail is in the window
    assert estimate(900, w, 1000, 1000) == 900
    assert estimate(3, Window(NOW, 0), 10, 10) == 3


# -- on a real index ---------------------------------------------------------------


@pytest.fixture(scope="module")
def small_windows() -> object:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(window, "FIRST", 10)
        mp.setattr(window, "GROW", 4)
        mp.setattr(window, "DRIFT", 2)
        yield


@pytest.fixture(scope="module")
def searcher(tmp_path_factory: pytest.TempPathFactory, small_windows: object) -> Searcher:
    d = make_inbox(tmp_path_factory.mktemp("window"), "full")[0]
    return Searcher(d / "pubinbox", "full")


QUERIES = [
    "erofs",
    "s:PATCH",
    "s:PATCH -s:RFC",
    "f:gao",
    "b:fix",
    '"page cache"',
    "compression OR lz4",
    "dfn:fs/erofs/zdata.c",
    "nq:applied",
    "-s:PATCH",
    "rt:2019-01-01..",
    "xyzzy-never-said",
]


def test_windowed_pages_are_the_whole_index_pages(searcher: Searcher) -> None:
    windowed = 0
    for q in QUERIES:
        full = searcher.search(q, limit=10_000)
        assert full.exact and full.total == len(full.nums)
        for offset, limit in [(0, 1), (0, 5), (0, 200), (3, 4), (8, 8), (20, 25), (60, 10), (full.total, 5)]:
            page = searcher.search(q, offset=offset, limit=limit, exact=False)
            assert page.nums == full.nums[offset : offset + limit], (q, offset, limit)
            if page.exact:
                assert page.total == full.total, q
            else:
                windowed += 1
                assert page.total >= offset + limit, (q, offset, limit)
        # an exact search never comes from a window
        assert searcher.search(q, limit=5) == searcher.search(q, limit=5, exact=True)
    assert windowed >= 10, "no page came from a window: the test proves nothing"


def test_windows_follow_new_mail(tmp_path: Path, small_windows: object) -> None:
    """Mail that arrives after the edges were measured is found on the first
    page (it is the newest), and the edges are measured again once the
    index grew by DRIFT documents."""
    d, env = make_inbox(tmp_path, "full")
    s = Searcher(d / "pubinbox", "full")
    first = s.search("s:PATCH", limit=5, exact=False)
    assert not first.exact
    edges = s._edges
    for i in range(4):
        run_cli("mda", stdin=_newmsg(i, "PATCH"), env=dict(env, ORIGINAL_RECIPIENT="test@example.com"), check=True)
    page = s.search("s:PATCH", limit=5, exact=False)
    assert page.nums == s.search("s:PATCH", limit=5).nums
    assert set(page.nums[:4]) == set(range(296, 300))
    assert s._edges is not edges  # 4 new documents > DRIFT: measured again
