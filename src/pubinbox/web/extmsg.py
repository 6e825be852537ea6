"""A Message-ID that is not in the inbox: say so, and suggest where it is.

Exact matches in other inboxes first ("found in another inbox"), then
Message-IDs that start with what was asked for (a truncated or mangled
link), then external archives to try.  Anything suggested → 300, nothing →
404, as public-inbox does.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from pubinbox.web.html import esc, href_mid
from pubinbox.web.page import html_end, html_top
from pubinbox.web.respond import page_response
from pubinbox.web.site import Site

__all__ = ["ext_msg"]

EXT_URLS = (
    "https://marc.info/?i=%s",
    "https://www.mail-archive.com/search?l=mid&q=%s",
    "https://lists.debian.org/msgid-search/%s",
    "https://docs.FreeBSD.org/cgi/mid.cgi?db=mid&id=%s",
    "https://www.w3.org/mid/%s",
    "https://www.postgresql.org/message-id/%s",
)


def ext_msg(site: Site, request: Request, name: str, mid: str) -> Response:
    info = site.inboxes[name]
    upfx: str = getattr(request.state, "upfx", "")  # back to the inbox
    root = upfx + "../"  # back to the site root
    others: list[str] = []
    for other in site.inboxes:
        if other == name:
            continue
        box = site.try_inbox(other)
        if box is not None and box.over.by_mid(mid):
            others.append(other)
    partial: list[tuple[str, list[str]]] = []
    if not others and len(mid) >= 6:
        stem = mid
        # a truncated link: drop trailing junk a mail client may have glued on
        for cut in (stem, stem.rstrip(".,;:>)]}'\""), stem[: max(len(stem) - 1, 6)]):
            for n in [name, *[o for o in site.inboxes if o != name]]:
                box = site.try_inbox(n)
                if box is None:
                    continue
                found = [m for m in box.over.mids_like(cut, 25) if m != mid]
                if found:
                    partial.append((n, found))
            if partial:
                break
    out = [html_top(info, title=f"<{mid}> not found", upfx=upfx)]
    out.append(f"<pre>Message-ID &lt;{esc(mid)}&gt;\nnot found in {esc(name)}\n")
    if others:
        s = "" if len(others) == 1 else "s"
        out.append(f"\nFound in another inbox{s}:\n\n")
        for o in others:
            out.append(f'  <a href="{root}{esc(o)}/{href_mid(mid)}/">{esc(o)}/{esc(mid)}</a>\n')
    if partial:
        count = sum(len(f) for _i, f in partial)
        out.append(f"\n{count} partial match{'es' if count != 1 else ''} found:\n\n")
        for ibx, found in partial:
            for m in found:
                out.append(f'  <a href="{root}{esc(ibx)}/{href_mid(m)}/">{esc(ibx)}/{esc(m)}</a>\n')
    if "@" in mid:
        q = quote(mid, safe="@")
        out.append("\nPerhaps try an external site:\n\n")
        for url in EXT_URLS:
            u = url % q
            out.append(f'  <a href="{esc(u)}" rel=nofollow>{esc(u)}</a>\n')
    out.append("</pre>")
    out.append(html_end(site, info, upfx))
    status = 300 if (others or partial) else 404
    return page_response(request, "".join(out), status=status)
