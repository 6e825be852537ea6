"""Search from the web: ``/$INBOX/?q=`` summary pages, the nested view
(``x=t``), Atom (``x=A``) and mbox.gz downloads (``POST … x=m``) that b4 and
lei use, with public-inbox's parameters (``o`` offset, negative for oldest
first; ``l`` limit, at most 200; ``r`` relevance; ``t`` whole threads).

A download streams every result (at most :data:`MBOX_CAP` messages), page
by page, newest first; no results is a plain-text 404, as clients expect.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from pubinbox.errors import BadRequest, QueryError
from pubinbox.inbox import Hits, R
from pubinbox.mail.mbox import gzip_mboxrd
from pubinbox.over.reader import Head, OverRow
from pubinbox.web.html import esc, fmt_date, href_mid
from pubinbox.web.mboxview import display_raw, messages, web_mboxrd
from pubinbox.web.obfuscate import Obfuscator, obfuscator_for
from pubinbox.web.page import html_end, html_top
from pubinbox.web.params import LIMIT, SearchQuery
from pubinbox.web.respond import ATOM, page_response, text_response
from pubinbox.web.site import Site
from pubinbox.web.skel import from_names, skeleton
from pubinbox.web.thread import thread
from pubinbox.web.threadview import EntryCtx, entry

__all__ = ["MBOX_CAP", "SearchQuery", "bad_query", "search_response"]

#: most messages one mbox.gz download of search results holds
MBOX_CAP = 50_000


def bad_query(site: Site, request: Request, name: str, e: QueryError | BadRequest) -> Response:
    """400: a query that cannot be parsed or is over budget, or a parameter
    out of range; the page keeps the search box filled in."""
    info = site.inboxes[name]
    sq = SearchQuery.from_request(request, strict=False)
    what = "Bad query" if isinstance(e, QueryError) else "Bad request"
    body = (
        html_top(info, title=f"{sq.q} - search results", q_value=sq.q)
        + f"<pre>\n{what}: <b>{esc(str(e))}</b>\n"
        + 'See <a href="_/text/help/">help</a> for the query syntax.</pre><hr>'
        + html_end(site, info)
    )
    if request.method == "POST":
        return text_response(request, f"400 {what}: {e}\n", status=400)
    return page_response(request, body, status=400)


def _thread_body(request: Request) -> bool:
    """public-inbox: a POST body starting ``x=`` (not ``x=0``) asks for
    whole threads (the "full threads" button; b4 sends ``x=m``)."""
    body: bytes = getattr(request.state, "body", b"") or b""
    return bool(re.match(rb"x=[^0]", body[:3]))


def search_response(site: Site, request: Request, name: str, *, within: OverRow | None = None) -> Response:
    sq = SearchQuery.from_request(request)
    if request.method == "POST" and sq.x == "m":
        threads = sq.t or _thread_body(request)
        return _mbox(site, request, name, sq, threads=threads, within=within)
    box = site.inbox(name)
    o = sq.o
    asc = o < 0
    off = -(o + 1) if asc else o
    full: Hits[OverRow] | None = None  # the Atom feed and the nested view show whole messages
    hits: Hits[OverRow] | Hits[Head]
    if sq.x in ("A", "t"):
        full, query, retried = _retrying(
            lambda q: box.search(q, offset=off, limit=sq.l, relevance=sq.r, ascending=asc, exact=False), sq.q
        )
        hits = full
    else:
        hits, query, retried = _retrying(
            lambda q: box.search_heads(q, offset=off, limit=sq.l, relevance=sq.r, ascending=asc, exact=False), sq.q
        )
    if sq.x == "A":
        from pubinbox.web import atom

        assert full is not None
        return page_response(request, "".join(atom.search_atom(site, request, name, sq, full.rows)), media_type=ATOM)
    info = site.inboxes[name]
    top = html_top(info, title=f"{sq.q} - search results", q_value=sq.q)
    if not hits.total:
        body = top + "<pre>\n[No results found]</pre><hr>" + html_end(site, info)
        return page_response(request, body, status=404)
    parts = [top, _nav_top(sq, retried, query)]
    obfs = obfuscator_for(site.config, info.cfg)
    if full is not None and sq.x == "t":
        entries, skel = _nested(site, name, full.rows, hits.scores, obfs, reverse=sq.r)
        parts.append(entries)
        parts.append(_nav_bot(sq, hits, len(hits.rows)))
        parts.append("<pre>-- links below jump to the message on this page --\n" + skel + "</pre>")
    else:
        parts.append(_summary(hits.rows, hits.total, hits.scores, sq.t, obfs))
        parts.append(_nav_bot(sq, hits, len(hits.rows)))
    parts.append(html_end(site, info))
    return page_response(request, "".join(parts))


def _retrying(run: Callable[[str], Hits[R]], query: str) -> tuple[Hits[R], str, str | None]:
    """*run(query)*, and when nothing matched a query with ``%`` in it, once
    more with it percent-decoded (a client that quoted it twice): the hits,
    the query that gave them, and the one tried first when it was retried."""
    hits = run(query)
    if hits.total or "%" not in query:
        return hits, query, None
    plain = unquote(query)
    return run(plain), plain, query


def _pct(scores: dict[int, float] | None, num: int) -> int | None:
    if not scores:
        return None
    top = max(scores.values()) or 1.0
    return max(1, min(100, round(100 * scores.get(num, 0.0) / top)))


def _nav_top(sq: SearchQuery, retried: str | None, used: str) -> str:
    m = sq.qs(x="m", r=False, t=False)
    out = [f'<form id=d action="?{m}" method=post><pre>']
    if retried is not None:
        out.append(
            f" Warning: Initial query:\n <b>{esc(retried)}</b>\n returned no results, used:\n <b>{esc(used)}</b>\n instead\n\n"
        )
    out.append("Search results ordered by [")
    if sq.r:
        out.append(f'<a href="?{sq.qs(r=False)}">date</a>|<b>relevance</b>')
    else:
        out.append(f'<b>date</b>|<a href="?{sq.qs(r=True)}">relevance</a>')
    out.append("]  view[")
    pfx = "\t\t\t"
    if sq.x == "t":
        out.append(f'<a href="?{sq.qs(x="")}">summary</a>|<b>nested</b>')
        pfx = "thread overview <a href=#t>below</a> | "
    else:
        out.append(f'<b>summary</b>|<a href="?{sq.qs(x="t")}">nested</a>')
    out.append(f'|<a href="?{sq.qs(x="A", r=False)}">Atom feed</a>]\n')
    if sq.x != "t" and sq.t:
        out.append('*** "t=1" collapses threads in summary, "full threads" requires mbox.gz ***\n')
    if sq.x == "m":
        out.append('*** "x=m" ignored for GET requests, use download buttons below ***\n')
    out.append(
        f"{pfx}download mbox.gz: "
        '<input type=submit name=z value="results only"/>|'
        '<input type=submit name=x value="full threads"/></pre></form><pre>'
    )
    return "".join(out)


def _summary(
    rows: Sequence[OverRow | Head],
    total: int,
    scores: dict[int, float] | None,
    collapse: bool,
    obfs: Obfuscator | None = None,
) -> str:
    pad = len(str(total))
    pfx = " " * pad
    out: list[str] = []
    seen: set[str] = set()
    seen_tid: set[int] = set()
    for rank, row in enumerate(rows, 1):
        if row.mid in seen or (collapse and row.tid in seen_tid):
            continue
        seen.add(row.mid)
        seen_tid.add(row.tid)
        s = esc(row.subject)
        f = esc(from_names(row.from_))
        if obfs is not None:
            s, f = obfs.html(s), obfs.html(f)
        s = s or "(no subject)"
        pct = _pct(scores, row.num)
        rel = f" [{pct}%]" if pct is not None else ""
        out.append(f'{rank:>{pad}}. <b><a href="{href_mid(row.mid)}/">{s}</a></b>\n')
        out.append(f"{pfx}  - by {f} @ {fmt_date(row.ds)} UTC{rel}\n\n")
    return "".join(out)


def _nested(
    site: Site,
    name: str,
    rows: tuple[OverRow, ...],
    scores: dict[int, float] | None,
    obfs: Obfuscator | None = None,
    reverse: bool = False,
) -> tuple[str, str]:
    """``x=t``: each result in full, in result order, with its place in its
    thread; the threads of all results (their other messages linked to
    their pages) at the bottom, as public-inbox's nested search view."""
    box = site.inbox(name)
    results = {r.mid: _pct(scores, r.num) for r in rows}
    roots = thread(list(rows), resolve=box.over.primary_by_mid)
    sk = skeleton(roots, cur_mid=None, cur_subject=None, upfx="", obfs=obfs, results=results)
    ctx = EntryCtx(sk, f"{len(rows)}+ results", "", False, obfs, upfx="", results=results, cache=site.cache)
    node_of = {n.row.num: n for _l, n, _i in sk.order if n.row is not None}
    out = ["<pre>"]
    shown = rows[::-1] if reverse else rows  # as public-inbox: relevance order is shown reversed
    for i, row in enumerate(shown):
        out.append(entry(ctx, node_of.get(row.num), row, display_raw(box, row), more=i + 1 < len(rows)))
    return "".join(out), sk.html


