"""Articles and overview lines as public-inbox-nntpd sends them.

Pure functions over stored bytes and overview rows.  An article is the
stored message with these headers set (existing ones replaced in place,
new ones appended): ``Xref``, ``Newsgroups`` and ``Path:
SERVER!not-for-mail``; a
message with several Message-ID headers keeps its numbered one and moves
the others to ``X-Alt-Message-ID`` (leafnode and others cannot cope with
several).  Line endings become CRLF and body lines starting with ``.`` are
dot-stuffed (RFC 3977 §3.1.1).  The overview line is RFC 3977 §8.3's
with the Date rewritten from the message's date in UTC and
``Xref: SERVER group:num`` last, as public-inbox's.
"""

from __future__ import annotations

import re
import time

from pubinbox.net.lineio import dot_stuff, to_crlf
from pubinbox.over.reader import OverRow

__all__ = ["article_parts", "nntp_date", "over_line", "stuff_body"]

_DOW = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MON = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_FROM_LINE = re.compile(rb"\A[\r\n]*From [^\r\n]*\r?\n")
_MID_FOLD = re.compile(rb"^(Message-ID:)[ \t]*\r\n[ \t]+([^\r]+)\r\n", re.IGNORECASE | re.MULTILINE)
#: header lines are folded at this width when a value has blanks (RFC 5322 §2.1.1's 78)
_FOLD = 78


