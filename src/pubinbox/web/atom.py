"""Atom feeds (``new.atom``, ``$MID/t.atom``, search ``x=A``) and
``new.html`` (the newest messages in full).

Entries are public-inbox's: ``urn:uuid:`` ids from the SHA-1 of the
Message-ID, ``thr:in-reply-to`` (RFC 4685) for replies, the author's name
and address, the received time in UTC, and the message body as HTML.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from pubinbox.mail import address
from pubinbox.mail.msgid import in_reply_to
from pubinbox.mail.parse import Headers
from pubinbox.over.reader import OverRow
from pubinbox.web.body import render_body
from pubinbox.web.html import esc, mid2uuid, url_mid
from pubinbox.web.mboxview import display_raw
from pubinbox.web.obfuscate import Obfuscator, obfuscator_for
from pubinbox.web.page import html_end, html_top
from pubinbox.web.params import SearchQuery
from pubinbox.web.respond import page_response
from pubinbox.web.site import Site
from pubinbox.web.threadview import EntryCtx, entry
from pubinbox.web.topics import pagination_footer, recent_window

__all__ = ["EntryHead", "entry_head", "new_atom", "new_html", "search_atom", "thread_atom"]

log = logging.getLogger(__name__)


def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(max(ts, 0)))


def _origin(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _feed_head(title: str, alt: str, self_url: str, feed_id: str, updated: int) -> str:
    return (
        '<?xml version="1.0" encoding="us-ascii"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:thr="http://purl.org/syndication/thread/1.0">'
        f"<title>{esc(title)}</title>"
        f'<link rel="alternate" type="text/html" href="{esc(alt)}"/>'
        f'<link rel="self" href="{esc(self_url)}"/>'
        f"<id>{esc(feed_id)}</id>"
        f"<updated>{_iso(updated)}</updated>"
    )


@dataclass(frozen=True, slots=True)
class EntryHead:
    """What a feed entry says about its message besides the body."""

    name: str
    email: str
    title: str
    updated: int
    in_reply_to: str | None


def _first(h: Headers, name: str) -> str | None:
    try:
        vals = h.decoded(name)
    except Exception:  # noqa: BLE001 - hostile header
        vals = h.raw(name)
    return vals[0] if vals else None


def entry_head(row: OverRow, h: Headers, address_of_inbox: str) -> EntryHead:
    """As public-inbox's feed_entry takes them from the message: the first
    From (else Sender, else the inbox's address) -- its first address and
    all its names --, the first Subject (blanks squeezed), the received
    time (msg_timestamp: the overview's ``ts``) and the parent
    (:func:`~pubinbox.mail.msgid.in_reply_to`)."""
    frm = _first(h, "From")
    if frm is None:
        frm = _first(h, "Sender")
    if frm is None:
        frm = address_of_inbox
    try:
        emails, names = address.emails(frm), address.names(frm)
    except Exception:  # noqa: BLE001 - hostile header
        emails, names = [], []
    subject = _first(h, "Subject")
    title = _SQUEEZE.sub(" ", subject) if subject else "(no subject)"
    return EntryHead(", ".join(names), emails[0] if emails else address_of_inbox, title, row.ts, in_reply_to(h))


_SQUEEZE = re.compile(r"[\t\n ]+")


def _entry(base: str, row: OverRow, raw: bytes, address_of_inbox: str, obfs: Obfuscator | None = None) -> str:
    head = entry_head(row, Headers(raw), address_of_inbox)
    href = f"{base}{url_mid(row.mid)}/"
    out = [
        "<entry><author>",
        f"<name>{esc(head.name)}</name>",
        f"<email>{esc(head.email)}</email>",
        "</author>",
        f"<title>{esc(head.title)}</title>",
        f"<updated>{_iso(head.updated)}</updated>",
        f'<link href="{esc(href)}"/>',
        f"<id>{mid2uuid(row.mid)}</id>",
    ]
    if head.in_reply_to is not None:
        irt = head.in_reply_to
        out.append(f'<thr:in-reply-to ref="{mid2uuid(irt)}" href="{esc(base + url_mid(irt))}/"/>')
    body = render_body(raw, msg_url=href, fold_quotes=0, obfs=obfs)
    html = f'<pre style="white-space:pre-wrap">{body}</pre>'
    out.append(f'<content type="html">{esc(html)}</content></entry>')
    return "".join(out)


def _feed(site: Site, name: str, base: str, head: str, rows: Iterable[OverRow]) -> Iterator[str]:
    # as public-inbox, an obfuscate inbox's feeds obfuscate the bodies only
    # (author, address and title are as in the message)
    obfs = obfuscator_for(site.config, site.inboxes[name].cfg)
    address_of_inbox = site.inboxes[name].cfg.primary_address
    yield head
    for row in rows:
        try:
            raw = display_raw(site.inbox(name), row)
        except Exception as e:  # noqa: BLE001 - a missing blob skips one entry
            log.warning("%s: feed entry <%s> skipped: %s", name, row.mid, e)
            continue
        yield _entry(base, row, raw, address_of_inbox, obfs)
    yield "</feed>"


def new_atom(site: Site, request: Request, name: str) -> str:
    info = site.inboxes[name]
    base = info.base_url(_origin(request))
    rows = site.inbox(name).over.recent(info.cfg.feedmax)
    updated = max((r.ts for r in rows), default=0)
    head = _feed_head(info.description, base, f"{base}new.atom", f"mailto:{info.cfg.primary_address}", updated)
    return "".join(_feed(site, name, base, head, rows))


def thread_atom(site: Site, request: Request, name: str, rows: list[OverRow]) -> Iterator[str]:
    info = site.inboxes[name]
    base = info.base_url(_origin(request))
    over = site.inbox(name).over
    msgs = over.thread(rows[0].tid, limit=1000)
    msgs = sorted(msgs, key=lambda r: (r.ts, r.num), reverse=True)
    updated = max((r.ts for r in msgs), default=0)
    mid = rows[0].mid
    head = _feed_head(
        rows[0].subject or info.description,
        f"{base}{url_mid(mid)}/t/",
        f"{base}{url_mid(mid)}/t.atom",
        mid2uuid(mid),
        updated,
    )
    return _feed(site, name, base, head, msgs)


def search_atom(site: Site, request: Request, name: str, sq: SearchQuery, rows: tuple[OverRow, ...]) -> Iterator[str]:
    info = site.inboxes[name]
    base = info.base_url(_origin(request))
    updated = max((r.ts for r in rows), default=0)
    qs = sq.qs(x="A").replace("&amp;", "&")
    head = _feed_head(
        f"{sq.q} - search results", f"{base}?{sq.qs().replace('&amp;', '&')}", f"{base}?{qs}", f"{base}?{qs}", updated
    )
    return _feed(site, name, base, head, rows)


def new_html(site: Site, request: Request, name: str) -> Response:
    """``new.html``: the newest *feedmax* messages in full, with pages."""
    info = site.inboxes[name]
    w = recent_window(site, name, request.query_params.get("t", ""), info.cfg.feedmax)
    parts = [html_top(info, title=info.description, has_t=w.has_t)]
    obfs = obfuscator_for(site.config, info.cfg)
    # each message as on a thread page, without the thread around it (public-inbox's eml_entry)
    ctx = EntryCtx(None, "", "", False, obfs, upfx="", headers_obfuscated=False, cache=site.cache)
    if w.rows:
        parts.append("<pre>")
    for i, row in enumerate(w.rows):
        parts.append(entry(ctx, None, row, display_raw(site.inbox(name), row), more=i + 1 < len(w.rows)))
    if not w.rows:
        parts.append("<pre>[No messages in range]</pre>")
    parts.append(pagination_footer(w, "new.html"))
    parts.append(html_end(site, info))
    return page_response(request, "".join(parts), status=200 if w.rows else 404)
