"""The cross-inbox index (issue 9): built by every ingest path, rebuilt by
``pubinbox extindex``, served at ``/all/`` and searched by ``pubinbox q``.

Two real inboxes from the sample archive (linux-erofs): ``a`` holds the
first 200 messages, ``b`` the last 145 with a ``List-Id`` of its own added,
so the 50 in both are cross-posts with different blobs and the same content
(what a message sent to two lists looks like in their archives).
"""

from __future__ import annotations

import gzip
import json
import mailbox
import sqlite3
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest

from pubinbox.config import load
from pubinbox.extindex.reader import ExtInbox
from pubinbox.search.reader import Searcher
from pubinbox.store.layout import Layout
from tests.extindex.sites import SPLIT_A, SPLIT_B, Site, _db, _set, build_site
from tests.helpers import run_cli
from tests.live import LiveServer, live_server


def _inbox_db(site: Site, name: str) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{Layout(site.root / name).over_db}?mode=ro", uri=True)


Snapshot = tuple[dict[str, set[tuple[str, int]]], list[list[str]]]


def _snapshot(site: Site) -> Snapshot:
    """What the index holds, independent of its numbering: each message
    (primary Message-ID) with its copies, and the threads as sets of ids."""
    db = _db(site)
    names = dict(db.execute("SELECT ibx, name FROM inboxes"))
    copies: dict[str, set[tuple[str, int]]] = {}
    for mid, ibx, xnum in db.execute("SELECT over.mid, xref.ibx, xref.xnum FROM xref JOIN over ON over.num = xref.num"):
        copies.setdefault(mid, set()).add((names[ibx], xnum))
    threads: dict[int, set[str]] = {}
    for tid, mid in db.execute("SELECT tid, mid FROM over WHERE num > 0"):
        threads.setdefault(tid, set()).add(mid)
    db.close()
    return copies, sorted(sorted(t) for t in threads.values())


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return build_site(tmp_path_factory.mktemp("ext"), extindex_first=True)


# -- building ----------------------------------------------------------------------


def test_one_row_per_message_and_a_copy_per_inbox(site: Site) -> None:
    db = _db(site)
    rows = db.execute("SELECT COUNT(*) FROM over WHERE num > 0").fetchone()[0]
    copies = db.execute("SELECT COUNT(*) FROM xref").fetchone()[0]
    per_row = dict(db.execute("SELECT num, COUNT(*) FROM xref GROUP BY num").fetchall())
    a = _inbox_db(site, "a").execute("SELECT COUNT(*) FROM over WHERE num > 0").fetchone()[0]
    b = _inbox_db(site, "b").execute("SELECT COUNT(*) FROM over WHERE num > 0").fetchone()[0]
    both = SPLIT_A - SPLIT_B
    assert (a, b) == (SPLIT_A, len(site.msgs) - SPLIT_B)
    assert copies == a + b
    assert rows == a + b - both  # the cross-posts (different blobs, same content) once
    assert sorted(per_row.values()).count(2) == both
    # a cross-post's copies: different blobs, each inbox's own
    blobs = db.execute("SELECT num, GROUP_CONCAT(blob) FROM xref GROUP BY num HAVING COUNT(*) = 2").fetchall()
    assert all(len(set(b.split(","))) == 2 for _n, b in blobs)


def test_threads_span_inboxes(site: Site) -> None:
    """Every inbox's thread lies within one thread of the index."""
    snap = _snapshot(site)
    where = {m: i for i, t in enumerate(snap[1]) for m in t}
    for name in ("a", "b"):
        db = _inbox_db(site, name)
        threads: dict[int, set[str]] = {}
        for tid, mid in db.execute("SELECT tid, mid FROM over WHERE num > 0"):
            threads.setdefault(tid, set()).add(mid)
        for mids in threads.values():
            assert len({where[m] for m in mids}) == 1, mids


def test_hooks_build_what_a_rebuild_builds(site: Site, tmp_path: Path) -> None:
    """Built by the import hooks alone (configured before any mail), the
    index equals one built afterwards by `pubinbox extindex --all`, and a
    `--reindex` from nothing."""
    hooked = _snapshot(site)
    other = build_site(tmp_path, extindex_first=False)
    assert _snapshot(other) == hooked
    other.cli("extindex", "--all", "--reindex")
    assert _snapshot(other) == hooked
    out = run_cli("--config", str(other.config), "extindex", "--all", check=True).stderr.decode()
    assert "0 new messages, 0 copies added, 0 removed" in out


