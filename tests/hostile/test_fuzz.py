"""Hypothesis against a live ``pubinbox serve -W 2``: every query parameter
and the search language (random operators, nesting, prefixes, wildcards,
quotes, ranges with huge numbers), by GET and by POST.  Every answer is a
2xx/3xx/4xx/501/503 within 5 seconds, never a traceback, and afterwards the
same workers are alive and a cheap page answers (issue 16).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pubinbox.search.query import PREFIXES
from tests.hostile.conftest import alive, serving, workers
from tests.live import LiveServer
from tests.web.conftest import Archive, fetch

pytestmark = pytest.mark.slow

OK = {200, 301, 302, 304, 400, 404, 414, 431, 501, 503}  # 414/431: a URL past 16 KiB

_numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["9" * 5000, "-" + "9" * 40, "18446744073709551616", "9223372036854775807", "0", "-0", "1e9"]),
)
_word = st.one_of(
    st.sampled_from(["erofs", "fix", "th", "page", "folio", "zdata", "gao", "a", "AND", "OR", "NOT", "XOR"]),
    st.text(min_size=1, max_size=12),
)
_date = st.one_of(
    st.sampled_from(["20230101", "2023-01-01", "yesterday", "2.weeks.ago", "last.monday", "1970-01-01", "99999999"]),
    _numbers,
)


@st.composite
def _atom(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 6))
    w = draw(_word)
    if kind == 0:
        return w
    if kind == 1:
        return f"{draw(st.sampled_from(sorted(PREFIXES)))}:{w}"
    if kind == 2:
        return '"' + " ".join(draw(st.lists(_word, min_size=1, max_size=6))) + '"'
    if kind == 3:
        return f"{draw(st.sampled_from(['', 'b:', 's:', 'nq:', 'dfn:']))}{w[:3]}*"
    if kind == 4:
        field = draw(st.sampled_from(["d", "dt", "rt"]))
        return f"{field}:{draw(_date)}..{draw(_date)}"
    if kind == 5:
        return f"{draw(st.sampled_from(['z', 'uid']))}:{draw(_numbers)}..{draw(_numbers)}"
    return draw(st.sampled_from(["(", ")", "-", "+", '"', "*", ":", "\u201c", "\\", "%", "%2", "\x00"]))


_query = st.recursive(
    _atom(),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" ", " AND ", " OR ", " XOR ", " NOT ", " AND NOT "]), inner).map(
            lambda t: "".join(t)
        ),
        inner.map(lambda q: f"({q})"),
        st.lists(inner, min_size=2, max_size=50).map(lambda xs: " XOR ".join(xs)),
        inner.map(lambda q: f"-{q}"),
    ),
    max_leaves=60,
)

_params = st.fixed_dictionaries(
    {},
    optional={
        "o": _numbers,
        "l": _numbers,
        "x": st.sampled_from(["", "t", "A", "m", "zz", "<script>"]),
        "r": st.sampled_from(["", "0", "1", "x"]),
        "t": st.one_of(_numbers, st.sampled_from(["1", "20230101", "20230101000000-"])),
    },
)


@pytest.fixture(scope="module")
def srv(sample_hostile: Archive, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serving(sample_hostile, tmp_path_factory.mktemp("fuzz"), workers=2) as s:
        yield s


def _check(srv: LiveServer, path: str, method: str = "GET") -> None:
    t0 = time.monotonic()
    r = fetch(srv.base + path, method=method, timeout=10)
    took = time.monotonic() - t0
    assert r.status in OK, (method, path[:200], r.status, r.body[:300])
    assert took < 5, (method, path[:200], took)
    assert b"Traceback" not in r.body
    if r.status >= 500 and r.status != 503 and r.status != 501:
        pytest.fail(f"{method} {path[:200]}: {r.status}")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=_query, params=_params, method=st.sampled_from(["GET", "GET", "POST"]))
def test_fuzz_search(srv: LiveServer, q: str, params: dict[str, str], method: str) -> None:
    path = "?q=" + quote(q, safe="") + "".join(f"&{k}={quote(v, safe='')}" for k, v in params.items())
    _check(srv, path, method)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    page=st.sampled_from(["", "new.html", "new.atom", "_/text/help/", "all.mbox.gz"]),
    params=_params,
)
def test_fuzz_pages(srv: LiveServer, page: str, params: dict[str, str]) -> None:
    qs = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    method = "HEAD" if page == "all.mbox.gz" else "GET"
    _check(srv, page + ("?" + qs if qs else ""), method)


def test_still_alive_after_fuzz(srv: LiveServer) -> None:
    before = workers(srv)
    alive(srv)
    assert len(before) == 2
    assert "died" not in srv.stderr() and "Traceback" not in srv.stderr(), srv.stderr()[-2000:]
