"""Every route of the web archive, in process (httpx over ASGI), on a real
inbox: the sample list plus crafted messages for the corner cases."""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from pubinbox.config import load
from pubinbox.mail.mbox import iter_mbox
from pubinbox.web.app import build_app
from tests.conftest import SAMPLE_MBOX
from tests.helpers import make_msg, run_cli
from tests.web.conftest import asgi_request

ATT = b"""From: Carol <carol@example.org>
To: test@example.com
Subject: crash report
Date: Tue, 05 Jan 2027 07:15:00 +0000
Message-ID: <att@example.com>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/plain

see attached
From the log below
--b
Content-Type: text/plain; name="crash.log"
Content-Disposition: attachment; filename="crash.log"

line one of the log
--b
Content-Type: application/octet-stream; name="core.bin"
Content-Transfer-Encoding: base64

AAECAwQ=
--b--
"""


def _crafted() -> bytes:
    msgs = [
        make_msg(
            1,
            mid="root@example.com",
            subject="[PATCH] frob the widget",
            to="test@example.com",
            frm="Alice Example <alice@example.com>",
        ),
        make_msg(
            2,
            mid="reply1@example.com",
            subject="Re: [PATCH] frob the widget",
            refs=["root@example.com"],
            frm="Bob <bob@example.net>",
            body="> quoted\nreply one\nFrom the top\n",
        ),
        make_msg(
            3,
            mid="reply2@example.com",
            subject="Re: [PATCH] frob the widget",
            refs=["root@example.com", "reply1@example.com"],
            frm="Carol <carol@example.org>",
        ),
        make_msg(4, mid="orphan@example.com", subject="Re: lost", refs=["ghost@example.com"]),
        make_msg(5, mid="dup@example.com", subject="first of two", body="first body\n"),
        make_msg(6, mid="dup@example.com", subject="second of two", body="second body\n"),
        make_msg(7, mid="a/b+c%d@example.com", subject="odd id"),
        make_msg(8, mid="cc@example.com", subject="with cc", to="test@example.com, Dave <dave@example.com>"),
        ATT,
    ]
    out = b""
    for i, m in enumerate(msgs):
        # newer than the sample list, so the crafted mail is on the first index page
        m = re.sub(rb"Date: Mon, 02 Jan 2023 (\d\d)", lambda d: b"Date: Mon, 04 Jan 2027 " + d.group(1), m)
        if b"Cc:" not in m and b"cc@example" in m:
            m = m.replace(b"\n\n", b"\nCc: Erin <erin@example.com>\n\n", 1)
        body = re.sub(rb"(?m)^(>*From )", rb">\1", m)
        out += b"From mboxrd@z Thu Jan  1 00:00:00 1970\n" + body + b"\n"
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("web")
    home = tmp / "home"
    home.mkdir()
    (home / ".gitconfig").write_bytes(b"")
    cfg = tmp / "config"
    env = {"PI_CONFIG": str(cfg), "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1", "TZ": "UTC"}
    run_cli(
        "init",
        "-L",
        "full",
        "--ng",
        "org.example.test",
        "test",
        str(tmp / "test"),
        "http://example.com/test",
        "test@example.com",
        env=env,
        check=True,
    )
    run_cli(
        "init",
        "-L",
        "full",
        "other",
        str(tmp / "other"),
        "http://example.com/other",
        "other@example.com",
        env=env,
        check=True,
    )
    (tmp / "test" / "description").write_text("the test list\n")
    mb = tmp / "crafted.mbox"
    mb.write_bytes(_crafted())
    run_cli("import", "test", str(mb), str(SAMPLE_MBOX), env=env, check=True)
    ob = tmp / "other.mbox"
    ob.write_bytes(
        b"From x Thu Jan  1 00:00:00 1970\n"
        + make_msg(9, mid="elsewhere@example.com", to="other@example.com")
        + b"\nFrom x Thu Jan  1 00:00:00 1970\n"
        + make_msg(10, mid="root@example.com.extra", to="o@x")
    )
    run_cli("import", "other", str(ob), env=env, check=True)
    app = build_app(load(cfg))
    return {"app": app, "tmp": tmp}


def req(site: dict[str, Any], method: str, path: str, **kw: Any) -> httpx.Response:
    return asgi_request(site["app"], path, method=method, **kw)


def get(site: dict[str, Any], path: str, **kw: Any) -> httpx.Response:
    return req(site, "GET", path, **kw)


def mbox_mids(data: bytes) -> list[str]:
    import io

    out = []
    for m in iter_mbox(io.BytesIO(data)):
        found = re.search(rb"(?im)^Message-ID:\s*<([^>]+)>", m)
        out.append(found.group(1).decode() if found else "")
    return out


