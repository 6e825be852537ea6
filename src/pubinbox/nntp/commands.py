"""Pure parsers of NNTP command arguments (RFC 3977): no I/O, no state.

Article ranges (``N``, ``N-``, ``N-M``), message-ids, wildmats (§4) and the
``date time [GMT]`` of NEWGROUPS/NEWNEWS (§7.3).  Every parser raises
:class:`Syntax` on bad input (the session answers ``501``); numbers are
bounded to :data:`MAX_NUM`.
"""

from __future__ import annotations

import calendar
import re
import time

__all__ = ["MAX_NUM", "Syntax", "Wildmat", "is_msgid", "parse_datetime", "parse_range", "split_command", "wildmat"]

#: largest article number accepted (RFC 3977 §6: 2,147,483,647 at least; we
#: take msgmap's INTEGER range, which public-inbox numbers never reach)
MAX_NUM = 2**63 - 1


class Syntax(ValueError):
    """A command argument that does not parse (501)."""


def split_command(line: bytes) -> tuple[str, list[str]]:
    """(upper-case verb, arguments) of a command line; arguments are
    separated by blanks (RFC 3977 §3.1: SP or TAB) and stay as sent
    (message-ids may hold any printable US-ASCII; UTF-8 is kept)."""
    text = line.decode("utf-8", "surrogateescape")
    parts = re.split(r"[ \t]+", text.strip(" \t"))
    if not parts or not parts[0]:
        return "", []
    return parts[0].upper(), parts[1:]


def is_msgid(arg: str) -> bool:
    """``<...>`` with something inside and no blanks (RFC 3977 §3.6)."""
    return len(arg) > 2 and arg[0] == "<" and arg[-1] == ">" and not re.search(r"[\s<>]", arg[1:-1])


def _num(s: str) -> int:
    if not s.isascii() or not s.isdigit() or len(s) > 19:
        raise Syntax(f"not an article number: {s!r}")
    n = int(s)
    if n > MAX_NUM:
        raise Syntax(f"article number too large: {s!r}")
    return n


def parse_range(arg: str) -> tuple[int, int | None]:
    """``N`` -> (N, N); ``N-`` -> (N, None: to the end); ``N-M`` -> (N, M)
    (an empty range when M < N, RFC 3977 §6.1.2.2)."""
    lo, dash, hi = arg.partition("-")
    first = _num(lo)
    if not dash:
        return first, first
    if hi == "":
        return first, None
    return first, _num(hi)


class Wildmat:
    """A compiled RFC 3977 §4 wildmat: comma-separated patterns with
    ``*``, ``?``, ``[...]`` and ``!`` to exclude; the last pattern that
    matches a name decides."""

    __slots__ = ("parts",)

    def __init__(self, pattern: str) -> None:
        if len(pattern) > 512:
            raise Syntax("wildmat too long")
        self.parts: list[tuple[bool, re.Pattern[str]]] = []
        for p in pattern.split(","):
            neg = p.startswith("!")
            body = p[1:] if neg else p
            if not body:
                raise Syntax(f"bad wildmat {pattern!r}")
            try:
                self.parts.append((neg, re.compile(_wild_rx(body), re.DOTALL)))
            except re.error as e:
                raise Syntax(f"bad wildmat {pattern!r}: {e}") from None

    def __call__(self, name: str) -> bool:
        for neg, rx in reversed(self.parts):
            if rx.fullmatch(name):
                return not neg
        return False


def _wild_rx(body: str) -> str:
    rx = ""
    i = 0
    while i < len(body):
        c = body[i]
        if c == "*":
            rx += ".*"
        elif c == "?":
            rx += "."
        elif c == "[":
            j = body.find("]", i + 2)
            if j < 0:
                raise Syntax(f"bad wildmat {body!r}")
            inner = body[i + 1 : j]
            neg = inner.startswith("^")
            inner = re.escape(inner[1:] if neg else inner).replace("\\-", "-")
            rx += f"[{'^' if neg else ''}{inner}]"
            i = j
        else:
            rx += re.escape(c)
        i += 1
    return rx


def wildmat(pattern: str) -> Wildmat:
    """Compile *pattern* (raises :class:`Syntax`)."""
    return Wildmat(pattern)


def parse_datetime(date: str, tod: str, gmt: str | None = None, now: float | None = None) -> int:
    """``yymmdd|yyyymmdd hhmmss [GMT]`` -> seconds since the epoch (UTC;
    without GMT the server's time zone is UTC too).  Two-digit years are
    the nearest century as RFC 3977 §7.3.2 says."""
    if gmt is not None and gmt.upper() != "GMT":
        raise Syntax("expected GMT")
    if not (date.isascii() and date.isdigit() and len(date) in (6, 8)) or not (
        tod.isascii() and tod.isdigit() and len(tod) == 6
    ):
        raise Syntax("bad date or time")
    if len(date) == 6:
        yy = int(date[:2])
        cur = time.gmtime(now if now is not None else time.time()).tm_year
        year = (cur // 100) * 100 + yy
        if year > cur:
            year -= 100
    else:
        year = int(date[:4])
    mon, day = int(date[-4:-2]), int(date[-2:])
    hh, mm, ss = int(tod[:2]), int(tod[2:4]), int(tod[4:])
    if not (1 <= mon <= 12 and 1 <= day <= 31 and hh < 24 and mm < 60 and ss < 61):
        raise Syntax("bad date or time")
    return calendar.timegm((year, mon, day, hh, mm, ss, 0, 0, 0))
