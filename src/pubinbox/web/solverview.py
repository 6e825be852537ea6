"""``/$INBOX/$OID/s/`` (a blob with line numbers, and how it was found) and
``/$INBOX/$OID/s/FILENAME`` (its bytes), as public-inbox's ViewVCS.

Hints in the query: ``b=`` the post-image path, ``a=`` the pre-image path,
``A=`` the pre-image id (the links of message pages give them).  Only for
inboxes with a ``coderepo``, as public-inbox.  Solving runs in a thread of
the worker (app.py sends these URLs there, a few at a time) and its
result is remembered in the web cache by inbox generation, id and hints.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pubinbox.config import Config
from pubinbox.search.isolated import InboxSearch
from pubinbox.solver.coderepo import repos_of
from pubinbox.solver.solve import Limits, Result, Solver, Want, valid_oid
from pubinbox.web.html import esc, url_mid
from pubinbox.web.linkify import linkify
from pubinbox.web.page import error_page, html_end, html_top
from pubinbox.web.respond import page_response
from pubinbox.web.site import Site

__all__ = ["limits", "solver_response"]

MAX_SHOW = 1 << 20  # larger blobs get only the raw link, as public-inbox
MAX_HINT = 4096
LIMIT_TTL = 60.0  # a solve stopped by a limit is tried again after this


def _origin(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _solve(site: Site, request: Request, name: str, want: Want) -> Result:
    info = site.inboxes[name]
    tag, _newest = site.generation(name)
    key = ("solve", name, tag, want, _origin(request))
    got = site.cache.get(key)
    if isinstance(got, tuple) and isinstance(got[0], Result):
        cached: Result = got[0]
        if cached.status != "limit" or time.monotonic() - float(got[1]) < LIMIT_TTL:
            return cached
    base = f"{_origin(request)}/{name}/"
    search = None
    if info.cfg.indexlevel != "basic":
        box_search = InboxSearch(site.search, name)

        def search(q: str) -> Iterator[tuple[str, bytes]]:
            res = box_search.search(q, limit=100, relevance=True)
            box = site.inbox(name)
            for r in box.over.by_nums(res.nums):
                yield r.mid, box.raw(r)

    repos = repos_of(site.config, tuple(cr for cr, _u in info.coderepos))
    res = Solver(repos, search, lambda mid: f"{base}{url_mid(mid)}/", limits(site.config)).solve(want)
    site.cache.put(key, (res, time.monotonic()), len(res.data) + len(res.log))
    return res


def limits(config: Config) -> Limits:
    """``pubinbox.solveTimeout``, ``solveDepth``, ``solvePatches``."""
    d = Limits()
    return Limits(
        depth=int(config.number("pubinbox.solvedepth", d.depth)),
        patches=int(config.number("pubinbox.solvepatches", d.patches)),
        seconds=config.number("pubinbox.solvetimeout", d.seconds),
    )


def _hint(request: Request, k: str) -> str | None:
    v = request.query_params.get(k)
    return v if v and len(v) <= MAX_HINT and "\0" not in v else None


def solver_response(site: Site, request: Request, name: str, oid: str, rest: list[str]) -> Response:
    """*rest*: the path after the id (``["s"]``, ``["s", ""]``, ``["s", FILENAME]``)."""
    if len(rest) == 1:
        return RedirectResponse("s/", status_code=301)
    info = site.inboxes[name]
    if len(rest) != 2 or not valid_oid(oid) or not info.coderepos:
        return error_page(site, request, name)
    pre = _hint(request, "A")
    want = Want(oid, _hint(request, "b"), pre if pre and valid_oid(pre) else None, _hint(request, "a"))
    res = _solve(site, request, name, want)
    upfx = request.state.upfx
    log = f"<pre>debug log:</pre><hr /><pre>{linkify(res.log)}</pre>"
    if res.status != "found":
        body = html_top(info, title=f"{oid} not found", upfx=upfx) + log + html_end(site, info, upfx)
        return page_response(request, body, status=404)
    binary = b"\0" in res.data
    if rest[1]:  # raw
        # as public-inbox: no charset (a blob's encoding is unknown)
        ct = "application/octet-stream" if binary or res.type != "blob" else "text/plain"
        h = {"Content-Type": ct, "Content-Length": str(len(res.data))}
        return Response(b"" if request.method == "HEAD" else res.data, headers=h)
    title = f"{res.oid[:12]} {want.path_b or ''}".rstrip()
    top = html_top(info, title=title, upfx=upfx)
    if res.type != "blob":
        text = res.data.decode("utf-8", "replace")
        return page_response(request, top + f"<pre>{linkify(text)}</pre><hr>" + log + html_end(site, info, upfx))
    fn = (want.path_b or "").rsplit("/", 1)[-1] or "blob"
    raw = quote(fn, safe="-._~!$&'()*+,;=:@")
    head = f"<pre>{res.oid} blob {len(res.data)} bytes (<a href={esc(raw)}>raw</a>)</pre><hr />"
    if binary or len(res.data) > MAX_SHOW:
        why = "binary blob" if binary else f"blob of {len(res.data)} bytes: too large to show"
        return page_response(request, top + head + f"<pre>{why}</pre><hr />" + log + html_end(site, info, upfx))
    text = res.data.decode("utf-8", "replace")
    n = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    nums = "".join(f"<a id=n{i} href=#n{i}>{i}</a>\n" for i in range(1, n + 1))
    table = (
        f"<table class=blob><tr><td class=linenumbers><pre>{nums}</pre></td><td><pre> </pre></td>"
        f"<td class=lines><pre style='white-space:pre'><code>{esc(text)}</code></pre></td></tr></table>"
    )
    return page_response(request, top + head + table + log + html_end(site, info, upfx))