def test_mda_and_purge_keep_it_current(tmp_path: Path) -> None:
    """mda adds a message before it returns; purging one copy of a
    cross-post keeps the message (its other copy), purging the only copy
    removes it."""
    s = build_site(tmp_path, extindex_first=True)
    new = (
        b"From: New <new@example.com>\nTo: b@example.com, a@example.com\nSubject: fresh\n"
        b"Date: Tue, 03 Jan 2023 10:00:00 +0000\nMessage-ID: <fresh@example.com>\n\nnew body\n"
    )
    for rcpt in ("a@example.com", "b@example.com"):
        p = run_cli("--config", str(s.config), "mda", "--no-precheck", stdin=new, env={"ORIGINAL_RECIPIENT": rcpt})
        assert p.returncode == 0, p.stderr
    snap = _snapshot(s)[0]
    assert {n for n, _x in snap["fresh@example.com"]} == {"a", "b"}
    cross = s.msgs[SPLIT_B]  # in both
    only_a = s.msgs[0]
    mid_cross = mailbox.mboxMessage(cross)["Message-ID"].strip().strip("<>")
    mid_a = mailbox.mboxMessage(only_a)["Message-ID"].strip().strip("<>")
    s.cli("purge", "-I", "a", stdin=cross)
    s.cli("purge", "-I", "a", stdin=only_a)
    snap2 = _snapshot(s)[0]
    assert {n for n, _x in snap2[mid_cross]} == {"b"}
    assert mid_a not in snap2
    # the row of the cross-post now reads its blob from b (a's is gone)
    with ExtInbox(s.topdir, {}) as box:
        (row,) = box.over.by_mid(mid_cross)
        assert b"List-Id: <b.example.com>" in box.raw(row)
    # a rebuild agrees
    before = _snapshot(s)
    s.cli("extindex", "--all", "--reindex")
    assert _snapshot(s) == before


# -- pubinbox q ----------------------------------------------------------------------


def test_q_without_inbox_searches_the_index(site: Site) -> None:
    got = json.loads(site.cli("q", "-n", "10000", "s:erofs"))
    per = [json.loads(site.cli("q", "-I", n, "-n", "10000", "s:erofs")) for n in ("a", "b")]
    union = {r["mid"] for p in per for r in p}
    assert [r["mid"] for r in got] and len(got) == len(union) == len({r["mid"] for r in got})
    assert {r["mid"] for r in got} == union
    assert [r["rt"] for r in got] == sorted((r["rt"] for r in got), reverse=True)
    both = [r for r in got if len(r["inboxes"]) == 2]
    assert both and all(r["inboxes"] == ["a", "b"] for r in both)


def test_federated_paging(site: Site) -> None:
    """Pages of the merged results are the whole list cut in pieces."""
    cfg = load(site.config)
    searchers = {i.name: Searcher(Layout(i.inboxdir).own_dir, i.indexlevel) for i in cfg.inboxes}
    with ExtInbox(site.topdir, searchers) as box:
        whole = box.search("b:the", limit=1000)
        assert whole.total == len(whole.rows) > 60
        pieces = [r for off in range(0, whole.total, 7) for r in box.search("b:the", offset=off, limit=7).rows]
        assert [r.num for r in pieces] == [r.num for r in whole.rows]
        assert [r.ts for r in whole.rows] == sorted((r.ts for r in whole.rows), reverse=True)
        asc = box.search("b:the", limit=1000, ascending=True)
        assert {r.num for r in asc.rows} == {r.num for r in whole.rows}
        assert [r.ts for r in asc.rows] == sorted(r.ts for r in asc.rows)
        rel = box.search("b:erofs", limit=1000, relevance=True)
        assert rel.scores and len(rel.rows) == rel.total


# -- /all/ on a live server ------------------------------------------------------------


@pytest.fixture(scope="module")
def srv(site: Site) -> Iterator[LiveServer]:
    with live_server(site.config, "all", kind="pubinbox") as s:
        yield s


