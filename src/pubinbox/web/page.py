"""The frame around every HTML page: head, top bar with the search form,
and the footer with the mirroring note.

Pages look like public-inbox's (monospace ``<pre>`` text, no JavaScript, no
images, usable in w3m and lynx) with a stylesheet that adds colours for
quotes and diffs in the reader's light or dark scheme, a phone viewport and
wrapping long lines.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from pubinbox.web.css import STYLE, Stylesheets
from pubinbox.web.html import SAFE_SCHEMES, esc, ts_param
from pubinbox.web.respond import page_response
from pubinbox.web.site import InboxInfo, Site

__all__ = ["STYLE", "error_page", "html_end", "html_top", "simple_page"]

_HEAD = (
    '<!DOCTYPE html><html><head><meta charset="us-ascii">'
    '<meta name="viewport" content="width=device-width,initial-scale=1">'
    '<meta name="referrer" content="no-referrer">'
)


def html_top(
    info: InboxInfo,
    *,
    title: str,
    upfx: str = "",
    t_max: int | None = None,
    q_value: str = "",
    atom: str | None = None,
    search: bool = True,
    extra_form: str = "",
    has_t: bool = False,
) -> str:
    """Everything up to and including the top bar; *title* is plain text."""
    desc = esc(info.description)
    atom = atom or f"{upfx}new.atom"
    top = f"<b>{desc}</b>"
    if t_max:
        top = f'<a href="{upfx}?t={ts_param(t_max)}">{top}</a>'
    elif has_t:
        top = f'<a href="./">{top}</a>'
    elif upfx:
        top = f'<a href="{upfx}">{top}</a>'
    links = (
        f'<a href="{upfx}_/text/help/">help</a> / '
        f'<a href="{upfx}_/text/color/">color</a> / '
        f'<a id=mirror href="{upfx}_/text/mirror/">mirror</a> / '
        f'<a href="{upfx}_/stats/">stats</a> / '
        f'<a href="{esc(atom)}">Atom feed</a>'
    )
    if search and info.cfg.indexlevel != "basic":  # as public-inbox: no search box without a search index
        action = upfx or "./"
        val = f' value="{esc(q_value)}"' if q_value else ""
        bar = (
            f'<form action="{action}"><pre>{top}\n'
            f'<input name=q type=text{val} aria-label="search query" />'
            f"{extra_form}<input type=submit value=search /> {links}</pre></form>"
        )
    else:
        bar = f"<pre>{top}\n{links}</pre>"
    return (
        f"{_HEAD}<title>{esc(title)}</title>"
        f'<link rel=alternate title="Atom feed" href="{esc(atom)}" type="application/atom+xml"/>'
        f"{info.css.head(upfx)}</head><body>{bar}"
    )


def html_end(site: Site, info: InboxInfo, upfx: str = "") -> str:
    """The mirroring footer that ends every inbox page."""
    m = f"{upfx}_/text/mirror/"
    x = (
        f'This is a public inbox, see <a href="{m}">mirroring instructions</a>\n'
        "for how to clone and mirror all data and code used for this inbox"
    )
    if info is site.inboxes.ext:  # /all/ (issue 9), public-inbox's words
        x = (
            "This is an external index of several public inboxes,\n"
            f'see <a href="{m}">mirroring instructions</a> on how to clone and mirror\n'
            "all data and code used by this external index."
        )
    has_nntp = info.offers("nntp")
    has_imap = info.offers("imap")
    if has_nntp and has_imap:
        x += ";\nas well as URLs for read-only IMAP folder(s) and NNTP newsgroup(s)."
    elif has_nntp:
        x += ";\nas well as URLs for NNTP newsgroup(s)."
    elif has_imap:
        x += ";\nas well as URLs for IMAP folder(s)."
    return f"<hr><pre>{_coderepos(info, upfx)}{x}</pre></body></html>"


def _coderepos(info: InboxInfo, upfx: str) -> str:
    """The inbox's ``coderepo`` list (their ``cgiturl``), as public-inbox."""
    if not info.coderepos:
        return ""
    out = ["<a id=code>Code repositories for project(s) associated with this public inbox</a>\n"]
    for name, urls in info.coderepos:
        for u in urls:
            m = re.match(r"([a-z+]+:)?//", u, re.IGNORECASE)
            href = u if m else f"{upfx}../{u}"
            if m and m.group(1) and m.group(1)[:-1].lower() not in SAFE_SCHEMES:
                out.append(f"\n\t{esc(u)}")  # never a link for other schemes
            else:
                out.append(f'\n\t<a href="{esc(href)}">{esc(u)}</a>')
        if not urls:
            out.append(f"\n\t{esc(name)}.git (no URL configured)")
    return "".join(out) + "\n\n"


def simple_page(title: str, body_html: str, css: Stylesheets | None = None, root: str = "") -> str:
    """A page outside any inbox (listing, site-wide errors); operator
    stylesheets are under ``/+/`` (*root* = relative way back to ``/``)."""
    style = css.head(f"{root}+/") if css is not None else f"<style>{STYLE}</style>"
    return f"{_HEAD}<title>{esc(title)}</title>{style}</head><body>{body_html}</body></html>"


def error_page(
    site: Site,
    request: Request,
    name: str | None = None,
    msg: str = "404 Not Found",
    *,
    status: int = 404,
    headers: dict[str, str] | None = None,
) -> Response:
    """An error (404 by default) as a page of inbox *name* when there is one,
    else a plain site page.  ``request.state.upfx``/``root`` (set by the
    router) lead back to the inbox and to ``/``."""
    if name is not None and name in site.inboxes:
        info = site.inboxes[name]
        upfx = request.state.upfx
        body = html_top(info, title=msg, upfx=upfx) + f"<pre>{esc(msg)}</pre>" + html_end(site, info, upfx)
    else:
        body = simple_page(msg, f"<pre>{esc(msg)}</pre>", site.css, request.state.root)
    return page_response(request, body, status=status, headers=headers)
