"""The statistics pages over small inboxes made for them (issue 17): the
figures of known messages, dates in 1970 and 2099 clamped and counted,
review trailers (quoted ones and other people's not counted), hostile
poster names escaped in the SVG and the tables, empty and one-message
inboxes, ``?since=`` garbage, the SVG's shape, caching per generation and
the incremental trailer scan."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import time
import xml.etree.ElementTree as ET
from email.header import Header
from pathlib import Path
from typing import Any

import pytest

from pubinbox.config import load
from pubinbox.store.layout import Layout
from pubinbox.web import statsview
from pubinbox.web.app import App, build_app
from tests.helpers import run_cli
from tests.live import isolated_environ
from tests.web.conftest import Archive, asgi_request, build_inbox

SVG = "{http://www.w3.org/2000/svg}"
EVIL_NAME = '<script>alert(1)</script>\u202eevil "x" &amp;'


def _msg(mid: str, subject: str, frm: str, date: str, received: str, body: str, reply_to: str = "") -> str:
    refs = f"In-Reply-To: <{reply_to}>\nReferences: <{reply_to}>\n" if reply_to else ""
    return (
        "From mboxrd@z Thu Jan  1 00:00:00 1970\n"
        f"Received: from mx.example.org by lists.example.org; {received}\n"
        f"From: {frm}\nTo: list@example.org\nSubject: {subject}\nDate: {date}\nMessage-ID: <{mid}>\n{refs}"
        "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        f"{body}\n\n"
    )


def _evil_from() -> str:
    return f"{Header(EVIL_NAME, 'utf-8').encode()} <evil@example.org>"


MESSAGES = [
    _msg("p1@x", "[PATCH 1/1] foo: fix", "Alice <alice@example.org>", "Wed, 10 Jan 2024 10:00:00 +0000",
         "Wed, 10 Jan 2024 10:00:05 +0000", "the patch\n\nSigned-off-by: Alice <alice@example.org>\n---\n a | 1 +"),
    _msg("r1@x", "Re: [PATCH 1/1] foo: fix", "Bob <bob@example.org>", "Thu, 11 Jan 2024 10:00:00 +0000",
         "Thu, 11 Jan 2024 10:00:05 +0000",
         "> Signed-off-by: Alice <alice@example.org>\n> Acked-by: Carol <carol@example.org>\n\nLooks good.\n\n"
         "Reviewed-by: Bob <bob@example.org>\nTested-by: Bob <bob@example.org>\n-- \nBob", "p1@x"),
    _msg("r2@x", "Re: [PATCH 1/1] foo: fix", "Mallory <mallory@example.org>", "Fri, 12 Jan 2024 10:00:00 +0000",
         "Fri, 12 Jan 2024 10:00:05 +0000", "Reviewed-by: Bob <bob@example.org>", "p1@x"),
    _msg("e1@x", "[RFC] hostile", _evil_from(), "Mon, 15 Jan 2024 10:00:00 +0000",
         "Mon, 15 Jan 2024 10:00:05 +0000", "hello"),
    _msg("old@x", "a clock in 1970", "Dan <dan@example.org>", "Thu, 01 Jan 1970 00:00:01 +0000",
         "Thu, 01 Feb 2024 10:00:05 +0000", "tick"),
    _msg("new@x", "a clock in 2099", "Dan <dan@example.org>", "Thu, 01 Jan 2099 00:00:01 +0000",
         "Fri, 02 Feb 2024 10:00:05 +0000", "tock"),
]  # fmt: skip
LATER = _msg("r3@x", "Re: [RFC] hostile", "Erin <erin@example.org>", "Sat, 03 Feb 2024 10:00:00 +0000",
             "Sat, 03 Feb 2024 10:00:05 +0000", "Acked-by: Erin <erin@example.org>", "e1@x")  # fmt: skip


def _mbox(path: Path, *msgs: str) -> Path:
    path.write_text("".join(msgs), "utf-8")
    return path


@pytest.fixture
def made(tmp_path: Path) -> Archive:
    return build_inbox(tmp_path, "st", "list@example.org", _mbox(tmp_path / "in.mbox", *MESSAGES))


def _app(a: Archive) -> App:
    return build_app(load(a.config))


def _json(app: App, path: str = "/st/_/stats/json") -> dict[str, Any]:
    r = asgi_request(app, path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    doc: dict[str, Any] = json.loads(r.content)
    return doc


def _svgs(html: str) -> list[ET.Element]:
    found = re.findall(r"<svg\b.*?</svg>", html, re.DOTALL)
    return [ET.fromstring(s) for s in found]


def test_figures_of_known_messages(made: Archive) -> None:
    doc = _json(_app(made))
    assert doc["messages"] == 6 == sum(m["messages"] for m in doc["months"])
    span = doc["span"]
    assert (span["first"], span["last"], span["before"], span["after"], span["outside"]) == (
        "2024-01-10", "2024-02-02", 1, 1, 2
    )  # fmt: skip
    months = {m["month"]: m for m in doc["months"]}
    assert list(months) == ["2024-01", "2024-02"]  # 1970 and 2099 do not stretch the months
    assert (months["2024-01"]["messages"], months["2024-01"]["patches"], months["2024-01"]["threads"]) == (5, 2, 3)
    assert (months["2024-02"]["messages"], months["2024-02"]["replies"]) == (1, 1)
    assert [(r["address"], r["trailers"]) for r in doc["reviewers"]] == [("bob@example.org", 2)]
    posters = {p["address"]: p for p in doc["posters"]}
    assert posters["dan@example.org"]["messages"] == 2  # both counted at the ends of the span
    assert posters["evil@example.org"]["name"] == EVIL_NAME  # JSON is data: the name as written
    assert len(doc["weeks"]) == 104 and sum(w["messages"] for w in doc["weeks"]) == 6
    (q,) = doc["first_reply"]
    assert (q["quarter"], q["patches"], q["replied"], q["median_hours"]) == ("2024Q1", 2, 1, 24.0)


def test_page_svg_and_escaping(made: Archive) -> None:
    app = _app(made)
    r = asgi_request(app, "/st/_/stats/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.content.decode("ascii")  # the page is 7-bit, characters as references
    assert "2 messages are dated outside that span (1 before, 1 after)" in html
    svgs = _svgs(html)
    assert len(svgs) >= 6
    for svg in svgs:
        assert svg.tag == f"{SVG}svg" and re.fullmatch(r"0 0 [0-9.]+ [0-9.]+", svg.get("viewBox", ""))
        marks = svg.findall(f".//{SVG}rect")
        assert marks and all(m.find(f"{SVG}title") is not None and m.find(f"{SVG}title").text for m in marks)  # type: ignore[union-attr]
        for el in svg.iter():
            assert el.tag.removeprefix(SVG) not in ("script", "foreignObject", "image", "use", "a")
            for k, v in el.attrib.items():
                assert "href" not in k and "url(" not in v and not k.startswith("on"), (el.tag, k, v)
    assert "evil" in html
    assert "<script>" not in html and "\u202e" not in html and "&#8238;" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # in the table and in the SVG
    titles = [t.text or "" for s in svgs for t in s.iter(f"{SVG}title")]
    assert any("<script>alert(1)</script>\ufffdevil" in t for t in titles)  # parsed back: text, not markup


def test_header_link_and_listing_sparkline(made: Archive) -> None:
    app = _app(made)
    top = asgi_request(app, "/st/").text
    assert re.search(r'id=mirror href="_/text/mirror/">mirror</a> / <a href="_/stats/">stats</a>', top)
    assert 'href="../_/stats/">stats</a>' in asgi_request(app, "/st/p1@x/").text
    listing = asgi_request(app, "/").text
    m = re.search(r'<a href="st/_/stats/"[^>]*>(<svg\b.*?</svg>)</a>', listing, re.DOTALL)
    assert m is not None
    spark = ET.fromstring(m.group(1))
    bars = spark.findall(f"{SVG}rect")
    assert len(bars) == 52 and all(b.find(f"{SVG}title") is not None for b in bars)
    assert sum(int(re.search(r": (\d+) messages", b.find(f"{SVG}title").text or "").group(1)) for b in bars) == 6  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "since", ["garbage", "2024-13-01", "2024-1-01", "2024-02-30", "\uff12\uff10\uff12\uff14-01-01", "x" * 5000, "-1"]
)
def test_since_garbage_is_400(made: Archive, since: str) -> None:
    app = _app(made)
    page = asgi_request(app, "/st/_/stats/", params={"since": since})
    assert page.status_code == 400 and "YYYY-MM-DD" in page.text
    doc = asgi_request(app, "/st/_/stats/json", params={"since": since})
    assert doc.status_code == 400 and "YYYY-MM-DD" in json.loads(doc.content)["error"]["message"]


def test_since_narrows_the_period(made: Archive) -> None:
    app = _app(made)
    doc = _json(app, "/st/_/stats/json?since=2024-01-12")
    assert doc["since"] == "2024-01-12"
    assert {p["address"] for p in doc["posters"]} == {"mallory@example.org", "evil@example.org", "dan@example.org"}
    assert doc["reviewers"] == []
    assert _json(app, "/api/v1/inboxes/st/stats?since=2024-01-12") == doc
    assert 'value="2024-01-12"' in asgi_request(app, "/st/_/stats/?since=2024-01-12").text


def test_empty_and_one_message_inboxes(tmp_path: Path) -> None:
    empty = build_inbox(tmp_path / "e", "st", "list@example.org")
    with isolated_environ(tmp_path / "home"):
        run_cli("index", str(empty.inboxdir), env={"PI_CONFIG": str(empty.config)}, check=True)
    app = _app(empty)
    doc = _json(app)
    assert (doc["messages"], doc["months"], doc["posters"], doc["reviewers"], doc["first_reply"]) == (0, [], [], [], [])
    page = asgi_request(app, "/st/_/stats/")
    assert page.status_code == 200 and "No messages yet." in page.text
    assert asgi_request(app, "/").status_code == 200

    one = build_inbox(tmp_path / "o", "st", "list@example.org", _mbox(tmp_path / "one.mbox", MESSAGES[0]))
    app = _app(one)
    doc = _json(app)
    assert doc["messages"] == 1 and [m["month"] for m in doc["months"]] == ["2024-01"]
    assert doc["first_reply"][0]["replied"] == 0 and doc["first_reply"][0]["median_hours"] is None
    page = asgi_request(app, "/st/_/stats/")
    assert page.status_code == 200 and len(_svgs(page.text)) >= 5


def test_computed_once_per_generation_and_trailers_incremental(
    made: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Layout] = []
    real = statsview.figures

    def counting(layout: Layout) -> dict[str, Any]:
        calls.append(layout)
        return real(layout)

    monkeypatch.setattr(statsview, "figures", counting)
    app = _app(made)
    first = _json(app)
    for path in ("/st/_/stats/", "/st/_/stats/json", "/st/_/stats/?since=2024-01-01", "/api/v1/inboxes/st/stats"):
        assert asgi_request(app, path).status_code == 200
    assert len(calls) == 1
    db = made.inboxdir / "pubinbox" / "stats.sqlite3"
    before = sqlite3.connect(db).execute("SELECT num, kind, address FROM trailer ORDER BY num, kind").fetchall()
    assert [(k, a) for _n, k, a in before] == [("Reviewed-by", "bob@example.org"), ("Tested-by", "bob@example.org")]

    with isolated_environ(tmp_path / "home"):
        run_cli(
            "import", "st", str(_mbox(tmp_path / "later.mbox", LATER)), env={"PI_CONFIG": str(made.config)}, check=True
        )
    after = _json(app)
    assert len(calls) == 2  # a new generation: counted again, once
    assert after["messages"] == first["messages"] + 1
    assert {(r["address"], r["trailers"]) for r in after["reviewers"]} == {
        ("bob@example.org", 2),
        ("erin@example.org", 1),
    }
    rows = sqlite3.connect(db).execute("SELECT num, kind, address FROM trailer ORDER BY num, kind").fetchall()
    assert rows[:2] == before and len(rows) == 3  # the old replies were not read again
    last = dict(sqlite3.connect(db).execute("SELECT key, val FROM meta").fetchall())["last_num"]
    assert int(last) == 7


def test_all_inboxes(tmp_path: Path) -> None:
    """``/all/_/stats/`` over the cross-inbox index: every message once, the
    review trailers read from each inbox's git."""
    cfg = tmp_path / "config"
    env = {"PI_CONFIG": str(cfg)}
    with isolated_environ(tmp_path / "home"):
        for name, msgs in (("one", MESSAGES[:3]), ("two", MESSAGES[3:] + [LATER])):
            d = tmp_path / name
            run_cli("init", "-L", "basic", name, str(d), f"http://x/{name}", f"{name}@example.org", env=env, check=True)
            run_cli("import", name, str(_mbox(tmp_path / f"{name}.mbox", *msgs)), env=env, check=True)
    subprocess.run(["git", "config", "-f", str(cfg), "extindex.all.topdir", str(tmp_path / "all")], check=True)
    with isolated_environ(tmp_path / "home"):
        run_cli("extindex", "--all", "-q", env=env, check=True)
    app = build_app(load(cfg))
    doc = _json(app, "/all/_/stats/json")
    assert doc["messages"] == 7 and doc["reviews_pending"] == 0
    assert {(r["address"], r["trailers"]) for r in doc["reviewers"]} == {
        ("bob@example.org", 2),
        ("erin@example.org", 1),
    }
    assert asgi_request(app, "/all/_/stats/").status_code == 200


def test_backlog_read_in_the_background(made: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    """More replies than a request reads at once: a background process reads
    them (one at a time per inbox), the page says so meanwhile."""
    monkeypatch.setattr(statsview, "INLINE_SCAN", 0)
    app = _app(made)
    first = _json(app)
    assert first["reviews_pending"] == 6 and first["reviewers"] == []
    page = asgi_request(app, "/st/_/stats/").text
    assert "messages are still being read; reload in a minute" in page
    deadline = time.monotonic() + 60
    while (doc := _json(app))["reviews_pending"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert [(r["address"], r["trailers"]) for r in doc["reviewers"]] == [("bob@example.org", 2)]
    assert "still being read" not in asgi_request(app, "/st/_/stats/").text
    assert not statsview._scanners  # the process was waited for


def test_obfuscated_inbox_hides_addresses_in_tables(made: Archive) -> None:
    subprocess.run(["git", "config", "-f", str(made.config), "publicinbox.st.obfuscate", "true"], check=True)
    page = asgi_request(_app(made), "/st/_/stats/").text
    assert "bob@example&#8226;org" in page and "bob@example.org" not in page