def _get(url: str, data: bytes | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _mids_of_mbox(gz: bytes) -> list[str]:
    text = gzip.decompress(gz).decode("utf-8", "replace")
    out = []
    for chunk in text.split("\nFrom mboxrd@z Thu Jan  1 00:00:00 1970\n"):
        m = mailbox.mboxMessage(chunk.removeprefix("From mboxrd@z Thu Jan  1 00:00:00 1970\n").encode())
        for v in m.get_all("Message-ID") or []:
            out.append(v.strip().strip("<>"))
            break
    return out


def test_all_search_mbox_is_the_union(site: Site, srv: LiveServer) -> None:
    """POST /all/?x=m (what b4 and lei send) gives each hit of any inbox once."""
    q = urllib.parse.quote("s:erofs")
    st, body = _get(f"{srv.origin}/all/?x=m&q={q}", b"")
    assert st == 200
    got = _mids_of_mbox(body)
    union: set[str] = set()
    for n in ("a", "b"):
        st, b = _get(f"{srv.origin}/{n}/?x=m&q={q}", b"")
        assert st == 200
        union |= set(_mids_of_mbox(b))
    assert len(got) == len(set(got)) and set(got) == union
    st, _b = _get(f"{srv.origin}/all/?x=m&q=s:nosuchwordanywhere", b"")
    assert st == 404


def test_all_pages(site: Site, srv: LiveServer) -> None:
    db = _db(site)
    (mid,) = db.execute(
        "SELECT over.mid FROM over JOIN xref ON xref.num = over.num GROUP BY over.num HAVING COUNT(*) = 2 LIMIT 1"
    ).fetchone()
    (tid,) = db.execute("SELECT tid FROM over WHERE mid = ?", (mid,)).fetchone()
    thread = {m for (m,) in db.execute("SELECT mid FROM over WHERE tid = ? AND num > 0", (tid,))}
    base = f"{srv.origin}/all/"
    m = urllib.parse.quote(mid, safe="@")
    st, page = _get(f"{base}{m}/")
    assert st == 200
    html = page.decode()
    assert f'href="../../a/{m}/">a</a>' in html and f'href="../../b/{m}/">b</a>' in html
    assert "external index of several public inboxes" in html
    for sub in ("T/", "t/"):
        st, page = _get(f"{base}{m}/{sub}")
        assert st == 200 and all(urllib.parse.quote(t, safe="@") in page.decode() for t in thread)
    st, gz = _get(f"{base}{m}/t.mbox.gz")
    assert st == 200 and set(_mids_of_mbox(gz)) == thread
    st, raw = _get(f"{base}{m}/raw")
    assert st == 200 and mid.encode() in raw
    (newest,) = db.execute("SELECT mid FROM over WHERE num > 0 ORDER BY ts DESC, num DESC LIMIT 1").fetchone()
    st, idx = _get(base)
    assert st == 200 and f"{urllib.parse.quote(newest, safe='@')}/".encode() in idx
    st, feed = _get(f"{base}new.atom")
    parsed = feedparser.parse(feed)
    assert st == 200 and not parsed.bozo and len(parsed.entries) == 25
    st, res = _get(f"{base}?q=s:erofs")
    assert st == 200 and b"erofs" in res
    # /all/ is not an inbox of the listing, the manifest or git
    st, listing = _get(f"{srv.origin}/")
    assert st == 200 and b'<form action="all/">' in listing and b'href="all/"' not in listing
    st, man = _get(f"{srv.origin}/manifest.js.gz")
    assert st == 200 and "/all/" not in gzip.decompress(man).decode()
    st, _x = _get(f"{base}git/0.git/info/refs")
    assert st == 404


def test_all_newest_first_across_inboxes(site: Site, srv: LiveServer) -> None:
    """/all/new.atom: the 25 newest of every inbox, newest first."""
    st, feed = _get(f"{srv.origin}/all/new.atom")
    assert st == 200
    links = [urllib.parse.unquote(e.link) for e in feedparser.parse(feed).entries]
    db = _db(site)
    want = [m for (m,) in db.execute("SELECT mid FROM over WHERE num > 0 ORDER BY ts DESC, num DESC LIMIT 25")]
    assert links == [f"{srv.origin}/all/{m}/" for m in want]


def test_mirror_of_the_site_builds_the_same_index(site: Site, srv: LiveServer, tmp_path: Path) -> None:
    """`pubinbox clone` of each inbox into a config with an extindex: the
    mirror's index (from its own clone of the inboxes' git) equals the origin's."""
    cfg = tmp_path / "config"
    _set(cfg, "extindex.all.topdir", str(tmp_path / "all"))
    for n in ("a", "b"):
        run_cli("--config", str(cfg), "clone", "-q", f"{srv.origin}/{n}/", str(tmp_path / "m" / n), check=True)
    mirror = Site(tmp_path / "m", cfg, tmp_path / "all", [])
    assert _snapshot(mirror) == _snapshot(site)
    st, page = _get(f"{srv.origin}/all/_/text/mirror/raw")
    assert st == 200 and f"pubinbox clone {srv.origin}/ ".encode() in page and b"pubinbox extindex --all" in page
