"""The JSON documents of the API, built from what the pages read: the
overview (rows), git (raw messages, their MIME parts) and the search
process (:meth:`pubinbox.web.site.Site.inbox` hands out inboxes whose
searches go there, as the HTML search's do).

Each function returns a plain ``dict`` ready for ``json.dumps`` (the
search: its JSON text, :func:`search_json`); the shapes are described in
``openapi.json`` beside this module.  Links are
absolute, on the host the client asked (like the pages' links, which are
never the configured ``url``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from pubinbox.errors import MessageNotFound
from pubinbox.mail.mime import iter_parts
from pubinbox.mail.msgid import in_reply_to, refs_from_field
from pubinbox.mail.parse import Headers
from pubinbox.over.reader import OverRow
from pubinbox.series import query as series_query
from pubinbox.series.query import SeriesFilter
from pubinbox.series.reader import SeriesRow
from pubinbox.web import seriesview
from pubinbox.web.api.params import Page, SearchParams
from pubinbox.web.body import part_text
from pubinbox.web.html import url_mid
from pubinbox.web.mboxview import display_raw
from pubinbox.web.site import InboxInfo, Site

__all__ = [
    "inbox_doc",
    "inbox_list",
    "message_doc",
    "search_json",
    "series_doc",
    "series_list",
    "thread_doc",
]

#: header fields of one message shown (a hostile message may have thousands)
MAX_HEADERS = 500
#: characters of one header value shown
MAX_HEADER_VALUE = 16384
_SAFE_FN = re.compile(r"[\w][\w.+-]{0,99}", re.ASCII)
_MAX_TS = 253402300799  # 9999-12-31T23:59:59Z


def iso(ts: int) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` (UTC) of *ts*, clamped to years 1970-9999;
    from tables (a page of 200 hits needs 400 of these)."""
    day, sec = divmod(int(min(max(ts, 0), _MAX_TS)), 86400)
    return _day(day) + _HM[sec // 60] + _SS[sec % 60]


@lru_cache(maxsize=8192)
def _day(day: int) -> str:
    return time.strftime("%Y-%m-%dT", time.gmtime(day * 86400))


_HM = [f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
_SS = [f"{s:02d}Z" for s in range(60)]


class Links:
    """Absolute URLs of one site as the client reached it."""

    def __init__(self, origin: str) -> None:
        self.origin = origin.rstrip("/")

    def api(self, *segs: str) -> str:
        return "/".join([f"{self.origin}/api/v1", *segs])

    def inbox_api(self, name: str, *segs: str) -> str:
        return self.api("inboxes", url_mid(name), *segs)

    def html(self, name: str, mid: str | None = None) -> str:
        base = f"{self.origin}/{url_mid(name)}/"
        return base if mid is None else f"{base}{url_mid(mid)}/"


def listed(site: Site, info: InboxInfo) -> bool:
    """Whether the machine-readable list shows *info*: as the ``/`` page,
    not an inbox with ``hide = www``, none with ``wwwlisting = 404``."""
    return not info.hides("www") and site.listing != "404"


def _inbox_summary(site: Site, info: InboxInfo, links: Links) -> dict[str, Any]:
    return {
        "name": info.name,
        "description": info.description,
        "addresses": list(info.cfg.addresses),
        "newsgroup": info.cfg.newsgroup,
        "url": links.inbox_api(info.name),
        "html_url": links.html(info.name),
    }


def inbox_list(site: Site, links: Links) -> dict[str, Any]:
    """Every listed inbox, then ``all`` (the cross-inbox index, ``/all/``)
    when one is configured."""
    infos = [i for i in site.inboxes.values() if listed(site, i)]
    ext = site.inboxes.ext
    if ext is not None and site.listing != "404":
        infos.append(ext)
    return {"inboxes": [_inbox_summary(site, i, links) for i in infos]}


def _cloneurls(info: InboxInfo) -> list[str]:
    try:
        return (info.cfg.inboxdir / "cloneurl").read_text("utf-8", "replace").split()[:100]
    except OSError:
        return []


def inbox_doc(site: Site, name: str, links: Links) -> dict[str, Any]:
    info = site.inboxes[name]
    box = site.inbox(name)
    count, lo, hi = box.over.stats()
    newest = box.over.recent(1)
    base = links.html(name).rstrip("/")
    host = urlsplit(base).hostname or ""
    clone = [f"{base}/{n}" for n in box.layout.epochs()]
    clone += [u for u in _cloneurls(info) if u not in clone]
    doc = _inbox_summary(site, info, links)
    doc |= {
        "urls": list(info.cfg.urls),
        "clone_urls": clone,
        "nntp_urls": list(info.urls("nntp", host)),
        "imap_urls": list(info.urls("imap", host)),
        "pop3_urls": list(info.urls("pop3", host)),
        "manifest_url": f"{base}/manifest.js.gz",
        "atom_url": f"{base}/new.atom",
        "messages": count,
        "first_num": lo or None,
        "last_num": hi or None,
        "newest": iso(newest[0].ts) if newest else None,
        "searchable": info.cfg.indexlevel != "basic",
        "search_url": links.inbox_api(name, "search"),
    }
    return doc


def row_doc(name: str, row: OverRow, links: Links) -> dict[str, Any]:
    """What the overview knows of a message (search results, threads)."""
    m = url_mid(row.mid)  # escaped once (a page of 200 hits: 600 escapes less)
    html = f"{links.html(name)}{m}/"
    return {
        "mid": row.mid,
        "num": row.num,
        "subject": row.subject,
        "from": row.from_,
        "to": row.to,
        "cc": row.cc,
        "date": iso(row.ds),
        "received": iso(row.ts),
        "references": list(row.references),
        "bytes": row.bytes,
        "lines": row.lines,
        "url": links.inbox_api(name, "messages", m),
        "html_url": html,
        "raw_url": html + "raw",
    }


def _headers(raw: bytes) -> tuple[Headers, list[list[str]]]:
    h = Headers(raw)
    out: list[list[str]] = []
    seen: set[str] = set()
    for field in h.names():
        key = field.lower()
        if key in seen:
            continue
        seen.add(key)
        try:
            vals = h.decoded(field)
        except Exception:  # noqa: BLE001 - a hostile header: its raw text
            vals = h.raw(field)
        for v in vals:
            out.append([field, v[:MAX_HEADER_VALUE]])
            if len(out) >= MAX_HEADERS:
                return h, out
    return h, out


def _parts(raw: bytes, msg_url: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in iter_parts(raw):
        if part.content_type.startswith("multipart/") and not part.raw_body:
            continue
        data = part.decoded()
        text, mangled = part_text(part, data)
        fn = part.filename
        sfn = fn if fn is not None and _SAFE_FN.fullmatch(fn) else ("a.txt" if text is not None else "a.bin")
        out.append(
            {
                "index": part.idx_str,
                "content_type": part.content_type,
                "charset": part.charset,
                "filename": fn,
                "description": part.description,
                "size": len(data),
                "text": text,
                "mangled": mangled,
                "url": f"{msg_url}{part.idx_str}-{sfn}",
            }
        )
    return out


def message_doc(site: Site, name: str, rows: list[OverRow], links: Links) -> dict[str, Any]:
    """The first message carrying the Message-ID: headers as decoded text,
    every MIME part (text decoded, the rest by link), its place in its
    thread."""
    if not rows:
        raise MessageNotFound("no such message")
    row = rows[0]
    box = site.inbox(name)
    raw = display_raw(box, row)
    h, headers = _headers(raw)
    doc = row_doc(name, row, links)
    doc |= {
        "in_reply_to": in_reply_to(h),
        "thread_url": links.inbox_api(name, "threads", url_mid(row.mid)),
        "thread_size": box.over.thread_size(row.tid),
        "headers": headers,
        "parts": _parts(raw, links.html(name, row.mid)),
        "duplicates": len(rows) - 1,  # other messages carrying this Message-ID (all in its raw_url)
    }
    return doc


def thread_doc(site: Site, name: str, rows: list[OverRow], page: Page, links: Links) -> dict[str, Any]:
    """The messages of the thread of ``rows[0]``, oldest first (by Date)."""
    row = rows[0]
    over = site.inbox(name).over
    total = over.thread_size(row.tid)
    got = over.thread(row.tid, limit=page.offset + page.limit)[page.offset :]
    return {
        "mid": row.mid,
        "total": total,
        "mbox_url": links.html(name, row.mid) + "t.mbox.gz",
        "html_url": links.html(name, row.mid) + "T/",
        "messages": [
            row_doc(name, r, links) | {"in_reply_to": r.references[-1] if r.references else None} for r in got
        ],
        "next": page.next_cursor(len(got), total),
    }


#: a str as a JSON string, as ``json.dumps(..., ensure_ascii=False)`` writes it (the C encoder's own)
_jstr = json.encoder.encode_basestring


def search_json(site: Site, name: str, sp: SearchParams, links: Links) -> bytes:
    """One page of hits, in ``pubinbox q``'s order (newest first, or by
    relevance), from the search process: ``{"total", "total_exact",
    "results", "next"}`` (``total_exact`` false when the total is an
    estimate: a page of a large inbox answered from its newest messages),
    each result a message's summary (:func:`hits_json`) and its ``score``
    when by relevance.  As JSON text, the very text ``json.dumps`` gives of
    that document (compact separators, ``ensure_ascii=False``), written hit
    by hit from the overview's rows, without an OverRow or a dict per hit
    (issue 12: the API at least as fast as the HTML page of the same hits).
    UTF-8, a lone surrogate (undecodable bytes of a hostile message) as the
    JSON escape ``\\udcXX``."""
    box = site.inbox(name)
    page = sp.page
    res = box.searcher.search(sp.q, offset=page.offset, limit=page.limit, relevance=sp.relevance, exact=False)
    rows = box.over.summaries(res.nums)
    scores = dict(zip(res.nums, res.scores)) if res.scores else None
    nxt = page.next_cursor(len(rows), res.total)
    # each hit encoded alone: most are ASCII, and one that is not does not
    # make the whole page's text wide
    body = b",".join([h.encode("utf-8", "backslashreplace") for h in hits_json(name, rows, scores, links)])
    end = f'],"next":{"null" if nxt is None else _jstr(nxt)}}}'
    head = f'{{"total":{int(res.total)},"total_exact":{"true" if res.exact else "false"},"results":['
    return head.encode() + body + end.encode("utf-8", "backslashreplace")


def hits_json(name: str, rows: Sequence[tuple[Any, ...]], scores: dict[int, float] | None, links: Links) -> list[str]:
    """The JSON text of each search hit: *rows* are
    :data:`~pubinbox.over.reader.SUMMARY_COLUMNS` tuples.  A hit is the
    summary of a message (the ``SearchHit`` schema: what a list of results
    shows, and what to fetch next); its To, Cc and whole header are in the
    message document at ``url``, as a list endpoint of most APIs gives a
    summary of each item.  Escaping is per character, so the URLs' fixed
    parts are escaped once and joined with each escaped Message-ID."""
    api = _jstr(links.inbox_api(name, "messages", ""))[1:-1]
    html = _jstr(links.html(name))[1:-1]
    dumps = json.dumps
    out = []
    for num, ts, ds, mid, subject, from_, refs, nbytes, lines in rows:
        mid = mid or ""
        m = _jstr(url_mid(mid))[1:-1]
        refs = ",".join([_jstr(x) for x in refs_from_field(refs)]) if refs else ""
        score = "" if scores is None else f',"score":{dumps(scores.get(num, 0.0))}'
        out.append(
            f'{{"mid":{_jstr(mid)},"num":{int(num)},"subject":{_jstr(subject or "")},"from":{_jstr(from_ or "")},'
            f'"date":"{iso(ds or 0)}","received":"{iso(ts or 0)}","references":[{refs}],'
            f'"bytes":{int(nbytes or 0)},"lines":{int(lines or 0)},"url":"{api}{m}","html_url":"{html}{m}/"{score}}}'
        )
    return out


def _series_summary(name: str, s: SeriesRow, links: Links) -> dict[str, Any]:
    return {
        "id": s.id,
        "title": s.title,
        "version": s.version,
        "total": s.total,
        "present": s.present,
        "missing": s.missing,
        "reviewed": s.reviewed,
        "all_reviewed": s.is_reviewed,
        "prefixes": list(s.prefixes),
        "author": s.author,
        "date": iso(s.ds),
        "received": iso(s.ts),
        "has_cover": s.cover is not None,
        "change_id": s.change_id,
        "base_commit": s.base_commit,
        "url": links.inbox_api(name, "series", url_mid(s.id)),
        "html_url": f"{links.html(name)}series/{url_mid(s.id)}/",
        "mbox_url": f"{links.html(name)}series/{url_mid(s.id)}/mbox",
    }


def series_list(site: Site, name: str, page: Page, links: Links, f: SeriesFilter | None = None) -> dict[str, Any]:
    """Series newest first (those *f* lets through)."""
    f = f or SeriesFilter()
    sr = seriesview.reader(site, name)
    try:
        total = series_query.count(sr, f)
        rows = series_query.recent(sr, f, page.offset, page.limit)
    finally:
        sr.close()
    return {
        "total": total,
        "results": [_series_summary(name, s, links) for s in rows],
        "next": page.next_cursor(len(rows), total),
    }


def series_doc(site: Site, name: str, sid: str, links: Links) -> dict[str, Any]:
    d = seriesview.detail(site, name, sid)
    if d is None:
        raise MessageNotFound("no patch series with this id")

    def patch(p: seriesview.PatchInfo) -> dict[str, Any]:
        if p.row is None:
            return {"counter": p.counter, "missing": True}
        return {
            "counter": p.counter,
            "missing": False,
            "mid": p.row.mid,
            "subject": p.row.subject,
            "replies": p.replies,
            "trailers": [[n, v] for n, v in p.trailers],
            "url": links.inbox_api(name, "messages", url_mid(p.row.mid)),
            "html_url": links.html(name, p.row.mid),
        }

    doc = _series_summary(name, d.s, links)
    doc |= {
        "cover": patch(d.cover) if d.cover is not None else None,
        "patches": [patch(p) for p in d.patches],
        "revisions": [_series_summary(name, r, links) for r in d.revisions],
    }
    return doc
