"""``/all/`` as the API inbox ``all`` (issue 12, once issue 9's cross-inbox
index exists): listed by ``GET /api/v1/inboxes`` when configured; its
messages, threads and search answer over every inbox (a cross-post once,
the same hits as the ``/all/`` HTML search); series are per inbox (a JSON
404 that says so, and a 404 page for ``/all/series/``).  Against a real
``pubinbox serve`` of two inboxes with cross-posts (tests/extindex/sites)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape
from typing import Any
from urllib.parse import quote, unquote

import pytest

from tests.extindex.sites import Site, build_site
from tests.live import LiveServer, live_server
from tests.web.conftest import fetch

_HIT = re.compile(r'(?:^|<pre>) *[0-9]+\. <b><a href="([^"]+)/">', re.MULTILINE)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return build_site(tmp_path_factory.mktemp("api-all"), extindex_first=False)


@pytest.fixture(scope="module")
def srv(site: Site) -> Iterator[LiveServer]:
    with live_server(site.config, "all", kind="pubinbox") as s:
        yield s


def _json(srv: LiveServer, path: str) -> tuple[int, Any]:
    r = fetch(f"{srv.origin}/api/v1{path}")
    assert r.headers.get("content-type") == "application/json", path
    return r.status, json.loads(r.body)


def _search(srv: LiveServer, name: str, q: str) -> list[str]:
    out: list[str] = []
    cursor = ""
    while True:
        status, doc = _json(srv, f"/inboxes/{name}/search?q={quote(q, safe='')}&limit=50{cursor}")
        assert status == 200, doc
        out += [h["mid"] for h in doc["results"]]
        if doc["next"] is None:
            assert len(out) == doc["total"]
            return out
        cursor = f"&cursor={doc['next']}"


def test_inbox_list_names_all(srv: LiveServer) -> None:
    status, doc = _json(srv, "/inboxes")
    assert status == 200
    assert [i["name"] for i in doc["inboxes"]] == ["a", "b", "all"]
    status, one = _json(srv, "/inboxes/all")
    assert status == 200 and one["name"] == "all" and one["html_url"] == f"{srv.origin}/all/"
    assert one["messages"] > 0 and one["searchable"]


def test_messages_threads_search_over_every_inbox(srv: LiveServer) -> None:
    a = set(_search(srv, "a", "s:erofs"))
    b = set(_search(srv, "b", "s:erofs"))
    both = _search(srv, "all", "s:erofs")
    assert a - b and b - a and a & b  # the sample split has cross-posts
    assert len(both) == len(set(both)) and set(both) == a | b  # each once
    # the same hits (first page) as the /all/ HTML search
    page = fetch(f"{srv.origin}/all/?q={quote('s:erofs', safe='')}")
    assert page.status == 200
    html = [unquote(unescape(h)) for h in _HIT.findall(page.body.decode())]
    assert html and html == both[: len(html)]
    cross = min(a & b)
    status, msg = _json(srv, f"/inboxes/all/messages/{quote(cross, safe='@')}")
    assert status == 200 and msg["mid"] == cross and msg["html_url"].startswith(f"{srv.origin}/all/")
    status, th = _json(srv, f"/inboxes/all/threads/{quote(cross, safe='@')}")
    assert status == 200 and cross in [m["mid"] for m in th["messages"]]
    assert len({m["mid"] for m in th["messages"]}) == len(th["messages"])


def test_series_are_per_inbox(srv: LiveServer) -> None:
    status, doc = _json(srv, "/inboxes/all/series")
    assert status == 404 and "per inbox" in doc["error"]["message"]
    assert _json(srv, "/inboxes/a/series")[0] == 200
    page = fetch(f"{srv.origin}/all/series/")
    assert page.status == 404 and b"per inbox" in page.body
