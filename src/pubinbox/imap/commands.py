"""Pure parsers of IMAP4rev1 command arguments (RFC 3501 §9): no I/O.

Tokens (atoms, quoted strings, literals already read in, parenthesised
lists), sequence sets (``1:5,7,9:*``), FETCH attributes with sections and
partial ranges, and dates.  Bad input raises :class:`Bad` (a ``BAD``
reply); sizes are bounded.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass

__all__ = ["Bad", "FetchAtt", "Literal", "parse_date", "parse_fetch_atts", "parse_seqset", "tokenize"]

MAX_NUM = 2**32 - 1  # RFC 3501 nz-number: 32 bits
MAX_RANGES = 1000
MAX_DEPTH = 8


class Bad(ValueError):
    """A command that does not parse (tagged BAD)."""


class Literal(bytes):
    """A string that arrived as a literal (``{n}``)."""


Token = str | bytes | list["Token"]

_ATOM_BRACKET = re.compile(rb"[^\x00-\x20\x7f(){\"\\\[\]]+(?:\[[^\]\r\n]*\](?:<[0-9.]+>)?)?")


def tokenize(data: bytes) -> list[Token]:
    """The arguments of a command line; literals (read by the session) are
    passed in as ``\\x00LITn\\x00`` placeholders replaced by their bytes."""
    pos = 0
    stack: list[list[Token]] = [[]]
    n = len(data)
    while pos < n:
        c = data[pos : pos + 1]
        if c == b" ":
            pos += 1
        elif c == b"(":
            if len(stack) > MAX_DEPTH:
                raise Bad("too deeply nested")
            new: list[Token] = []
            stack[-1].append(new)
            stack.append(new)
            pos += 1
        elif c == b")":
            if len(stack) == 1:
                raise Bad("unbalanced )")
            stack.pop()
            pos += 1
        elif c == b'"':
            out = bytearray()
            pos += 1
            while True:
                if pos >= n:
                    raise Bad("unterminated string")
                ch = data[pos]
                if ch == 0x5C and pos + 1 < n:
                    out.append(data[pos + 1])
                    pos += 2
                elif ch == 0x22:
                    pos += 1
                    break
                else:
                    out.append(ch)
                    pos += 1
            stack[-1].append(bytes(out).decode("utf-8", "surrogateescape"))
        else:
            m = _ATOM_BRACKET.match(data, pos)
            if m is None or m.end() == pos:
                raise Bad(f"unexpected {c!r}")
            stack[-1].append(m.group(0).decode("utf-8", "surrogateescape"))
            pos = m.end()
    if len(stack) != 1:
        raise Bad("unbalanced (")
    return stack[0]


def parse_seqset(s: str, star: int) -> list[tuple[int, int]]:
    """``1:5,7,9:*`` -> [(1, 5), (7, 7), (9, star)] with each pair ordered
    (RFC 3501 §9 sequence-set; ``*`` is the largest number in use)."""
    if not isinstance(s, str) or not s:
        raise Bad("sequence set expected")
    parts = s.split(",")
    if len(parts) > MAX_RANGES:
        raise Bad("sequence set too long")
    out = []
    for p in parts:
        a, colon, b = p.partition(":")
        lo = _seqnum(a, star)
        hi = _seqnum(b, star) if colon else lo
        out.append((min(lo, hi), max(lo, hi)))
    return out


def _seqnum(s: str, star: int) -> int:
    if s == "*":
        return star
    if not s.isascii() or not s.isdigit() or len(s) > 10 or s.startswith("0"):
        raise Bad(f"bad number {s!r}")
    n = int(s)
    if n > MAX_NUM:
        raise Bad(f"number too large {s!r}")
    return n


@dataclass(frozen=True, slots=True)
class FetchAtt:
    """One FETCH data item: a name (UID, ENVELOPE, BODY, ...) and for
    BODY[...] its section, header field list, partial range and PEEK."""

    name: str
    section: str = ""  # "", "HEADER", "TEXT", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "1.2", "1.MIME", ...
    fields: tuple[str, ...] = ()
    partial: tuple[int, int] | None = None
    peek: bool = False

    def label(self) -> str:
        """The item's name in the response (PEEK dropped, partial's origin)."""
        if self.name != "BODY[]":
            return self.name
        sec = self.section
        if self.fields:
            sec += " (" + " ".join(f.upper() for f in self.fields) + ")"
        out = f"BODY[{sec}]"
        if self.partial is not None:
            out += f"<{self.partial[0]}>"
        return out


_SIMPLE = {"UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY", "BODYSTRUCTURE", "RFC822",
           "RFC822.HEADER", "RFC822.TEXT"}  # fmt: skip
_MACROS = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
_SECTION = re.compile(
    r"\A(BODY(?:\.PEEK)?)\[((?:[1-9][0-9]{0,4}(?:\.[1-9][0-9]{0,4}){0,9})?(?:\.?(?:HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME))?)\](?:<([0-9]{1,10})\.([0-9]{1,10})>)?\Z",
    re.IGNORECASE,
)


def parse_fetch_atts(tokens: list[Token]) -> list[FetchAtt]:
    """The FETCH items of a command (a macro, one item, or a list)."""
    if len(tokens) == 1 and isinstance(tokens[0], list):
        items: list[Token] = tokens[0]
    else:
        items = tokens
    out: list[FetchAtt] = []
    i = 0
    while i < len(items):
        t = items[i]
        if not isinstance(t, str):
            raise Bad("fetch attribute expected")
        up = t.upper()
        if up in _MACROS and len(items) == 1:
            out += [FetchAtt(x) for x in _MACROS[up]]
        elif up in _SIMPLE:
            out.append(FetchAtt(up))
        elif up.startswith("BODY"):
            fields: tuple[str, ...] = ()
            text = t
            fm = re.match(r"\A([^\[]*\[[^ \]]*) \(([^()]*)\)(\].*)\Z", t)
            if fm is not None:  # BODY[HEADER.FIELDS (A B)]
                fields = tuple(fm.group(2).split())
                if not fields:
                    raise Bad("header field names expected")
                text = fm.group(1) + fm.group(3)
            m = _SECTION.match(text)
            if m is None:
                raise Bad(f"bad fetch attribute {t!r}")
            section = m.group(2).upper()
            if fields and not section.endswith(("HEADER.FIELDS", "HEADER.FIELDS.NOT")):
                raise Bad("field list without HEADER.FIELDS")
            if not fields and section.endswith(("HEADER.FIELDS", "HEADER.FIELDS.NOT")):
                raise Bad("HEADER.FIELDS without a field list")
            if section.endswith("MIME") and not section[:1].isdigit():
                raise Bad("MIME needs a part number")
            partial = None
            if m.group(3) is not None:
                start, count = int(m.group(3)), int(m.group(4))
                if count == 0 or start > MAX_NUM or count > MAX_NUM:
                    raise Bad("bad partial range")
                partial = (start, count)
            out.append(FetchAtt("BODY[]", section, fields, partial, m.group(1).upper().endswith("PEEK")))
        else:
            raise Bad(f"unknown fetch attribute {t!r}")
        i += 1
    if not out:
        raise Bad("no fetch attributes")
    return out


_MONTHS = {
    m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)
}


def parse_date(s: str) -> int:
    """``1-Feb-1994`` (RFC 3501 date) -> seconds since the epoch at 00:00 UTC."""
    m = re.fullmatch(r"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})", s) if isinstance(s, str) else None
    if m is None or m.group(2).lower() not in _MONTHS:
        raise Bad(f"bad date {s!r}")
    day, mon, year = int(m.group(1)), _MONTHS[m.group(2).lower()], int(m.group(3))
    if not 1 <= day <= 31:
        raise Bad(f"bad date {s!r}")
    return calendar.timegm((year, mon, day, 0, 0, 0, 0, 0, 0))