def _nav_bot(sq: SearchQuery, hits: Hits[OverRow] | Hits[Head], size: int) -> str:
    out = ["</pre><hr><pre id=t>"]
    total, scores, rows = hits.total, hits.scores, hits.rows
    o = sq.o
    off = -(o + 1) if o < 0 else o
    beg, end = off + 1, off + size
    of = f"{total}" if hits.exact else f"~{total}"  # an estimate, as public-inbox's "of ~N"
    out.append(f"Results {beg}-{end} of {of}" if beg <= end else f"No more results, only {of}")
    nxt = prev = join = ""
    nd = pd = ""
    pcts = [p for p in (_pct(scores, r.num) for r in rows) if p is not None]
    if o >= 0:
        n = o + sq.l
        if n < total:
            nxt = sq.qs(o=n)
            nd = f"[&lt;= {min(pcts)}%]" if sq.r and pcts else "(older)"
        if o > 0:
            join = " | " if n < total else "\t"
            prev = sq.qs(o=max(o - sq.l, 0))
            pd = f"[&gt;= {max(pcts)}%]" if sq.r and pcts else "(newer)"
    else:
        n = o - sq.l
        if -n < total:
            nxt = sq.qs(o=n)
            nd = "(newer)"
        if o < -1:
            join = " | " if -n < total else "\t"
            p = o + sq.l
            prev = sq.qs(o=min(0, p))
            pd = "(older)"
    if nxt:
        out.append(f'  <a href="?{nxt}" rel=next>next {nd}</a>')
    out.append(join)
    if prev:
        out.append(f'<a href="?{prev}" rel=prev>prev {pd}</a>')
    rev = sq.qs(o=0 if o < 0 else -1)
    out.append(f' | <a href="?{rev}">reverse</a> | sort options + mbox downloads <a href=#d>above</a></pre>')
    return "".join(out)