def nntp_date(ds: int) -> str:
    """``Fri, 12 Jun 2026 06:36:44 +0000``: the message's date in UTC, in
    English whatever the locale."""
    t = time.gmtime(ds)
    return (
        f"{_DOW[t.tm_wday]}, {t.tm_mday:02d} {_MON[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


def references(row: OverRow) -> str:
    return " ".join(f"<{r}>" for r in row.references)


def over_line(row: OverRow, xref: str) -> bytes:
    """One OVER/XOVER line with its CRLF (RFC 3977 §8.3.2)."""
    s = "\t".join(
        (
            str(row.num),
            row.subject,
            row.from_,
            nntp_date(row.ds),
            f"<{row.mid}>",
            references(row),
            str(row.bytes),
            str(row.lines),
            f"Xref: {xref}",
        )
    )
    return s.encode("utf-8", "surrogateescape") + b"\r\n"


# -- headers -------------------------------------------------------------------
class _Header:
    """The header of a stored message as a list of raw fields."""

    def __init__(self, raw: bytes, crlf: bytes) -> None:
        self.crlf = crlf
        self.fields: list[tuple[bytes, bytes]] = []  # (lower-case name, field with its line ending(s))
        for line in raw.splitlines(keepends=True):
            if line[:1] in (b" ", b"\t") and self.fields:
                name, f = self.fields[-1]
                self.fields[-1] = (name, f + line)
            else:
                colon = line.find(b":")
                self.fields.append((line[:colon].strip().lower() if colon >= 0 else b"", line))

    def values(self, name: str) -> list[bytes]:
        """Raw values of *name*: blanks after the colon and the final line
        ending removed, folding kept."""
        key = name.lower().encode()
        out = []
        for n, f in self.fields:
            if n == key:
                v = f.split(b":", 1)[1].lstrip(b" \t")
                out.append(v.removesuffix(b"\n").removesuffix(b"\r"))
        return out

    def _render(self, name: str, value: bytes) -> bytes:
        return _field(name, value, self.crlf)

    def set(self, name: str, values: list[bytes]) -> None:
        """Replace the fields called *name* in place, one value each, drop
        the ones left over, append the values left over."""
        key = name.lower().encode()
        todo = [(key, self._render(name, v)) for v in values]
        out: list[tuple[bytes, bytes]] = []
        for n, f in self.fields:
            if n == key:
                if todo:
                    out.append(todo.pop(0))
            else:
                out.append((n, f))
        self.fields = out + todo

    def append(self, name: str, value: bytes) -> None:
        """Add *name: value* unless a field has that value already."""
        old = self.values(name)
        if value not in old:
            self.set(name, [*old, value])

    def bytes(self) -> bytes:
        return b"".join(f for _n, f in self.fields)


def _field(name: str, value: bytes, crlf: bytes) -> bytes:
    """``Name: value`` and *crlf*, folded when long (see :data:`_FOLD`)."""
    pfx = f"{name}: ".encode()
    width = _FOLD - len(pfx)
    if len(value) >= width and (re.search(rb"\n[^ \t]", value) or b"\n" not in value) and b" " in value:
        value = _wrap(value, width)
    return pfx + value + crlf


def _wrap(value: bytes, width: int) -> bytes:
    """Fold at blanks so lines stay under *width* columns (continuation
    lines start with a tab, counted as 8), a word longer than a line kept
    whole."""
    words = value.split(b" ")
    lines: list[bytes] = []
    cur = b""
    for w in words:
        limit = width - 1 - (8 if lines else 0)
        if cur and len(cur) + 1 + len(w) > limit:
            lines.append(cur)
            cur = w
        else:
            cur = cur + b" " + w if cur else w
    lines.append(cur)
    return b"\n\t".join(lines)


#: the header's end: the first blank line, LF or CRLF (a regex with a
#: literal first byte scans at memchr speed, twice bytes.find's here)
_BLANK_LINE = re.compile(rb"\n\r?\n")


def split_message(raw: bytes) -> tuple[bytes, bytes, bytes]:
    """(header with its last line ending, body, line ending) of a stored
    message, an mbox ``From `` line in front dropped."""
    if raw.startswith((b"From ", b"\r", b"\n")):
        raw = _FROM_LINE.sub(b"", raw, count=1)
    m = _BLANK_LINE.search(raw)
    if m is None:
        crlf = b"\r\n" if b"\r\n" in raw[:1000] else b"\n"
        return raw, b"", crlf
    a, end = m.span()
    if end - a == 2:
        return raw[: a + 1], raw[end:], b"\n"
    return raw[: a + 1], raw[end:], b"\r\n"


def article_head(raw_head: bytes, crlf: bytes, row: OverRow, xref: str) -> bytes:
    """The header as NNTP sends it (CRLF line endings)."""
    server = xref.split(" ", 1)[0]
    groups = _ARTNUM.sub("", xref).split(" ", 1)
    added = {
        "Xref": xref.encode(),
        "Newsgroups": (groups[1] if len(groups) > 1 else "").encode(),
        "Path": f"{server}!not-for-mail".encode(),
    }
    simple, folded = _scan(raw_head)
    if simple:
        # the usual case, without a field to replace: the three appended
        # (what _Header.set does when none is there), a single pass
        out = to_crlf(raw_head + b"".join(_field(k, v, crlf) for k, v in added.items()))
    else:
        out = _general_head(raw_head, crlf, row, added)
        folded = _scan(out)[1]
    return _MID_FOLD.sub(rb"\1 \2\r\n", out) if folded else out


_ARTNUM = re.compile(r":[0-9]+")
#: the fields NNTP rewrites (or moves) at the start of a line, and whether a Message-ID's value
#: starts on the next line (what _MID_FOLD unfolds; a look-ahead, so that
#: the next line is still seen): one pass over the header; a literal first
#: character keeps the scan at C speed (lone CRs end lines too, see _Header)
_AT_LF = re.compile(rb"\n(message-id|xref|newsgroups|path)(?=(:[ \t]*\r?\n)|)", re.IGNORECASE)
_AT_CR_OR_LF = re.compile(rb"[\r\n](message-id|xref|newsgroups|path)(?=(:[ \t]*\r?\n)|)", re.IGNORECASE)


def _scan(raw_head: bytes) -> tuple[bool, bool]:
    """(simple, folded) of a header.  *simple*: it surely has no Xref,
    Newsgroups or Path field and at most one Message-ID (may say False
    wrongly, never True wrongly: a field's name starts a line, and only the
    first line or one starting with VT/FF may have blanks before it, see
    :class:`_Header`).  *folded*: a Message-ID field may be empty on its
    first line (may say True wrongly, never False wrongly)."""
    rx = _AT_LF if b"\r" not in raw_head else _AT_CR_OR_LF
    found = [(n.lower(), f) for n, f in rx.findall(b"\n" + raw_head)]
    folded = any(f and n == b"message-id" for n, f in found)
    if raw_head[:1] in (b" ", b"\t") or b"\x0b" in raw_head or b"\x0c" in raw_head:
        return False, folded or b"message-id" in raw_head.lower()
    return len(found) <= 1 and all(n == b"message-id" for n, _f in found), folded


def _general_head(raw_head: bytes, crlf: bytes, row: OverRow, added: dict[str, bytes]) -> bytes:
    """:func:`article_head` field by field: fields replaced in place, a
    second Message-ID moved to X-Alt-Message-ID."""
    h = _Header(raw_head, crlf)
    mids = h.values("Message-ID")
    if len(mids) > 1:
        mid0 = f"<{row.mid}>".encode("utf-8", "surrogateescape")
        h.set("Message-ID", [mid0])
        alt = h.values("X-Alt-Message-ID")
        seen = {*alt, mid0}
        for m in mids:
            if m not in seen:
                seen.add(m)
                alt.append(m)
        h.set("X-Alt-Message-ID", alt)
    for k, v in added.items():
        h.set(k, [v])
    return to_crlf(h.bytes())


def stuff_body(body: bytes) -> bytes:
    """Dot-stuffed, CRLF, ending in CRLF (RFC 3977 §3.1.1)."""
    body = dot_stuff(to_crlf(body))
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body


def article_parts(raw: bytes, row: OverRow, xref: str) -> tuple[bytes, bytes]:
    """(header, dot-stuffed body) of an article, both CRLF."""
    head, body, crlf = split_message(raw)
    return article_head(head, crlf, row, xref), stuff_body(body)
