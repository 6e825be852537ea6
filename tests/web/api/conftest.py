"""Fixtures of the JSON API tests: the sample archive and an app on it,
and helpers that read the same answers elsewhere (``pubinbox q``'s code
path, the HTML search pages)."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest

from pubinbox.config import load
from pubinbox.inbox import Inbox
from pubinbox.web.app import App, build_app
from tests.web.conftest import Archive, asgi_request

API = "/api/v1"
_HIT = re.compile(r'(?:^|<pre>) *[0-9]+\. <b><a href="([^"]+)/">', re.MULTILINE)


@pytest.fixture(scope="module")
def app(sample_archive: Archive) -> App:
    return build_app(load(sample_archive.config))


def get_json(app: App, path: str, **kw: Any) -> tuple[int, Any]:
    r = asgi_request(app, path, **kw)
    assert r.headers["content-type"] == "application/json", (path, r.headers)
    assert r.headers["access-control-allow-origin"] == "*"
    return r.status_code, json.loads(r.content)


def q_mids(config: Path, name: str, query: str, *, limit: int = 10_000, relevance: bool = False) -> list[str]:
    """The Message-IDs ``pubinbox q -I NAME -n LIMIT QUERY`` prints (its
    code path: Inbox.search in this process, not the web's search process)."""
    cfg = next(i for i in load(config).inboxes if i.name == name)
    with Inbox.open(cfg) as box:
        return [r.mid for r in box.search(query, limit=limit, relevance=relevance).rows]


def api_mids(app: App, name: str, query: str, *, limit: int = 200, sort: str = "date", cap: int = 10_000) -> list[str]:
    """Every hit of the API's search, page after page (following ``next``)."""
    out: list[str] = []
    cursor = None
    while len(out) < cap:
        path = f"{API}/inboxes/{name}/search?q={quote(query, safe='')}&limit={limit}&sort={sort}"
        if cursor:
            path += f"&cursor={cursor}"
        status, doc = get_json(app, path)
        assert status == 200, (query, doc)
        out += [h["mid"] for h in doc["results"]]
        cursor = doc["next"]
        if cursor is None:
            assert len(out) == min(doc["total"], 100_000 + limit), (query, len(out), doc["total"])
            return out
    return out


def html_mids(app: App, name: str, query: str) -> list[str]:
    """The Message-IDs of the first page (200 hits) of the HTML search."""
    r = asgi_request(app, f"/{name}/?q={quote(query, safe='')}")
    if r.status_code == 404:
        return []
    assert r.status_code == 200, (query, r.status_code)
    return [unquote(unescape(h)) for h in _HIT.findall(r.text)]
