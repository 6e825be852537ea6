"""The frame around every HTML page: head, top bar with the search form,
and the footer with the mirroring note.

Pages look like public-inbox's (monospace ``<pre>`` text, no JavaScript, no
images, usable in w3m and lynx) with a stylesheet that adds colours for
quotes and diffs in the reader's light or dark scheme, a phone viewport and
wrapping long lines.
"""

from __future__ import annotations

from pubinbox.web.html import esc, ts_param
from pubinbox.web.site import InboxInfo, Site

__all__ = ["STYLE", "html_end", "html_top", "simple_page"]

# public-inbox's default inline style, plus colours (userContent.css classes)
# chosen by prefers-color-scheme; everything same-origin, no fonts loaded.
STYLE = (
    "<style>"
    "pre{white-space:pre-wrap;overflow-wrap:anywhere}"
    "*{font-size:100%;font-family:monospace}"
    "body{margin:0.5em;max-width:100%}"
    "input[type=text]{max-width:60vw}"
    "details,summary{display:inline}"
    "summary{cursor:pointer}"
    "details[open]>summary{display:none}"
    "@media (prefers-color-scheme:light){"
    "body{background:#fff;color:#000}a{color:#00e}a:visited{color:#551a8b}"
    ".q{color:#006}.add{color:#060}.del{color:#900}.head{font-weight:bold}.hunk{color:#960}"
    "}"
    "@media (prefers-color-scheme:dark){"
    "body{background:#000;color:#ccc}a{color:#69f}a:visited{color:#96f}"
    "input,textarea,button{background:#111;color:#ccc;border:1px solid #555}"
    ".q{color:#09f}.add{color:#0ff}.del{color:#f0f}.head{color:#fff}.hunk{color:#c93}"
    "hr{border:0;border-top:1px solid #333}"
    "}"
    "</style>"
)

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
        f'<a href="{esc(atom)}">Atom feed</a>'
    )
    if search:
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
        f"{STYLE}</head><body>{bar}"
    )


def html_end(site: Site, info: InboxInfo, upfx: str = "") -> str:
    """The mirroring footer that ends every inbox page."""
    m = f"{upfx}_/text/mirror/"
    x = (
        f'This is a public inbox, see <a href="{m}">mirroring instructions</a>\n'
        "for how to clone and mirror all data and code used for this inbox"
    )
    has_nntp = bool(info.cfg.newsgroup and (site.nntp_urls or info.nntp_urls))
    has_imap = bool(info.cfg.newsgroup and (site.imap_urls or info.imap_urls))
    if has_nntp and has_imap:
        x += ";\nas well as URLs for read-only IMAP folder(s) and NNTP newsgroup(s)."
    elif has_nntp:
        x += ";\nas well as URLs for NNTP newsgroup(s)."
    elif has_imap:
        x += ";\nas well as URLs for IMAP folder(s)."
    return f"<hr><pre>{x}</pre></body></html>"


def simple_page(title: str, body_html: str) -> str:
    """A page outside any inbox (listing, site-wide errors)."""
    return f"{_HEAD}<title>{esc(title)}</title>{STYLE}</head><body>{body_html}</body></html>"
