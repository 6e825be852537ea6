"""The ASGI application: public-inbox's URL map on Starlette.

Routing works on the *raw* request path: a Message-ID may contain ``/``
(sent as ``%2F``) and must stay one path segment, so the path is split on
``/`` before percent-decoding.  Handlers are plain functions run inline on
the worker's event loop (SQLite and git reads are short), except searches,
which wait for the search process in a thread so that a slow one never
holds up other requests; streamed bodies are iterated in the thread pool.
Errors become HTTP statuses here and nowhere else.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
from urllib.parse import unquote

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from pubinbox.config import Config
from pubinbox.errors import (
    BadRequest,
    CorruptObject,
    IndexDamaged,
    PubinboxError,
    QueryError,
    SearchFailed,
    SearchUnavailable,
)
from pubinbox.store.layout import is_v1
from pubinbox.store.packread import private_bases
from pubinbox.web import api, atom, extmsg, githttp, health, mboxview, search, seriesview, solverview, statsview, text
from pubinbox.web import manifest as grok
from pubinbox.web.html import url_mid
from pubinbox.web.message import message_page
from pubinbox.web.page import error_page
from pubinbox.web.params import MAX_ARTNUM
from pubinbox.web.respond import ATOM, page_response, stream_response, text_response, validator
from pubinbox.web.site import Site, conn_limits
from pubinbox.web.solvepool import SolvePool, solve_processes
from pubinbox.web.threadview import thread_page
from pubinbox.web.topics import index_page

__all__ = ["build_app"]

log = logging.getLogger("pubinbox.web")

_INBOX_RE = re.compile(r"[\w-][\w.-]*")
_OID_RE = re.compile(r"[a-f0-9]{7,64}")
#: run in the solver's slots (few at once machine-wide, niced): blob solves,
#: series mboxes (git mailinfo per patch) and range-diffs (issue 12)
_SOLVER_PATH = re.compile(
    rb"\A/[^/]+/(?:[a-f0-9]{7,64}/s/|series/[^?]+/(?:mbox|range-diff/[^/]+/)\Z|[^/?]+/series\.mbox\Z)"
)
#: run in a thread of their own, not on the loop and not behind a blob solve:
#: a series page (0.4 s for a huge series) and the API's series document
_SERIES_PAGE = re.compile(rb"\A/[^/]+/series/[^?/]+/\Z|\A/api/v1/inboxes/[^/]+/series/[^/]+\Z")
_ATTACH_RE = re.compile(r"([0-9][0-9.]*)-([^/]*)")
_METHODS = ("GET", "HEAD", "POST")
_STATS_JSON = re.compile(r"/([^/]+)/_/stats/json")
SMALL_MBOX = 128 << 10  # raw bytes up to which t.mbox.gz is built at once, not streamed


class Web:
    """Request dispatch for one :class:`Site`: the URL map, and errors
    turned into statuses.  Handlers get the site and what they need from
    the request, never this router."""

    def __init__(self, site: Site) -> None:
        self.site = site

    # -- entry point -----------------------------------------------------------------
    def __call__(self, request: Request) -> Response:
        if request.url.path == api.PREFIX or request.url.path.startswith(api.PREFIX + "/"):
            return api.dispatch(self.site, request)  # JSON, its own errors (issue 12)
        raw_json: bytes = request.scope.get("raw_path") or request.url.path.encode()
        if (
            m := _STATS_JSON.fullmatch(raw_json.decode("latin-1"))
        ) is not None:  # the API's, under the inbox (issue 17)
            return api.dispatch(self.site, request, ["inboxes", unquote(m.group(1), errors="replace"), "stats"])
        if request.method not in _METHODS:
            return Response("405 Method Not Allowed\n", status_code=405, headers={"Allow": ", ".join(_METHODS)})
        raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
        raw = raw_path.decode("latin-1")
        segs = [unquote(s, errors="replace") for s in raw.split("/")[1:]]
        request.state.upfx = "../" * max(len(segs) - 2, 0)  # relative way back to /$INBOX/
        request.state.root = "../" * max(len(segs) - 1, 0)  # ... and to /
        name = segs[0] if segs and segs[0] in self.site.inboxes else None
        try:
            return self.route(request, segs)
        except (QueryError, BadRequest) as e:
            if name is None:
                return text_response(request, f"400 Bad Request: {e}\n", status=400)
            return search.bad_query(self.site, request, name, e)
        except SearchUnavailable as e:
            return self.error_page(request, name, 501, f"Search is not available: {e}")
        except SearchFailed as e:
            return self.error_page(request, name, 503, f"Search failed: {e}", retry=True)
        except CorruptObject as e:
            log.warning("%s %s: %s", request.method, request.url.path, e)
            return self.error_page(
                request, name, 404, f"This message is missing from the archive's git repository: {e}"
            )
        except (IndexDamaged, sqlite3.DatabaseError) as e:
            log.warning("%s %s: damaged database: %s", request.method, request.url.path, e)
            if name is not None:
                self.site.forget(name)
            return self.error_page(
                request, name, 503, f"The archive's index is damaged and is being repaired: {e}", retry=True
            )
        except PubinboxError as e:
            log.warning("%s %s: %s", request.method, request.url.path, e)
            return self.error_page(request, name, 503, f"Service Unavailable: {e}", retry=True)

    def error_page(self, request: Request, name: str | None, status: int, msg: str, *, retry: bool = False) -> Response:
        """An error as a page of the inbox (or plain text for downloads)."""
        headers = {"Retry-After": "30"} if retry else None
        path = request.url.path
        if name is None or request.method == "POST" or path.endswith(("/raw", ".mbox.gz", ".atom", "/atom.xml")):
            return text_response(request, f"{status} {msg}\n", status=status, headers=headers)
        return error_page(self.site, request, name, msg, status=status, headers=headers)

    def route(self, request: Request, segs: list[str]) -> Response:
        site = self.site
        if segs == [""] or not segs:
            return text.listing(self.site, request)
        if segs == ["manifest.js.gz"]:
            return grok.site_manifest(self.site, request)
        if segs == ["_", "health"]:
            return health.health(self.site)
        name = segs[0]
        if name not in site.inboxes:
            return self.unknown_top(request, segs)
        if len(segs) == 1:
            return RedirectResponse(f"/{name}/", status_code=301)
        if segs[1:] == ["manifest.js.gz"]:  # needs no index
            return grok.inbox_manifest(self.site, request, name)
        if site.try_inbox(name) is None:
            why = "a v1 inbox: run `pubinbox convert`" if is_v1(site.inboxes[name].cfg.inboxdir) else "not indexed yet"
            return text_response(request, f"503 Service Unavailable: {name} is {why}\n", status=503)
        rest = segs[1:]
        head = rest[0]
        if head == "series":  # patch series pages (issue 12)
            return seriesview.route(self.site, request, name, rest[1:])
        if len(rest) == 1:
            return self.inbox_file(request, name, head)
        if head == "_" and len(rest) >= 2 and rest[1] == "stats":  # activity charts (issue 17)
            if rest[2:] == [""]:
                return statsview.page(self.site, request, name)
            return (
                RedirectResponse("stats/", status_code=301) if len(rest) == 2 else error_page(self.site, request, name)
            )
        if head == "_" and len(rest) >= 2 and rest[1] == "text":
            return text.text_page(self.site, request, name, rest[2:])
        if head in ("m", "f") and len(rest) >= 2:
            return self.legacy_m(request, name, rest[1:], head)
        if head == "t" and len(rest) >= 3:
            return self.legacy_t(request, name, rest[1:])
        return self.message_route(request, name, head, rest[1:])

    # -- /$INBOX/<file> ------------------------------------------------------------
    def inbox_file(self, request: Request, name: str, f: str) -> Response:
        q = request.query_params
        if f in ("", "index.html"):
            if q.get("q") is not None and (q.get("q") or q.get("x")):
                return search.search_response(self.site, request, name)
            if q.get("r") is not None:
                return RedirectResponse("new.html", status_code=302)
            v = validator(self.site, name, request)
            if (nm := v.not_modified(request)) is not None:
                return nm
            # inbox-wide pages (what feed readers and crawlers poll) are
            # rendered once per generation of the inbox: the ETag says which
            status, page = self.site.cache.get_or_make(
                ("page", v.etag), lambda: _index(self.site, name, q.get("t", ""))
            )
            return page_response(request, page, status=status, validator=v)
        if f == "new.html":
            return atom.new_html(self.site, request, name)
        if f in ("new.atom", "atom.xml"):
            v = validator(self.site, name, request)
            if (nm := v.not_modified(request)) is not None:
                return nm
            _st, feed = self.site.cache.get_or_make(
                ("page", v.etag), lambda: (200, atom.new_atom(self.site, request, name))
            )
            return page_response(request, feed, media_type=ATOM, validator=v)
        if f == "description":
            return text_response(request, self.site.inboxes[name].description + "\n")
        if f == "all.mbox.gz":
            over = self.site.inbox(name).over
            return StreamingResponse(
                mboxview.gz_stream(self.site, name, over.iter_all()) if request.method != "HEAD" else iter([b""]),
                media_type="application/gzip",
                headers=mboxview.gz_headers(f"{name}-all"),
            )
        if f.endswith(".css"):
            return text.css(self.site, request, f)
        if f == "_":
            return RedirectResponse("_/text/help/", status_code=301)
        if f.endswith((".mbox.gz", ".sql.gz")):
            return error_page(self.site, request, name)
        # /$INBOX/$MID without the trailing slash
        if self.site.rows(name, f):
            return RedirectResponse(f"{url_mid(f)}/", status_code=301)
        return extmsg.ext_msg(self.site, request, name, f)

    # -- /$INBOX/$MID/... ------------------------------------------------------------
    def message_route(self, request: Request, name: str, mid: str, rest: list[str]) -> Response:
        sub = rest[0]
        if sub == "s" and _OID_RE.fullmatch(mid):  # the blob solver (issue 14), before Message-IDs
            return solverview.solver_response(self.site, request, name, mid, rest)
        rows = self.site.rows(name, mid)
        if not rows:
            if sub == "t.mbox.gz" or sub == "t.mbox" or sub == "raw":
                return text_response(request, "404 Not Found\n", status=404)
            if len(rest) > 1 and rest == ["s", ""]:
                return error_page(self.site, request, name, "blob not found (the solver is not configured)")
            return extmsg.ext_msg(self.site, request, name, mid)
        if request.method == "POST" and sub == "" and request.query_params.get("x") == "m":
            return search.search_response(self.site, request, name, within=rows[0])
        if sub == "" or (sub == "f" and rest[1:] in ([], [""])):
            v = validator(self.site, name, request)
            if (nm := v.not_modified(request)) is not None:
                return nm
            # small: render whole in this worker thread (one hop, Content-Length)
            return page_response(request, "".join(message_page(self.site, name, rows)), validator=v)
        if sub in ("series.mbox", "series"):  # the patch series of this message (issue 12)
            return seriesview.of_message(self.site, request, name, rows, sub)
        if sub == "raw":
            # blobs never change; the headers depend on the inbox
            got = self.site.cache.get_or_make(
                ("raw", name, *(r.blob for r in rows)), lambda: mboxview.raw_text(self.site, name, rows)
            )
            body, headers = got
            headers = dict(headers)
            ct = headers.pop("Content-Type")
            return page_response(request, body, media_type=ct, headers=headers)
        if sub in ("T", "t"):
            if len(rest) == 1:
                return RedirectResponse(f"{sub}/#u", status_code=301)
            if rest[1] == "":
                v = validator(self.site, name, request)
                if (nm := v.not_modified(request)) is not None:
                    return nm
                return stream_response(request, thread_page(self.site, name, mid, rows, flat=sub == "T"), validator=v)
        if sub in ("t.mbox.gz", "t.mbox"):
            over = self.site.inbox(name).over
            msgs = over.thread(rows[0].tid, sid=None, limit=1 << 30)
            fn = mboxview.subject_filename(rows[0].subject)
            if request.method == "HEAD":
                return Response(b"", media_type="application/gzip", headers=mboxview.gz_headers(fn))
            gz = mboxview.gz_stream(self.site, name, msgs)
            if sum(r.bytes for r in msgs) <= SMALL_MBOX:
                # small (most threads): built here, no thread-pool hops, and
                # remembered by the thread's exact membership (b4 fetches the
                # same thread for am, shazam, trailers...)
                key = ("t.mbox.gz", name, *(r.num for r in msgs))
                data = self.site.cache.get_or_make(key, lambda: b"".join(gz))
                return Response(data, media_type="application/gzip", headers=mboxview.gz_headers(fn))
            return StreamingResponse(gz, media_type="application/gzip", headers=mboxview.gz_headers(fn))
        if sub == "t.atom":
            v = validator(self.site, name, request)
            if (nm := v.not_modified(request)) is not None:
                return nm
            return stream_response(
                request, atom.thread_atom(self.site, request, name, rows), media_type=ATOM, validator=v
            )
        if sub == "R":
            return RedirectResponse("../#R" if rest[1:] == [""] else "./#R", status_code=301)
        if sub == "s":
            if len(rest) == 1:
                return RedirectResponse("s/", status_code=301)
            return error_page(self.site, request, name, "blob solver not configured for this inbox")
        m = _ATTACH_RE.fullmatch(sub)
        if m and len(rest) == 1:
            return text.attachment(self.site, request, name, rows, m.group(1))
        if sub in ("f",):
            return RedirectResponse("../", status_code=301)
        return error_page(self.site, request, name)

    # -- legacy and site-wide --------------------------------------------------------
    def legacy_m(self, request: Request, name: str, rest: list[str], kind: str) -> Response:
        mid = rest[0]
        if kind == "m" and mid.endswith(".txt"):
            return RedirectResponse(f"/{name}/{url_mid(mid[:-4])}/raw", status_code=301)
        mid = mid.removesuffix(".html")
        return RedirectResponse(f"/{name}/{url_mid(mid)}/", status_code=301)

    def legacy_t(self, request: Request, name: str, rest: list[str]) -> Response:
        mid = rest[0]
        tail = rest[1] if len(rest) > 1 else ""
        if tail.startswith("mbox"):
            return RedirectResponse(f"/{name}/{url_mid(mid)}/t.mbox.gz", status_code=301)
        return RedirectResponse(f"/{name}/{url_mid(mid)}/t/#u", status_code=301)

    def unknown_top(self, request: Request, segs: list[str]) -> Response:
        """``/$NEWSGROUP[/$ARTNUM]`` or ``/$MID/``: redirect to its inbox."""
        first = segs[0]
        site = self.site
        if first == "+" and len(segs) == 2 and segs[1].endswith(".css"):
            return text.css(self.site, request, segs[1], top=True)
        if first in site.by_newsgroup:
            name = site.by_newsgroup[first]
            if len(segs) >= 2 and segs[1].isdigit() and len(segs[1]) <= 18 and 0 < int(segs[1]) <= MAX_ARTNUM:
                box = site.try_inbox(name)
                row = box.over.by_num(int(segs[1])) if box else None
                if row is not None:
                    return RedirectResponse(f"/{name}/{url_mid(row.mid)}/", status_code=302)
            return RedirectResponse(f"/{name}/", status_code=301)
        if first and first not in ("favicon.ico", "robots.txt"):
            for name in site.inboxes:
                box = site.try_inbox(name)
                if box is not None and self.site.rows(name, first):
                    tail = "/".join(segs[1:])
                    return RedirectResponse(f"/{name}/{url_mid(first)}/{tail}", status_code=302)
        return error_page(self.site, request, None)


class App:
    """The ASGI application: HTTP requests go straight to :class:`Web`
    (Starlette's Request/Response, without its router and middleware
    stack, which cost a quarter of a small page's time); lifespan sets up
    the thread pools (streamed bodies, searches) and stops the search
    process at shutdown."""

    #: searches that may wait for a thread at once; more get a 503
    SEARCH_QUEUE = 16
    #: searches a worker runs at once (each in a thread: the wait for the
    #: search process, then the page).  One: more threads only convoy on the
    #: GIL while they render (bench/web.py search, erofs, -W 2: 4 threads
    #: 503 req/s, p99 37.7 ms; 1 thread 493 req/s, p99 26.6 ms, against
    #: public-inbox's 35.7).  Other requests go on, on the event loop; a slow
    #: search holds up only the searches queued behind it in this worker
    #: (public-inbox-httpd's search holds up the whole worker).
    SEARCH_THREADS = 1

    def __init__(self, web: Web) -> None:
        self.web = web
        self.searches: anyio.CapacityLimiter | None = None
        self.series: anyio.CapacityLimiter | None = None  # series pages at once, in threads
        #: blob solves (/$INBOX/$OID/s/), series mboxes: few at once, niced (issue 14)
        self.solves = SolvePool(solve_processes(web.site.config), str(web.site.search.address))
        #: read by the HTTP protocol (web/guard.py) of the worker serving us
        self.conn_limits = conn_limits(web.site.config)
        self.git = git_http(web.site, self.conn_limits.idle_timeout)
        self.inbox_dirs = {n: i.cfg.inboxdir for n, i in web.site.inboxes.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    # streamed bodies (thread pages, mbox.gz) are iterated
                    # here, a chunk at a time: two threads are plenty
                    anyio.to_thread.current_default_thread_limiter().total_tokens = 2
                    self.searches = anyio.CapacityLimiter(self.SEARCH_THREADS)
                    self.series = anyio.CapacityLimiter(2)
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    self.solves.close()
                    self.web.site.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        if (git := githttp.match(raw_path.decode("latin-1"), self.inbox_dirs)) is not None:
            await self.git(git, scope, receive, send)  # streamed both ways, own process
            return
        request = Request(scope, receive)
        with private_bases():  # a request's delta bases stay with it (its threads too)
            try:
                response = await self.endpoint(request)
            except Exception:
                log.exception("%s %s", request.method, scope.get("path"))
                response = PlainTextResponse("500 Internal Server Error\n", status_code=500)
            try:
                await response(scope, receive, send)
            except PubinboxError as e:  # a streamed body failing half-way: the client sees a cut
                log.warning("%s %s: stopped while streaming: %s", request.method, scope.get("path"), e)
            except OSError as e:
                log.info("%s %s: %s", request.method, scope.get("path"), e)

    async def endpoint(self, request: Request) -> Response:
        if request.method == "POST":
            # parameters come from the query string; the body only says
            # "full threads" (x=...), so read at most a little of it, and
            # give up on a client that trickles it (b4 and lei send a few bytes)
            try:
                request.state.body = await asyncio.wait_for(_body_head(request), self.conn_limits.header_timeout)
            except TimeoutError:
                return PlainTextResponse("408 Request Timeout\n", status_code=408, headers={"Connection": "close"})
        # Handlers run inline, one at a time per worker process, like
        # public-inbox-httpd's event loop: with the GIL, a pool of handler
        # threads only convoys on SQLite (measured: half the throughput and
        # three times the p99 of inline at 8 connections).  Scale with
        # --workers.  Streamed bodies (thread pages, mbox.gz) are iterated in
        # the thread pool, so a long download does not hold up other requests.
        # Searches wait for the search process: in a thread of their own.
        if _SOLVER_PATH.match(request.scope.get("raw_path") or b""):
            # git apply and searches: seconds at worst, in a thread, never on the loop
            got = await self.solves.run(lambda: self.web(request))
            if got is None:
                return PlainTextResponse(
                    "503 Service Unavailable: too many blob solves at once; try again in a moment\n",
                    status_code=503,
                    headers={"Retry-After": "10"},
                )
            return got
        if _SERIES_PAGE.match(request.scope.get("raw_path") or b""):
            return await anyio.to_thread.run_sync(self.web, request, limiter=self.series)
        if statsview.stats_path(request.url.path):  # the first request of a generation counts (up to 2 s)
            return await anyio.to_thread.run_sync(self.web, request)
        if request.method == "POST" or b"q=" in request.scope.get("query_string", b""):
            limiter = self.searches
            if limiter is not None and limiter.statistics().tasks_waiting >= self.SEARCH_QUEUE:
                return PlainTextResponse(
                    "503 Service Unavailable: too many searches at once; try again in a moment\n",
                    status_code=503,
                    headers={"Retry-After": "10"},
                )
            return await anyio.to_thread.run_sync(self.web, request, limiter=limiter)
        return self.web(request)


async def _body_head(request: Request) -> bytes:
    got = b""
    async for chunk in request.stream():
        got += chunk
        if len(got) >= 1024:
            break
    return got[:1024]


def _index(site: Site, name: str, t: str) -> tuple[int, str]:
    status, chunks = index_page(site, name, t)
    return status, "".join(chunks)


def git_http(site: Site, stall_timeout: float) -> githttp.GitHttp:
    """git over HTTP: ``pubinbox.gitProcesses`` at once for the whole server
    (the workers share the search process's address, so they share slots)."""
    n = int(site.config.number("pubinbox.gitprocesses", os.cpu_count() or 1))
    return githttp.GitHttp(githttp.Slots(n, str(site.search.address)), stall_timeout)


def build_app(config: Config) -> App:
    """The web archive for every inbox in *config*."""
    return App(Web(Site(config)))
