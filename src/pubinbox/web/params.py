"""Request parameters parsed into bounded ranges before anything uses them.

public-inbox reads numbers leniently (the first run of digits in ``o=``,
``l=``); so do we, but a number outside its range is a 400, never a huge
allocation in native code or a 4,300-digit ``int()`` in Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from urllib.parse import quote

from starlette.requests import Request

from pubinbox.errors import BadRequest
from pubinbox.search.reader import MAX_OFFSET
from pubinbox.web.html import esc

__all__ = ["LIMIT", "MAX_ARTNUM", "SearchQuery", "lenient_int"]

#: article numbers are SQLite integers; anything larger names no message
MAX_ARTNUM = (1 << 62) - 1
_SIGNED = re.compile(r"-?[0-9]+")
_UNSIGNED = re.compile(r"[0-9]+")


def lenient_int(value: str | None, name: str, default: int, lo: int, hi: int, *, signed: bool = False) -> int:
    """The first run of digits in *value* (with a leading ``-`` when
    *signed*), as public-inbox reads ``o=`` and ``l=``; *default* when
    there is none; :class:`BadRequest` when it is outside ``lo..hi``."""
    m = (_SIGNED if signed else _UNSIGNED).search(value or "")
    if m is None:
        return default
    digits = m.group(0)
    if len(digits.lstrip("-").lstrip("0")) > 18:
        raise BadRequest(f"{name}={digits[:24]}... is out of range ({lo} to {hi})")
    n = int(digits)
    if not lo <= n <= hi:
        raise BadRequest(f"{name}={n} is out of range ({lo} to {hi})")
    return n


LIMIT = 200
_VIEWS = ("", "t", "A", "m")  # any other x= is ignored (and never echoed)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """The search parameters of a request (public-inbox's SearchQuery): the
    query, ``x`` view, ``o`` offset (negative: oldest first), ``l`` limit,
    ``r`` relevance, ``t`` whole threads."""

    q: str
    x: str = ""
    o: int = 0
    l: int = LIMIT
    r: bool = False
    t: bool = False

    @classmethod
    def from_request(cls, request: Request, *, strict: bool = True) -> SearchQuery:
        """The parameters, bounded: ``o`` beyond ±MAX_OFFSET raises
        BadRequest (with *strict*; else it is clamped, for error pages)."""
        qp = request.query_params
        try:
            lim = lenient_int(qp.get("l"), "l", LIMIT, 0, 10**9) or LIMIT
        except BadRequest:
            lim = LIMIT  # public-inbox: any l above the limit is the limit
        lim = min(lim, LIMIT)
        try:
            o = lenient_int(qp.get("o"), "o", 0, -MAX_OFFSET - 1, MAX_OFFSET, signed=True)
        except BadRequest:
            if strict:
                raise
            o = 0
        r, t = qp.get("r"), qp.get("t")
        return cls(
            q=re.sub(r"\s+", " ", qp.get("q", "") or "").strip(),
            x=x if (x := qp.get("x", "") or "") in _VIEWS else "",
            o=o,
            l=lim,
            r=r is not None and r != "0",
            t=t is not None and t != "0",
        )

    def qs(self, **over: object) -> str:
        """The query string for links (HTML-escaped)."""
        s = replace(self, **over) if over else self  # type: ignore[arg-type]
        out = "q=" + quote(s.q, safe="").replace("%20", "+")
        if s.o:
            out += f"&amp;o={s.o}"
        if s.l != LIMIT:
            out += f"&amp;l={s.l}"
        if s.r:
            out += "&amp;r"
        if s.t:
            out += "&amp;t=1"
        if s.x:
            out += f"&amp;x={esc(s.x)}"
        return out
