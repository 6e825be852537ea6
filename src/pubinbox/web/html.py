"""HTML primitives every page uses: escaping, links, anchors and dates.

Pages are built as ``str`` and encoded to 7-bit US-ASCII at the edge
(:func:`ascii_bytes`: every non-ASCII character becomes a numeric character
reference, as public-inbox does), so nothing here worries about encodings.
Everything that came from a message goes through :func:`esc`; links are only
made for the schemes in :data:`SAFE_SCHEMES`.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time

from pubinbox.mail.msgid import mid_escape

__all__ = [
    "SAFE_SCHEMES",
    "ascii_bytes",
    "esc",
    "fmt_date",
    "href_mid",
    "mid2uuid",
    "ts_param",
    "url_mid",
]

#: URL schemes a link may be made for (anything else stays plain text).
SAFE_SCHEMES = ("http", "https", "ftp", "mailto")

# C0/C1 controls except tab/newline, and the bidirectional overrides that can
# make text display in a different order than it is stored (CVE-2021-42574).
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufffe\uffff]")


def esc(s: str) -> str:
    """Escape text for HTML element content and quoted attribute values.

    Control characters and bidi overrides are replaced by U+FFFD so mail
    cannot reorder what the reader sees or break the markup.
    """
    if _UNSAFE.search(s) is not None:
        s = _UNSAFE.sub("\ufffd", s)
    # chained str.replace is several times faster than str.translate here
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;").replace("'", "&#39;")


def ascii_bytes(page: str) -> bytes:
    """The page as 7-bit US-ASCII with numeric character references."""
    return page.encode("ascii", "xmlcharrefreplace")


def url_mid(mid: str) -> str:
    """:func:`href_mid` before HTML escaping (Location headers, and URLs
    that are escaped later)."""
    return mid_escape(mid).replace(":", "%3A")


def href_mid(mid: str) -> str:
    """A Message-ID as one URL path segment, ready for an HTML attribute:
    ``/`` as ``%2F``, ``@`` kept, and ``:`` as ``%3A`` so that an id like
    ``javascript:x@y`` can never be read as a URL scheme in a relative link."""
    return esc(url_mid(mid))


@functools.lru_cache(maxsize=65536)
def _fmt_minute(minute: int) -> str:
    t = time.gmtime(minute * 60)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d} {t.tm_hour:2d}:{t.tm_min:02d}"


def fmt_date(ts: int) -> str:
    """``YYYY-MM-DD HH:MM`` in UTC with a space-padded hour, as public-inbox."""
    return _fmt_minute(max(ts, 0) // 60)


def ts_param(ts: int) -> str:
    """The ``?t=YYYYMMDDHHMMSS`` value for a time."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(max(ts, 0)))


def mid2uuid(mid: str) -> str:
    """A Message-ID as the ``urn:uuid:`` of an Atom ``<id>`` (public-inbox's)."""
    h = hashlib.sha1(mid.encode("utf-8", "surrogatepass")).hexdigest()
    return f"urn:uuid:{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