# -- mbox.gz of results ------------------------------------------------------------


def _result_rows(site: Site, name: str, q: str, *, threads: bool, within: OverRow | None) -> Iterator[OverRow]:
    """Every hit (newest first), or every message of every hit's thread,
    at most MBOX_CAP; a fresh inbox handle per page (thread pool)."""
    seen: set[int] = set()
    sent = 0
    off = 0
    while sent < MBOX_CAP:
        box = site.inbox(name)
        hits = box.search(q, offset=off, limit=LIMIT)
        if not hits.rows:
            return
        off += LIMIT
        for row in hits.rows:
            if within is not None and row.tid != within.tid:
                continue
            group = box.over.thread(row.tid, limit=MBOX_CAP) if threads else [row]
            for r in group:
                if r.num in seen:
                    continue
                seen.add(r.num)
                sent += 1
                yield r
                if sent >= MBOX_CAP:
                    return
        if off >= hits.total:
            return


def _mbox(
    site: Site, request: Request, name: str, sq: SearchQuery, *, threads: bool, within: OverRow | None
) -> Response:
    box = site.inbox(name)
    q = sq.q
    if not q:
        rows: Iterator[OverRow] = box.over.iter_all()
        first = box.over.stats()[0]
    else:
        probe = box.search(q, limit=1)  # raises QueryError early (-> 400)
        first = probe.total
        if first and within is not None:
            first = box.search(f"({q})", limit=1).total
        rows = _result_rows(site, name, q, threads=threads, within=within)
    if not first:
        return text_response(request, "No results found\n", status=404)
    it = iter(rows)
    try:
        head = next(it)
    except StopIteration:
        return text_response(request, "No results found\n", status=404)

    def all_rows() -> Iterator[OverRow]:
        yield head
        yield from it

    fn = ("results-thread-" if threads else "results-") + q
    from pubinbox.web.mboxview import to_filename

    fname = to_filename(fn) or "results"
    body = gzip_mboxrd(messages(site, name, all_rows()), entry=web_mboxrd)
    if request.method == "HEAD":
        body = iter([b""])
    return StreamingResponse(
        body, media_type="application/gzip", headers={"Content-Disposition": f"inline; filename={fname}.mbox.gz"}
    )