def text_of(r: httpx.Response) -> str:
    return r.content.decode("ascii")


# -- listing and inbox pages ---------------------------------------------------------


def test_listing(site: dict[str, Any]) -> None:
    r = get(site, "/")
    assert r.status_code == 200
    t = text_of(r)
    # as public-inbox: each inbox under its configured url
    assert 'href="http://example.com/test"' in t and "the test list" in t and "http://example.com/other" in t


def test_inbox_redirect_and_index(site: dict[str, Any]) -> None:
    r = get(site, "/test")
    assert r.status_code == 301 and r.headers["location"] == "/test/"
    r = get(site, "/test/")
    assert r.status_code == 200
    t = text_of(r)
    assert "<b>the test list</b>" in t
    # a topic links to the newest message with its subject
    assert 'href="reply2@example.com/T/#t">[PATCH] frob the widget</a>' in t
    assert "(3+ messages)" in t
    assert "next (older)" in t  # 304 messages > one window of 200
    older = re.search(r'href="\?t=(\d{14})" rel=next', t)
    assert older
    r2 = get(site, f"/test/?t={older.group(1)}")
    assert r2.status_code == 200 and "prev (newer)" in text_of(r2) and "latest" in text_of(r2)
    assert get(site, "/test/?t=19700101").status_code == 404
    r = get(site, "/test/?r=1")
    assert r.status_code == 302 and r.headers["location"] == "new.html"
    assert get(site, "/test/index.html").status_code == 200


def test_new_html_atom_description(site: dict[str, Any]) -> None:
    r = get(site, "/test/new.html")
    assert r.status_code == 200 and text_of(r).count('#R">reply</a>') == 25
    # messages as public-inbox's eml_entry: To/Cc, In-Reply-To, body
    assert 'In-Reply-To: &lt;<a href="root@example.com/">root@example.com</a>&gt;' in text_of(r)
    for p in ("/test/new.atom", "/test/atom.xml"):
        r = get(site, p)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
        assert r.text.count("<entry>") == 25
    r = get(site, "/test/description")
    assert r.status_code == 200 and r.text == "the test list\n"


def test_text_pages(site: dict[str, Any]) -> None:
    for key in ("help", "color", "mirror"):
        r = get(site, f"/test/_/text/{key}/")
        assert r.status_code == 200, key
        assert get(site, f"/test/_/text/{key}/raw").headers["content-type"].startswith("text/plain")
    assert "dfn:" in get(site, "/test/_/text/help/").text
    # links are built from the Host the client used (public-inbox does the same)
    assert "git clone --mirror http://127.0.0.1:8080/test/0 test/git/0.git" in get(site, "/test/_/text/mirror/raw").text
    html = get(site, "/test/_/text/mirror/").text
    assert (
        'git clone --mirror <a href="http://127.0.0.1:8080/test/0">http://127.0.0.1:8080/test/0</a> test/git/0.git'
        in html
    )
    assert "<a id=nntp>" not in html  # no NNTP server configured
    r = get(site, "/test/_/text/config/raw")
    assert r.status_code == 200 and '[publicinbox "test"]' in r.text and "newsgroup = org.example.test" in r.text
    assert get(site, "/test/_/text/help").status_code == 301
    assert get(site, "/test/_/text/nosuch/").status_code == 404
    r = get(site, "/test/userContent.css")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")


# -- message page -------------------------------------------------------------------


def test_message_page(site: dict[str, Any]) -> None:
    r = get(site, "/test/reply1@example.com/")
    assert r.status_code == 200
    t = text_of(r)
    assert "<title>Re: [PATCH] frob the widget - Bob</title>" in t
    assert "From: Bob &lt;bob@example.net&gt;" in t
    assert 'Subject: <a href="#r" id=t>Re: [PATCH] frob the widget</a>' in t
    assert 'Message-ID: &lt;reply1@example.com&gt; (<a href="raw">raw</a>)' in t
    assert 'In-Reply-To: &lt;<a href="../root@example.com/">root@example.com</a>&gt;' in t
    assert '<span class="q">&gt; quoted' in t
    assert "Thread overview: </b>3+ messages" in t
    assert "Bob [this message]</a></b>" in t
    assert 'href="../reply2@example.com/" rel=next>next</a>' in t
    assert "rel=prev>prev parent</a>" in t
    assert "other threads:[" in t
    # reply instructions: every address, the list's too
    assert "--in-reply-to=reply1@example.com" in t
    assert "--to=bob@example.net" in t and "--cc=test@example.com" in t
    assert "mailto:bob@example.net?In-Reply-To=%3Creply1@example.com%3E" in t


