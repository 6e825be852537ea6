"""Links in message text, as public-inbox's Linkify.pm makes them, for the
schemes we link (:data:`pubinbox.web.html.SAFE_SCHEMES`: http, https, ftp
and mailto) and no others.  The text is HTML-escaped around the links."""

from __future__ import annotations

import re

from pubinbox.web.html import esc

__all__ = ["linkify"]


# Linkify.pm's URL syntax for the schemes we link (html.SAFE_SCHEMES): host
# characters, then an optional path, query and fragment of RFC 3986
# characters.  Each piece is a single character class, so matching never
# backtracks.
_PATH_CH = r"[a-z0-9\-._~!$&';()*+,=:@/%]"
_URL = (
    r"(?:https?|ftp)://[@:\w.\-]+"
    r"(?:/" + _PATH_CH + r"*(?:\?" + _PATH_CH + r"+)?(?:\#[a-z0-9\-._~!$&';()*+,=:@/%?]+)?)?"
)
_MAILTO = r"mailto:[\w.!#$%&'*+/=?^`{|}~\-]+@[\w\-]+(?:\.[\w\-]+)*(?:\?" + _PATH_CH + r"+)?"
_LINK_RE = re.compile(r"\b(?:" + _URL + "|" + _MAILTO + ")", re.IGNORECASE)
_URL_RE = re.compile(r"\b" + _URL, re.IGNORECASE)
# Linkify.pm: a URL right after one of these keeps its closing partner out
_PAIRS = {"(": re.compile(r"\)[.,;+]?\Z"), "'": re.compile(r"'[.,;+]?\Z"), "!": re.compile(r"![.,;+]?\Z")}


def _trim_url(url: str, beg: str) -> tuple[str, str]:
    """Split trailing punctuation off a URL as Linkify.pm does: (url, end)."""
    pair = _PAIRS.get(beg)
    if pair is not None:
        m = pair.search(url)
        if m is not None:
            return url[: m.start()], url[m.start() :]
        return url, ""
    if url[-1] in ".,;":
        end = url[-1]
        url = url[:-1]
        if url.endswith(")"):
            # a ')' belongs to the URL only when it has its '('
            if "(" in url[:-1]:
                return url, end
            return url[:-1], ")" + end
        return url, end
    if url.endswith(")") and "(" not in url:
        return url[:-1], ")"
    return url, ""


def linkify(text: str, *, mailto: bool = True) -> str:
    """Escape *text* for HTML, with http(s)/ftp URLs and mailto: as links
    (not mailto: with *mailto* false: an obfuscated address is no link)."""
    if "://" not in text and (not mailto or ("ailto:" not in text and "AILTO:" not in text)):
        return esc(text)
    out: list[str] = []
    pos = 0
    for m in (_LINK_RE if mailto else _URL_RE).finditer(text):
        start = m.start()
        beg = text[start - 1] if start > pos else ""
        url, end = _trim_url(m.group(), beg)
        out.append(esc(text[pos:start]))
        u = esc(url)
        out.append(f'<a href="{u}">{u}</a>')
        out.append(esc(end))
        pos = m.end()
    out.append(esc(text[pos:]))
    return "".join(out)
