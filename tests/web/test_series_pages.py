"""Patch series on the web and in the API, in process: the list, a
series' page (trailers from replies, missing patches, revisions), its mbox
(trailers applied where ``git mailinfo`` reads them) and the JSON (issue 12)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pubinbox.config import load
from pubinbox.web.app import App, build_app
from tests.series.test_detect import _corpus, _inbox
from tests.web.conftest import asgi_request


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> App:
    tmp = tmp_path_factory.mktemp("series-web")
    _inbox(tmp, _corpus())
    return build_app(load(tmp / "config"))


def test_list_page(app: App) -> None:
    r = asgi_request(app, "/t/series/")
    assert r.status_code == 200 and "etag" in r.headers
    assert '<a href="v2-0@x/"><b>[v2] feature</b></a>' in r.text
    assert "0/4, 4 missing" in r.text  # the lonely cover letter
    assert asgi_request(app, "/t/series").status_code == 301
    assert asgi_request(app, "/t/series/?o=999999999").status_code == 400


def test_series_page(app: App) -> None:
    r = asgi_request(app, "/t/series/v1-0@x/")
    assert r.status_code == 200
    t = r.text
    assert "3 of 3 patches" in t
    assert "(1 reply)" in t and "Reviewed-by: Bob Reviewer &lt;bob@example.org&gt;" in t
    assert '<a href="../v2-0@x/">[v2] feature</a>' in t  # the other revision
    r = asgi_request(app, "/t/series/lonely@x/")
    assert r.status_code == 200 and "<b>4 missing</b>" in r.text and "[1/4] <b>missing</b>" in r.text
    assert asgi_request(app, "/t/series/nope@x/").status_code == 404
    assert asgi_request(app, "/t/series/v1-0@x/junk").status_code == 404


def test_series_mbox_has_the_trailers(app: App, tmp_path: Path) -> None:
    r = asgi_request(app, "/t/series/v1-0@x/mbox")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/mbox")
    (tmp_path / "s.mbox").write_bytes(r.content)
    out = tmp_path / "split"
    out.mkdir()
    subprocess.run(["git", "mailsplit", f"-o{out}", str(tmp_path / "s.mbox")], check=True, capture_output=True)
    msgs = sorted(out.iterdir())
    assert len(msgs) == 3  # the patches, not the cover letter
    reviewed = []
    for m in msgs:
        info = subprocess.run(
            ["git", "mailinfo", str(tmp_path / "msg"), str(tmp_path / "patch")],
            input=m.read_bytes(), capture_output=True, check=True,
        )  # fmt: skip
        assert b"Subject: feature part" in info.stdout
        reviewed.append("Reviewed-by: Bob Reviewer <bob@example.org>" in (tmp_path / "msg").read_text())
        assert (tmp_path / "patch").read_text().startswith(" a | 1 +") or "diff --git" in (
            tmp_path / "patch"
        ).read_text()
    assert reviewed == [False, True, False]


def test_series_api(app: App) -> None:
    r = asgi_request(app, "/api/v1/inboxes/t/series?limit=3")
    doc = json.loads(r.content)
    assert r.status_code == 200 and doc["total"] == 8 and len(doc["results"]) == 3 and doc["next"]
    ids = [s["id"] for s in doc["results"]]
    nxt = json.loads(asgi_request(app, f"/api/v1/inboxes/t/series?limit=10&cursor={doc['next']}").content)
    assert len(ids + [s["id"] for s in nxt["results"]]) == 8 and nxt["next"] is None
    s = json.loads(asgi_request(app, "/api/v1/inboxes/t/series/v1-0@x").content)
    assert s["cover"]["mid"] == "v1-0@x"
    assert [p["trailers"] for p in s["patches"]] == [[], [["Reviewed-by", "Bob Reviewer <bob@example.org>"]], []]
    assert [r["version"] for r in s["revisions"]] == [1, 2]
    lonely = json.loads(asgi_request(app, "/api/v1/inboxes/t/series/lonely@x").content)
    assert lonely["missing"] == 4 and all(p["missing"] for p in lonely["patches"])
    r = asgi_request(app, "/api/v1/inboxes/t/series/nope@x")
    assert r.status_code == 404 and json.loads(r.content)["error"]["status"] == 404
    r = asgi_request(app, "/api/v1/inboxes/t/series?cursor=AAAAAA")
    assert r.status_code == 400


def test_series_of_a_message(app: App) -> None:
    whole = asgi_request(app, "/t/series/v1-0@x/mbox").content
    for mid in ("v1-0@x", "v1-2@x"):
        r = asgi_request(app, f"/t/{mid}/series.mbox")
        assert r.status_code == 200 and r.content == whole
    r = asgi_request(app, "/t/v2-3@x/series")
    assert r.status_code == 302 and r.headers["location"] == "/t/series/v2-0@x/"
    assert asgi_request(app, "/t/rev-1@x/series.mbox").status_code == 404  # a reply, no series


def test_series_atom(app: App) -> None:
    import feedparser

    r = asgi_request(app, "/t/series/new.atom")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(r.content)
    assert not feed.bozo, feed.bozo_exception
    assert len(feed.entries) == 8
    titles = {e.title: e.link for e in feed.entries}
    assert titles["[v2] feature"] == "http://127.0.0.1:8080/t/series/v2-0@x/"
    assert asgi_request(app, "/t/series/new.atom", headers={"If-None-Match": r.headers["etag"]}).status_code == 304


def test_message_page_links_its_series(app: App) -> None:
    """A patch's page and its cover letter's have one block naming the
    series (the differential page tests drop exactly that block); other
    messages have none."""
    for mid, what in (("v1-2@x", "patch 2/3"), ("v1-0@x", "cover letter")):
        t = asgi_request(app, f"/t/{mid}/").text
        assert t.count("<pre id=series>") == 1
        block = t.split("<pre id=series>", 1)[1].split("</pre><hr>", 1)[0]
        assert block.startswith(f"{what} of the series ")
        assert '<a href="../series/v1-0@x/">[v1] feature</a> (3 of 3)' in block
        assert '<a href="series.mbox">' in block
    assert "<pre id=series>" not in asgi_request(app, "/t/rev-1@x/").text  # a reply


def test_series_mbox_link_trailers(app: App) -> None:
    """``?l=1`` adds b4 am -l's ``Link:``, ``?i=1`` b4 am -i's ``Message-ID:``;
    anything else is a 400."""
    plain = asgi_request(app, "/t/series/v1-0@x/mbox").content
    assert plain.startswith(b"From git@z Thu Jan  1 00:00:00 1970\n") and plain.count(b"From git@z ") == 3
    link = asgi_request(app, "/t/series/v1-0@x/mbox?l=1").content
    assert b"\nLink: http://127.0.0.1:8080/t/v1-1@x/\n" in link and b"Link:" not in plain
    assert b"\nMessage-ID: <v1-3@x>\n" in asgi_request(app, "/t/series/v1-0@x/mbox?i=1").content
    for q in ("l=2", "i=yes", "l=1&i=1", "l=1&l=1"):
        assert asgi_request(app, f"/t/series/v1-0@x/mbox?{q}").status_code == 400, q


def test_series_filters(app: App) -> None:
    """author=, state=, q= on the list page and in the API; garbage is a 400."""

    def ids(qs: str) -> set[str]:
        doc = json.loads(asgi_request(app, f"/api/v1/inboxes/t/series?{qs}").content)
        html = asgi_request(app, f"/t/series/?{qs}").text
        got = {s["id"] for s in doc["results"]}
        assert doc["total"] == len(got) and all(f'href="{i}/"' in html for i in got)
        return got

    assert ids("author=carol") == {"un-1@x"}
    assert ids("author=DAN%40example") == {"dup-0@x"}
    assert ids("state=incomplete") == {"dup-0@x", "lonely@x"}
    assert ids("state=superseded") == {"v1-0@x"}
    assert "v1-0@x" not in ids("state=latest") and "v2-0@x" in ids("state=latest")
    assert ids("q=feature") == {"v1-0@x", "v2-0@x"}
    assert ids("q=other+thing&state=complete") == {"un-1@x"}
    assert ids("q=nothing-like-this") == set()
    assert ids("author=%25") == set()  # LIKE wildcards are plain characters
    page = asgi_request(app, "/t/series/?state=complete").text
    assert "<option selected>complete</option>" in page
    for qs in ("state=reviewd", "author=a&author=b", "q=" + "x" * 201, "author=%01", "q=" + "+w" * 11):
        assert asgi_request(app, f"/t/series/?{qs}").status_code == 400, qs
        r = asgi_request(app, f"/api/v1/inboxes/t/series?{qs}")
        assert r.status_code == 400 and json.loads(r.content)["error"]["status"] == 400, qs


def test_range_diff_page(app: App) -> None:
    t = asgi_request(app, "/t/series/v2-0@x/").text
    assert '[<a href="range-diff/v1-0@x/">range-diff</a>]' in t
    r = asgi_request(app, "/t/series/v2-0@x/range-diff/v1-0@x/")
    assert r.status_code == 200
    t = r.text
    assert "range-diff <a href=" in t and "[v1] feature" in t and "[v2] feature" in t
    for i in (1, 2, 3):
        assert f"  {i}: !   {i}: feature part {i}" in t  # each patch changed (its change line and its diff)
    assert "<span class=del>    -change 3</span>" in t and "<span class=add>    +change 8</span>" in t
    # asked the other way round: the same page (older first)
    assert asgi_request(app, "/t/series/v1-0@x/range-diff/v2-0@x/").text == t
    assert asgi_request(app, "/t/series/v1-0@x/range-diff/nope@x/").status_code == 404
    assert asgi_request(app, "/t/series/v1-0@x/range-diff/v1-0@x/").status_code == 404
    lonely = asgi_request(app, "/t/series/lonely@x/range-diff/v1-0@x/").text
    assert "is incomplete: patch 1, 2, 3, 4 not in the archive" in lonely


def test_series_pages_run_off_the_event_loop() -> None:
    """A series' mbox and range-diff run in the solver's slots (git
    processes, seconds for a huge series); a series page and the API's
    series in a thread of their own (0.4 s for a huge series, and never
    behind a blob solve); the list and its feed stay inline (a few ms)."""
    from pubinbox.web.app import _SERIES_PAGE, _SOLVER_PATH

    solved = [b"/x/series/a@b/mbox", b"/x/series/a%2Fb@c/mbox", b"/x/series/a@b/range-diff/c@d/",
              b"/x/a@b/series.mbox", b"/x/deadbeef/s/"]  # fmt: skip
    threaded = [b"/x/series/a@b/", b"/x/series/a%2Fb@c/", b"/api/v1/inboxes/x/series/a@b"]
    inline = [b"/x/series/", b"/x/series/new.atom", b"/api/v1/inboxes/x/series", b"/x/a@b/", b"/x/a@b/series/"]
    assert [p for p in solved if not _SOLVER_PATH.match(p) or _SERIES_PAGE.match(p)] == []
    assert [p for p in threaded if not _SERIES_PAGE.match(p) or _SOLVER_PATH.match(p)] == []
    assert [p for p in inline if _SOLVER_PATH.match(p) or _SERIES_PAGE.match(p)] == []
