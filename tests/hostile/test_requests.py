"""Hostile request parameters and queries against a live ``pubinbox serve``
(``-W 1`` and ``-W 2``): every one is answered with a 4xx (or a normal
page) at once, the worker that answered is still the same process, and a
cheap page still answers.  Issue 16, defects 1 and 2.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.hostile.conftest import alive, serving, workers
from tests.live import LiveServer
from tests.web.conftest import Archive, fetch, git_config


@pytest.fixture(scope="module", params=[1, 2], ids=["W1", "W2"])
def srv(
    request: pytest.FixtureRequest, sample_hostile: Archive, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    git_config(sample_hostile.config, "publicinbox.sample.newsgroup", "test.sample")
    with serving(sample_hostile, tmp_path_factory.mktemp("srv"), workers=request.param) as s:
        yield s


def _q(query: str, **params: str) -> str:
    qs = "q=" + quote(query, safe="")
    for k, v in params.items():
        qs += f"&{k}={v}"
    return "?" + qs


BIG = "9" * 5000  # int() of it raises in Python 3.11 (4,300-digit limit)

# (path relative to the inbox, expected status); the first is defect 1 as filed
OUT_OF_RANGE = [
    (_q("x", o="1000000000"), 400),  # Tantivy allocated 48 GB and aborted the worker
    (_q("x", o="-1000000000"), 400),
    (_q("x", o="9223372036854775807"), 400),
    (_q("x", o="18446744073709551616"), 400),
    (_q("x", o="1000000000", x="A"), 400),
    (_q("x", o="-9223372036854775808", x="A"), 400),
    (_q("x", o=BIG), 400),
    (_q("x", o="-" + BIG), 400),
    (_q("erofs", o="100000"), 200),  # in range, past the end: "No more results"
    (_q("erofs", o="-100001"), 200),
    (_q("erofs", o="100001"), 400),
    (_q("erofs", o="1000000"), 400),
    (_q("erofs", l=BIG), 200),  # like public-inbox: any l above 200 is 200
    (_q("erofs", l="-5"), 200),
    (_q("erofs", o="abc", l="xyz", r="", t="1", x="zzz"), 200),
    (_q("erofs", x="A", o="5"), 200),
    ("?t=" + BIG, 200),
    ("?t=99999999999999", 200),
    ("?t=00000000000000-", 200),
    ("new.html?t=" + BIG, 200),
    ("new.atom?t=" + BIG, 200),
    ("?r=" + BIG, 302),
    ("%00%ff/", 404),
    ("m/" + "a" * 4000 + ".html", 301),
]

# queries over budget, or malformed: 400 at once (defect 2)
COSTLY = [
    " XOR ".join(["b:th*"] * 40),  # 3.6-11 s and 1.5 GB before
    " XOR ".join(["b:th*"] * 100),
    " XOR ".join(f"w{i}" for i in range(190)),  # 200 plain words XOR'd: 9.5 s before
    " XOR ".join(["s:e*"] * 30),
    "(" * 60 + "x" + ")" * 60,
    "d:99999999..",
    "uid:" + "9" * 30,
    "z:1.." + "9" * 25,
    "rt:" + "9" * 16,
    'b:"' + "a " * 300 + '"',
    "dfpre:" + "x" * 50,
    "a*",
]


@pytest.mark.parametrize(("path", "status"), OUT_OF_RANGE, ids=range(len(OUT_OF_RANGE)))
def test_parameters_bounded(srv: LiveServer, path: str, status: int) -> None:
    before = workers(srv)
    t0 = time.monotonic()
    r = fetch(srv.base + path, timeout=10)
    took = time.monotonic() - t0
    assert r.status == status, (path[:80], r.status, r.body[:300])
    assert took < 5, f"{path[:80]}: {took:.1f}s"
    if r.status == 400:
        assert b"out of range" in r.body, r.body[:300]
        assert b"Traceback" not in r.body
    alive(srv)
    assert workers(srv) == before, "a worker died"


@pytest.mark.parametrize("query", COSTLY, ids=range(len(COSTLY)))
def test_costly_queries_refused(srv: LiveServer, query: str) -> None:
    before = workers(srv)
    for method in ("GET", "POST"):
        t0 = time.monotonic()
        suffix = "" if method == "GET" else "&x=m"
        r = fetch(srv.base + _q(query) + suffix, method=method, timeout=10)
        took = time.monotonic() - t0
        assert r.status == 400, (query[:80], method, r.status, r.body[:300])
        assert took < 2, f"{query[:60]}: {took:.2f}s"
        assert b"Bad query" in r.body, r.body[:300]
    alive(srv)
    assert workers(srv) == before, "a worker died"


def test_costly_message_says_what_to_narrow(srv: LiveServer) -> None:
    r = fetch(srv.base + _q(" XOR ".join(["b:th*"] * 40)), timeout=10)
    assert r.status == 400
    assert b"too expensive" in r.body and b"wildcard" in r.body, r.body


def test_xor_is_odd_parity(srv: LiveServer, tmp_path: Path) -> None:
    """Xapian's XOR: an odd number of the operands match (not "exactly one")."""

    def total(q: str) -> int:
        r = fetch(srv.base + _q(q), timeout=10)
        if r.status == 404:
            return 0
        assert r.status == 200, r.body[:200]
        m = r.text().split("Results 1-")[1].split(" of ")[1].split()[0]
        return int(m)

    a, b, c = "s:erofs", "f:gao", "s:fix"
    all3 = total(f"{a} {b} {c}")
    exactly_one = total(f"({a} -{b} -{c}) OR ({b} -{a} -{c}) OR ({c} -{a} -{b})")
    assert all3 > 0
    assert total(f"{a} XOR {b} XOR {c}") == exactly_one + all3


def test_newsgroup_article_numbers_bounded(srv: LiveServer) -> None:
    for n in (BIG, "18446744073709551616", "9223372036854775808", "0"):
        r = fetch(f"{srv.origin}/test.sample/{n}", timeout=10)
        assert r.status == 301, (n[:30], r.status, r.body[:200])
        assert r.headers["location"].endswith("/sample/")
    r = fetch(f"{srv.origin}/test.sample/1", timeout=10)
    assert r.status == 302
    alive(srv)
