"""Filters over the series list: by author, by state, by words of the
title (``/$INBOX/series/?author=&state=&q=`` and the API's series list).

States, from what ``series.sqlite3`` holds:

``complete``
    every patch 1..N is there;
``incomplete``
    some patch is missing (a lone ``0/N`` too);
``superseded``
    a later version of it exists (the same ``change-id:``, or the same
    author and normalised title);
``latest``
    not superseded;
``reviewed``
    every patch is there and has a ``Reviewed-by`` or ``Acked-by`` (its
    own, in a reply, or given to the cover letter) from someone other than
    its author (counted by :func:`pubinbox.series.store.sync`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pubinbox.errors import BadRequest
from pubinbox.series.reader import S_COLS, SeriesReader, SeriesRow, row

__all__ = ["STATES", "SeriesFilter", "count", "parse_filter", "recent"]

STATES = ("complete", "incomplete", "superseded", "latest", "reviewed")
#: characters of author= and q=
MAX_TEXT = 200
#: words of q=
MAX_WORDS = 10

#: two EXISTS, each answered from an index (series_rev, series_cid): one
#: EXISTS with an OR inside scans the table once per row
_NEWER = (
    "(EXISTS (SELECT 1 FROM series n INDEXED BY series_rev WHERE n.email = s.email AND n.norm = s.norm AND n.version > s.version)"
    " OR (s.change_id IS NOT NULL AND EXISTS (SELECT 1 FROM series n WHERE n.change_id = s.change_id"
    " AND n.version > s.version)))"
)
_STATE_SQL = {
    "complete": "s.present >= s.total",
    "incomplete": "s.present < s.total",
    "superseded": _NEWER,
    "latest": f"NOT {_NEWER}",
    "reviewed": "s.total > 0 AND s.present >= s.total AND s.reviewed >= s.total",
}


@dataclass(frozen=True, slots=True)
class SeriesFilter:
    author: str = ""
    state: str = ""
    q: str = ""

    @property
    def empty(self) -> bool:
        return not (self.author or self.state or self.q)

    def qs(self) -> str:
        """The filter as query-string parameters (``&k=v`` each), for links."""
        from urllib.parse import quote

        return "".join(f"&{k}={quote(v, safe='')}" for k, v in (("author", self.author), ("state", self.state),
                                                                 ("q", self.q)) if v)  # fmt: skip


def _text(params: Mapping[str, list[str]], key: str) -> str:
    got = params.get(key) or []
    if len(got) > 1:
        raise BadRequest(f"{key}= given more than once")
    v = got[0].strip() if got else ""
    if len(v) > MAX_TEXT:
        raise BadRequest(f"{key}= is longer than {MAX_TEXT} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in v):
        raise BadRequest(f"{key}= holds control characters")
    return v


def parse_filter(params: Mapping[str, list[str]]) -> SeriesFilter:
    """The filter of a request (*params*: every value of each parameter);
    BadRequest for an unknown state, a repeated or over-long value."""
    f = SeriesFilter(_text(params, "author"), _text(params, "state").lower(), _text(params, "q"))
    if f.state and f.state not in STATES:
        raise BadRequest(f"state= must be one of {', '.join(STATES)}")
    if len(f.q.split()) > MAX_WORDS:
        raise BadRequest(f"q= has more than {MAX_WORDS} words")
    return f


def _like(v: str) -> str:
    return "%" + v.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _where(f: SeriesFilter) -> tuple[str, list[object]]:
    conds: list[str] = []
    args: list[object] = []
    if f.author:
        conds.append("(lower(s.author) LIKE ? ESCAPE '\\' OR s.email LIKE ? ESCAPE '\\')")
        args += [_like(f.author), _like(f.author)]
    if f.state:
        conds.append(_STATE_SQL[f.state])
    for w in f.q.split():
        conds.append("lower(s.title) LIKE ? ESCAPE '\\'")
        args.append(_like(w))
    return (" WHERE " + " AND ".join(conds)) if conds else "", args


def count(sr: SeriesReader, f: SeriesFilter) -> int:
    where, args = _where(f)
    return int(sr._q(f"SELECT COUNT(*) FROM series s{where}", tuple(args))[0][0])


def recent(sr: SeriesReader, f: SeriesFilter, offset: int, limit: int) -> list[SeriesRow]:
    """The series *f* lets through, newest first (first received), then by id."""
    where, args = _where(f)
    return [
        row(r)
        for r in sr._q(
            f"SELECT {S_COLS} FROM series s{where} ORDER BY s.ts DESC, s.id DESC LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
    ]