def test_message_all_addresses_in_reply(site: dict[str, Any]) -> None:
    t = text_of(get(site, "/test/cc@example.com/"))
    for a in ("--to=alice@example.com", "--cc=dave@example.com", "--cc=erin@example.com", "--cc=test@example.com"):
        assert a in t


def test_message_ghost_parent_and_dup(site: dict[str, Any]) -> None:
    t = text_of(get(site, "/test/orphan@example.com/"))
    assert '[parent not found: &lt;<a href="../ghost@example.com/">ghost@example.com</a>&gt;]' in t
    t = text_of(get(site, "/test/dup@example.com/"))
    assert "WARNING: multiple messages have this Message-ID" in t
    assert "first body" in t and "second body" in t
    raw = get(site, "/test/dup@example.com/raw")
    assert raw.content.count(b"From mboxrd@z Thu Jan  1 00:00:00 1970") == 2


def test_message_odd_mid(site: dict[str, Any]) -> None:
    r = get(site, "/test/a%2Fb+c%25d@example.com/")
    assert r.status_code == 200 and "odd id" in r.text
    r = get(site, "/test/a%2Fb%2Bc%25d%40example.com/t.mbox.gz")  # b4's quote_plus()
    assert r.status_code == 200 and mbox_mids(gzip.decompress(r.content)) == ["a/b+c%d@example.com"]


def test_raw(site: dict[str, Any]) -> None:
    r = get(site, "/test/reply1@example.com/raw")
    assert r.status_code == 200
    assert (
        r.headers["content-type"] == "text/plain; charset=us-ascii"
    )  # no Content-Type: the MIME default, as public-inbox
    assert r.headers["content-disposition"] == "inline; filename=PATCH-frob-the-widget.txt"
    assert r.content.startswith(b"From mboxrd@z Thu Jan  1 00:00:00 1970\n")
    assert b"\n>From the top\n" in r.content


def test_attachments(site: dict[str, Any]) -> None:
    t = text_of(get(site, "/test/att@example.com/"))
    assert 'href="2-crash.log">[-- Attachment #2: crash.log --]' in t
    assert "line one of the log" in t
    r = get(site, "/test/att@example.com/2-crash.log")
    assert r.status_code == 200 and r.content == b"line one of the log"
    assert r.headers["x-content-type-options"] == "nosniff"
    r = get(site, "/test/att@example.com/3-core.bin")
    assert r.status_code == 200 and r.content == b"\x00\x01\x02\x03\x04"
    assert r.headers["content-type"] == "application/octet-stream"
    assert req(site, "POST", "/test/att@example.com/2-crash.log").status_code == 200
    assert get(site, "/test/att@example.com/9-nope.txt").status_code == 404


def test_thread_pages(site: dict[str, Any]) -> None:
    for kind in ("T", "t"):
        r = get(site, f"/test/reply1@example.com/{kind}")
        assert r.status_code == 301 and r.headers["location"] == f"{kind}/#u"
        r = get(site, f"/test/reply1@example.com/{kind}/")
        assert r.status_code == 200
        t = text_of(r)
        assert t.count("permalink</a>") >= 3
        assert "<u id=u><b>Re: [PATCH] frob the widget</b></u>" in t
        assert "end of thread" in t and "Thread overview:</b> 3+ messages" in t
        assert ("<ul>" in t) == (kind == "t")
    t = text_of(get(site, "/test/reply1@example.com/T/"))
    assert t.index("Alice Example @") < t.index("Bob @") < t.index("Carol @")


