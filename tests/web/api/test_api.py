"""/api/v1/ in process: every endpoint's document, the errors (JSON, with
the HTTP status), cursors, limits, ETag/304 and CORS (issue 12)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest

from pubinbox.config import load
from pubinbox.mail.parse import Headers
from pubinbox.search.query import MAX_QUERY_CHARS
from pubinbox.web.api import openapi_bytes
from pubinbox.web.app import App, build_app
from tests.helpers import make_msg, run_cli
from tests.web.api.conftest import API, api_mids, get_json, html_mids, q_mids
from tests.web.conftest import Archive, asgi_request

# a patch with replies in the sample archive (sample/sample.mbox)
PATCH = "20260715033507.1666-1-aditya.ansh182@gmail.com"


def _thread_root(sample_archive: Archive) -> str:
    """A Message-ID of the sample whose thread has several messages."""
    ids = q_mids(sample_archive.config, "sample", "s:Re", limit=1)
    return ids[0]


def test_root_and_openapi(app: App) -> None:
    status, doc = get_json(app, f"{API}/")
    assert status == 200
    assert doc["openapi_url"] == "http://127.0.0.1:8080/api/v1/openapi.json"
    r = asgi_request(app, f"{API}/openapi.json")
    assert r.status_code == 200 and r.content == openapi_bytes()
    spec = json.loads(r.content)
    assert spec["openapi"].startswith("3.1")
    for p in ("/api/v1/inboxes", "/api/v1/inboxes/{name}/search", "/api/v1/inboxes/{name}/messages/{mid}"):
        assert p in spec["paths"]
    # the file in the repository is what is served
    here = Path(__file__).resolve().parents[3] / "src/pubinbox/web/api/openapi.json"
    assert here.read_bytes() == r.content


def test_inboxes(app: App, sample_archive: Archive) -> None:
    status, doc = get_json(app, f"{API}/inboxes")
    assert status == 200
    assert [i["name"] for i in doc["inboxes"]] == ["sample"]
    assert doc["inboxes"][0]["addresses"] == [sample_archive.address]
    status, ibx = get_json(app, f"{API}/inboxes/sample")
    assert status == 200
    assert ibx["messages"] == 295 and ibx["searchable"] is True
    assert ibx["clone_urls"] == ["http://127.0.0.1:8080/sample/0"]
    assert ibx["html_url"] == "http://127.0.0.1:8080/sample/"
    assert ibx["urls"] == ["http://127.0.0.1/sample"]


def test_inbox_hidden_and_newsgroup(sample_archive: Archive, tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    cfg.write_bytes(sample_archive.config.read_bytes())

    subprocess.run(["git", "config", "-f", str(cfg), "publicinbox.sample.newsgroup", "org.example.sample"], check=True)
    subprocess.run(["git", "config", "-f", str(cfg), "publicinbox.nntpserver", "news.example.org"], check=True)
    app = build_app(load(cfg))
    _s, ibx = get_json(app, f"{API}/inboxes/sample")
    assert ibx["newsgroup"] == "org.example.sample"
    assert ibx["nntp_urls"] == ["nntp://news.example.org/org.example.sample"]
    subprocess.run(["git", "config", "-f", str(cfg), "publicinbox.sample.hide", "www"], check=True)
    _s, doc = get_json(build_app(load(cfg)), f"{API}/inboxes")
    assert doc == {"inboxes": []}


def test_message(app: App, sample_archive: Archive) -> None:
    status, doc = get_json(app, f"{API}/inboxes/sample/messages/{quote(PATCH)}")
    assert status == 200
    assert doc["mid"] == PATCH
    assert doc["subject"] == "[PATCH] erofs: modernize device IDR to XArray"
    names = [h[0].lower() for h in doc["headers"]]
    assert "message-id" in names and "subject" in names
    assert {k.lower(): v for k, v in doc["headers"]}["message-id"] == f"<{PATCH}>"
    texts = [p["text"] for p in doc["parts"] if p["text"]]
    assert texts and "diff --git" in "".join(texts)
    # the raw link gives the stored message, whose body holds the text shown
    raw = asgi_request(app, doc["raw_url"].removeprefix("http://127.0.0.1:8080"))
    assert raw.status_code == 200
    assert Headers(raw.content).raw("Message-ID") == [f"<{PATCH}>"]
    assert b"XArray" in raw.content
    assert doc["thread_url"].endswith(f"/threads/{PATCH}")
    # every part link answers
    for p in doc["parts"]:
        r = asgi_request(app, p["url"].removeprefix("http://127.0.0.1:8080"))
        assert r.status_code == 200, p


def test_thread_pages(app: App, sample_archive: Archive) -> None:
    mid = _thread_root(sample_archive)
    status, whole = get_json(app, f"{API}/inboxes/sample/threads/{quote(mid, safe='@')}")
    assert status == 200 and whole["total"] >= 2
    assert whole["next"] is None
    assert mid in [m["mid"] for m in whole["messages"]]
    dates = [m["date"] for m in whole["messages"]]
    assert dates == sorted(dates)
    # one message per page, following the cursors, gives the same list
    got: list[str] = []
    cursor = None
    while True:
        path = f"{API}/inboxes/sample/threads/{quote(mid, safe='@')}?limit=1"
        status, doc = get_json(app, path + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200
        got += [m["mid"] for m in doc["messages"]]
        cursor = doc["next"]
        if cursor is None:
            break
    assert got == [m["mid"] for m in whole["messages"]]
    # a cursor of this thread is refused by a search, and the other way round
    first = get_json(app, f"{API}/inboxes/sample/threads/{quote(mid, safe='@')}?limit=1")[1]["next"]
    status, err = get_json(app, f"{API}/inboxes/sample/search?q=erofs&cursor={first}")
    assert status == 400 and "cursor" in err["error"]["message"]


QUERIES = [
    "s:erofs",
    "f:hsiangkao@linux.alibaba.com",
    "b:deadlock",
    "dfn:fs/erofs/zdata.c",
    "s:PATCH AND NOT s:Re",
    "erofs OR iomap",
    's:"fix the"',
    "d:20260601..",
    "s:decompr*",
    "z:0..3000",
    "nq:Reviewed-by",
    "s:nosuchwordanywhere",
]


@pytest.mark.parametrize("query", QUERIES)
def test_search_same_as_q_and_html(app: App, sample_archive: Archive, query: str) -> None:
    """Same hits, same order as ``pubinbox q``'s code path and the HTML
    search page; small pages chained by cursor give the whole list."""
    want = q_mids(sample_archive.config, "sample", query)
    assert api_mids(app, "sample", query) == want
    assert api_mids(app, "sample", query, limit=7) == want
    assert html_mids(app, "sample", query) == want[:200]
    assert api_mids(app, "sample", query, sort="relevance") == q_mids(
        sample_archive.config, "sample", query, relevance=True
    )


def test_search_same_as_q_cli(app: App, sample_archive: Archive) -> None:
    for query in ("s:erofs", "b:deadlock OR s:iomap"):
        p = run_cli("--config", str(sample_archive.config), "q", "-I", "sample", "-n", "10000", query, check=True)
        want = [r["mid"] for r in json.loads(p.stdout)]
        assert want and api_mids(app, "sample", query) == want


def test_search_document(app: App) -> None:
    status, doc = get_json(app, f"{API}/inboxes/sample/search?q=s:erofs&limit=3")
    assert status == 200
    assert set(doc) == {"total", "total_exact", "results", "next"}
    assert len(doc["results"]) == 3 and doc["total"] > 3 and isinstance(doc["next"], str)
    assert doc["total_exact"] is True  # a small inbox: the whole index answers
    hit = doc["results"][0]
    for k in ("mid", "subject", "from", "date", "received", "num", "url", "html_url", "references"):
        assert k in hit
    status, none = get_json(app, f"{API}/inboxes/sample/search?q=s:nosuchwordanywhere")
    assert status == 200 and none == {"total": 0, "total_exact": True, "results": [], "next": None}


BAD = [
    ("/inboxes/nope", 404, "no such inbox"),
    ("/inboxes/nope/search?q=x", 404, "no such inbox"),
    ("/inboxes/sample/messages/nope@nowhere", 404, "no message"),
    ("/inboxes/sample/threads/nope@nowhere", 404, "no message"),
    ("/inboxes/sample/whatever", 404, "no such API endpoint"),
    ("/nope", 404, "no such API endpoint"),
    ("/inboxes/sample/search", 400, "q (the query) is required"),
    ("/inboxes/sample/search?q=", 400, "empty"),
    ("/inboxes/sample/search?q=%20%20", 400, "empty"),
    ("/inboxes/sample/search?q=a&q=b", 400, "2 times"),
    ("/inboxes/sample/search?q=(foo", 400, "'('"),
    ("/inboxes/sample/search?q=foo%20AND", 400, ""),
    ("/inboxes/sample/search?q=" + quote(" XOR ".join(["b:th*"] * 40)), 400, "too expensive"),
    ("/inboxes/sample/search?q=" + "x" * (MAX_QUERY_CHARS + 1), 400, "longer than"),
    ("/inboxes/sample/search?q=a&limit=0", 400, "out of range"),
    ("/inboxes/sample/search?q=a&limit=201", 400, "out of range"),
    ("/inboxes/sample/search?q=a&limit=99999999999999999999999", 400, "integer"),
    ("/inboxes/sample/search?q=a&limit=abc", 400, "integer"),
    ("/inboxes/sample/search?q=a&limit=-1", 400, "integer"),
    ("/inboxes/sample/search?q=a&sort=size", 400, "sort"),
    ("/inboxes/sample/search?q=a&cursor=zzzz", 400, "cursor"),
    ("/inboxes/sample/search?q=a&cursor=" + "A" * 65, 400, "cursor"),
    ("/inboxes/sample/search?q=a&cursor=%00%ff", 400, "cursor"),
    ("/inboxes/sample/search?q=a&cursor=a&cursor=b", 400, "cursor"),
    (f"/inboxes/sample/threads/{PATCH}?limit=1001", 400, "out of range"),
    (f"/inboxes/sample/threads/{PATCH}?cursor=bzk5OTk5OS4wMDAwMDAwMDAwMDA", 400, "cursor"),
]


@pytest.mark.parametrize(("path", "status", "words"), BAD, ids=range(len(BAD)))
def test_errors_are_json(app: App, path: str, status: int, words: str) -> None:
    got, doc = get_json(app, API + path)
    assert got == status, (path, doc)
    assert set(doc) == {"error"} and doc["error"]["status"] == status
    assert words in doc["error"]["message"], doc


def test_forged_cursors(app: App) -> None:
    """A cursor is bound to its query and sort; one changed by hand, or
    past the offset limit, is a 400, never another page."""
    from pubinbox.web.api.params import encode_cursor

    _s, doc = get_json(app, f"{API}/inboxes/sample/search?q=s:erofs&limit=2")
    cur = doc["next"]
    assert get_json(app, f"{API}/inboxes/sample/search?q=s:erofs&limit=2&cursor={cur}")[0] == 200
    assert get_json(app, f"{API}/inboxes/sample/search?q=s:iomap&limit=2&cursor={cur}")[0] == 400
    assert get_json(app, f"{API}/inboxes/sample/search?q=s:erofs&sort=relevance&cursor={cur}")[0] == 400
    far = encode_cursor(999_999, "search|sample|False|s:erofs")
    status, err = get_json(app, f"{API}/inboxes/sample/search?q=s:erofs&cursor={far}")
    assert status == 400 and "past the last page" in err["error"]["message"]


def test_methods_and_cors(app: App) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        r = asgi_request(app, f"{API}/inboxes", method=method)
        assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD, OPTIONS"
        assert json.loads(r.content)["error"]["status"] == 405
    r = asgi_request(
        app,
        f"{API}/inboxes/sample/search?q=x",
        method="OPTIONS",
        headers={"Origin": "https://example.org", "Access-Control-Request-Method": "GET"},
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "*"
    assert "GET" in r.headers["access-control-allow-methods"]
    r = asgi_request(app, f"{API}/inboxes/sample", method="HEAD")
    assert r.status_code == 200 and r.content == b"" and "etag" in r.headers
    # the pages are not affected
    assert asgi_request(app, "/sample/", method="OPTIONS").status_code == 405


def test_etag_304_stable_across_apps(sample_archive: Archive, app: App) -> None:
    """An ETag depends on the inbox's content and the request, so two
    workers (two apps) give the same one, and If-None-Match gets a 304."""
    other = build_app(load(sample_archive.config))
    for path in (
        f"{API}/inboxes",
        f"{API}/inboxes/sample",
        f"{API}/inboxes/sample/search?q=s:erofs&limit=5",
        f"{API}/inboxes/sample/messages/{PATCH}",
        f"{API}/inboxes/sample/threads/{PATCH}",
        f"{API}/openapi.json",
    ):
        a, b = asgi_request(app, path), asgi_request(other, path)
        assert a.status_code == 200 and a.headers["etag"] == b.headers["etag"], path
        nm = asgi_request(other, path, headers={"If-None-Match": a.headers["etag"]})
        assert nm.status_code == 304 and nm.content == b"", path
        assert nm.headers["access-control-allow-origin"] == "*"
    e1 = asgi_request(app, f"{API}/inboxes/sample/search?q=s:erofs&limit=5").headers["etag"]
    e2 = asgi_request(app, f"{API}/inboxes/sample/search?q=s:erofs&limit=6").headers["etag"]
    assert e1 != e2


def test_etag_changes_with_new_mail(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    env = {"PI_CONFIG": str(cfg), "PI_EMERGENCY": str(tmp_path / "em")}
    run_cli("init", "-L", "full", "t", str(tmp_path / "t"), "http://x/t", "t@x.org", env=env, check=True)

    subprocess.run(["git", "config", "-f", str(cfg), "publicinboxmda.spamcheck", "none"], check=True)
    menv = dict(env, ORIGINAL_RECIPIENT="t@x.org")
    assert run_cli("mda", stdin=make_msg(1, to="t@x.org", subject="first words"), env=menv).returncode == 0
    app = build_app(load(cfg))
    path = f"{API}/inboxes/t/search?q=s:words"
    r1 = asgi_request(app, path)
    assert json.loads(r1.content)["total"] == 1
    assert asgi_request(app, path, headers={"If-None-Match": r1.headers["etag"]}).status_code == 304
    assert run_cli("mda", stdin=make_msg(2, to="t@x.org", subject="second words"), env=menv).returncode == 0
    r2 = asgi_request(app, path, headers={"If-None-Match": r1.headers["etag"]})
    assert r2.status_code == 200 and r2.headers["etag"] != r1.headers["etag"]
    assert json.loads(r2.content)["total"] == 2


def test_basic_inbox_search_is_501(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    env = {"PI_CONFIG": str(cfg)}
    run_cli("init", "-L", "basic", "b", str(tmp_path / "b"), "http://x/b", "b@x.org", env=env, check=True)
    run_cli("index", str(tmp_path / "b"), env=env, check=True)
    app = build_app(load(cfg))
    status, doc = get_json(app, f"{API}/inboxes/b/search?q=x")
    assert status == 501 and doc["error"]["status"] == 501
    status, ibx = get_json(app, f"{API}/inboxes/b")
    assert status == 200 and ibx["searchable"] is False and ibx["messages"] == 0