def test_thread_mbox_and_atom(site: dict[str, Any]) -> None:
    r = get(site, "/test/reply2@example.com/t.mbox.gz", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/gzip"
    assert "content-encoding" not in r.headers
    assert r.headers["content-disposition"] == "inline; filename=PATCH-frob-the-widget.mbox.gz"
    data = gzip.decompress(r.content)
    assert sorted(mbox_mids(data)) == ["reply1@example.com", "reply2@example.com", "root@example.com"]
    assert b"\n>From the top\n" in data
    assert get(site, "/test/reply2@example.com/t.mbox").headers["content-type"] == "application/gzip"
    r = get(site, "/test/reply2@example.com/t.atom")
    assert r.status_code == 200 and r.text.count("<entry>") == 3
    assert get(site, "/test/nosuch@example.com/t.mbox.gz").status_code == 404


def test_all_mbox(site: dict[str, Any]) -> None:
    r = get(site, "/test/all.mbox.gz")
    assert r.status_code == 200 and r.headers["content-type"] == "application/gzip"
    assert len(mbox_mids(gzip.decompress(r.content))) == 304
    assert get(site, "/test/other.mbox.gz").status_code == 404


# -- search -------------------------------------------------------------------------


def test_search_footer_marks_an_estimated_total() -> None:
    """A page answered from a large inbox's newest messages (search/window.py)
    says its total is an estimate, as public-inbox's "of ~N"; next/prev
    follow the estimate."""
    from pubinbox.inbox import Hits
    from pubinbox.web.params import SearchQuery
    from pubinbox.web.search import _nav_bot

    sq = SearchQuery(q="erofs", l=200)
    assert "Results 1-200 of ~52345" in _nav_bot(sq, Hits(52345, (), None, exact=False), 200)
    exact = _nav_bot(sq, Hits(52345, (), None), 200)
    assert "Results 1-200 of 52345" in exact and "next (older)" in exact
    assert "No more results, only ~7" in _nav_bot(SearchQuery(q="x", o=200), Hits(7, (), None, exact=False), 0)


def test_search_summary(site: dict[str, Any]) -> None:
    r = get(site, "/test/?q=s:frob")
    assert r.status_code == 200
    t = text_of(r)
    assert "Results 1-3 of 3" in t and '<b><a href="root@example.com/">[PATCH] frob the widget</a></b>' in t
    assert "<b>date</b>|<a" in t
    t = text_of(get(site, "/test/?q=s:frob&r=1"))
    assert "<b>relevance</b>" in t and "%]" in t
    t = text_of(get(site, "/test/?q=s:frob&o=-1"))
    assert t.index("root@example.com/") < t.index("reply2@example.com/")
    t = text_of(get(site, "/test/?q=erofs&l=5"))
    assert "Results 1-5 of" in t and "next (older)" in t
    assert "x=m" in text_of(get(site, "/test/?q=s:frob&x=m")) and "ignored for GET" in text_of(
        get(site, "/test/?q=s:frob&x=m")
    )
    r = get(site, "/test/?q=s:frob&x=t")
    assert r.status_code == 200 and "<b>nested</b>" in r.text
    # as public-inbox: every result in full (mini-tree, body), then the threads
    assert r.text.count("0 siblings, ") + r.text.count("1 sibling, ") == 3 and "3+ results" in r.text
    assert "reply one" in r.text and "-- links below jump to the message on this page --" in r.text
    r = get(site, "/test/?q=s:frob&x=t&r")
    assert r.text.count("\t[relevance ") == 3
    r = get(site, "/test/?q=s:frob&x=A")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
    assert r.text.count("<entry>") == 3 and "s:frob - search results" in r.text


def test_search_errors(site: dict[str, Any]) -> None:
    r = get(site, "/test/?q=zzznothingmatches")
    assert r.status_code == 404 and "[No results found]" in r.text
    r = get(site, "/test/?q=(s:frob")
    assert r.status_code == 400 and "Bad query" in r.text
    r = req(site, "POST", "/test/?x=m&q=zzznothingmatches")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/plain")
    r = req(site, "POST", "/test/?x=m&q=d:2023..2022..2021")
    assert r.status_code in (400, 404)


def test_search_mbox_b4_and_lei(site: dict[str, Any]) -> None:
    # b4: body "x=m", no Content-Type -> whole threads (public-inbox: x=[^0] in the body)
    r = req(site, "POST", "/test/?x=m&q=f:carol", content=b"x=m")
    assert r.status_code == 200 and r.headers["content-type"] == "application/gzip"
    assert "content-encoding" not in r.headers
    mids = mbox_mids(gzip.decompress(r.content))
    assert set(mids) == {"reply2@example.com", "reply1@example.com", "root@example.com", "att@example.com"}
    assert len(mids) == len(set(mids))
    # lei: empty urlencoded body, results only unless t=1
    h = {"Content-Type": "application/x-www-form-urlencoded"}
    r = req(site, "POST", "/test/?x=m&q=f:carol", content=b"", headers=h)
    assert sorted(mbox_mids(gzip.decompress(r.content))) == ["att@example.com", "reply2@example.com"]
    r = req(site, "POST", "/test/?x=m&t=1&q=f:carol", content=b"", headers=h)
    assert len(mbox_mids(gzip.decompress(r.content))) == 4
    # liblore's thread-scoped search: POST /$INBOX/$MID/?x=m
    r = req(site, "POST", "/test/reply1@example.com/?x=m&q=f:carol", content=b"")
    assert mbox_mids(gzip.decompress(r.content)) == ["reply2@example.com"]
    assert "results-f-carol.mbox.gz" in r.headers["content-disposition"]


# -- not found, redirects -------------------------------------------------------------


def test_not_found_and_suggestions(site: dict[str, Any]) -> None:
    r = get(site, "/test/nowhere@example.com/")
    assert r.status_code == 404 and "not found" in r.text and "marc.info" in r.text
    r = get(site, "/test/elsewhere@example.com/")
    assert r.status_code == 300 and 'href="../../other/elsewhere@example.com/"' in r.text
    r = get(site, "/test/reply1@exam/")
    assert r.status_code == 300 and "reply1@example.com" in r.text and "partial match" in r.text
    r = get(site, "/test/root@example.com")
    assert r.status_code == 301 and r.headers["location"] == "root@example.com/"


def test_redirects(site: dict[str, Any]) -> None:
    r = get(site, "/root@example.com/")
    assert r.status_code == 302 and r.headers["location"] == "/test/root@example.com/"
    r = get(site, "/reply1@example.com/t.mbox.gz")
    assert r.status_code == 302 and r.headers["location"] == "/test/reply1@example.com/t.mbox.gz"
    r = get(site, "/org.example.test")
    assert r.status_code == 301 and r.headers["location"] == "/test/"
    r = get(site, "/org.example.test/1")
    assert r.status_code == 302 and re.fullmatch(r"/test/.+/", r.headers["location"])
    assert get(site, "/test/m/root@example.com/").headers["location"] == "/test/root@example.com/"
    assert get(site, "/test/m/root@example.com.html").headers["location"] == "/test/root@example.com/"
    assert get(site, "/test/m/root@example.com.txt").headers["location"] == "/test/root@example.com/raw"
    assert get(site, "/test/t/root@example.com/").headers["location"] == "/test/root@example.com/t/#u"
    assert get(site, "/test/root@example.com/R/").headers["location"] == "../#R"
    assert get(site, "/nosuch-thing/").status_code == 404


# -- HTTP details --------------------------------------------------------------------


def test_http_details(site: dict[str, Any]) -> None:
    r = get(site, "/test/root@example.com/", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip" and r.headers["vary"] == "Accept-Encoding"
    assert "etag" in r.headers and "last-modified" in r.headers
    r2 = get(site, "/test/root@example.com/", headers={"If-None-Match": r.headers["etag"]})
    assert r2.status_code == 304 and r2.content == b""
    r3 = get(site, "/test/", headers={"If-Modified-Since": r.headers["last-modified"]})
    assert r3.status_code == 304
    h = req(site, "HEAD", "/test/root@example.com/")
    assert h.status_code == 200 and h.content == b""
    assert req(site, "HEAD", "/test/_/text/help/").status_code == 200  # liblore validate()
    assert req(site, "PUT", "/test/").status_code == 405
    assert req(site, "DELETE", "/test/root@example.com/").status_code == 405


def test_pages_are_ascii(site: dict[str, Any]) -> None:
    for p in ("/test/", "/test/root@example.com/", "/test/root@example.com/T/", "/test/?q=erofs", "/test/new.atom"):
        get(site, p).content.decode("ascii")


def test_every_sample_message_renders(site: dict[str, Any], sample_mbox: Path) -> None:
    import io

    mids = []
    for m in iter_mbox(io.BytesIO(sample_mbox.read_bytes())):
        found = re.search(rb"(?im)^Message-ID:\s*<([^>]+)>", m)
        if found:
            mids.append(found.group(1).decode("utf-8", "replace"))
    from urllib.parse import quote

    bad = []
    for mid in mids[::7]:
        r = get(site, f"/test/{quote(mid, safe='@')}/")
        if r.status_code != 200:
            bad.append((mid, r.status_code))
    assert not bad


def test_new_mail_shows_up_without_restart(site: dict[str, Any]) -> None:
    """A running server sees mail delivered after it started (overview,
    git and search are re-read, not cached)."""
    assert get(site, "/test/late@example.com/").status_code == 404
    get(site, "/test/?q=s:latecomer")  # open the searcher before the delivery
    tmp: Path = site["tmp"]
    late = tmp / "late.eml"
    late.write_bytes(make_msg(11, mid="late@example.com", subject="latecomer", date="Fri, 01 Jan 2027 00:00:00 +0000"))
    env = {"PI_CONFIG": str(tmp / "config"), "HOME": str(tmp / "home"), "GIT_CONFIG_NOSYSTEM": "1"}
    run_cli("import", "test", str(late), env=env, check=True)
    assert get(site, "/test/late@example.com/").status_code == 200
    r = get(site, "/test/?q=s:latecomer")
    assert r.status_code == 200 and "late@example.com/" in r.text
    assert "latecomer" in get(site, "/test/new.atom").text
