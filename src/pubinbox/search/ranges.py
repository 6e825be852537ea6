"""Range values of the search language: ``d: dt: rt:`` dates (public-inbox's
rules, git's approxidate for the free forms) and ``z: uid:`` numbers, turned
into :class:`~pubinbox.search.nodes.Range` nodes (bounds in unix seconds
UTC or integers, *lo* inclusive, *hi* exclusive)."""

from __future__ import annotations

import datetime as _dt
import re

from pubinbox.errors import QueryError
from pubinbox.search.approxidate import approxidate
from pubinbox.search.nodes import Range
from pubinbox.search.prefixes import DATE_FIELDS

__all__ = ["parse_range"]

_DAY = 86400

_RE_8 = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})")
_RE_ISO = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_RE_14 = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})")
_EPOCH = _dt.datetime(1970, 1, 1)


def _utc(*parts: str) -> int | None:
    try:
        d = _dt.datetime(*(int(p) for p in parts))  # type: ignore[arg-type]
    except ValueError:
        return None
    return (d - _EPOCH) // _dt.timedelta(seconds=1)


def _date_point(field: str, name: str, s: str, pos: int, now: int, tz: int) -> tuple[int, bool]:
    """(unix seconds, is_whole_day) for one end of a date range."""
    t: int | None
    if field == "rt" and re.fullmatch(r"[0-9]{5,}", s):
        if len(s) > 15:
            raise QueryError(f"date out of range '{s}' in {name}:{s} at {pos}", pos)
        return int(s), False
    m = _RE_8.fullmatch(s) or _RE_ISO.fullmatch(s)
    if m:
        t = _utc(m[1], m[2], m[3])
        if t is None:
            raise QueryError(f"invalid date '{s}' in {name}:{s} at {pos}", pos)
        return t, True
    m = _RE_14.fullmatch(s)
    if m:
        t = _utc(*m.groups())
        if t is None:
            raise QueryError(f"invalid date '{s}' in {name}:{s} at {pos}", pos)
        return t, False
    t = approxidate(s, now, tz)
    if t is None:
        raise QueryError(f"unknown date '{s}' in {name}:{s} at {pos}", pos)
    return t, False


def _number(name: str, s: str, pos: int) -> int:
    if not re.fullmatch(r"[0-9]{1,19}", s):
        raise QueryError(f"'{name}:' needs a number, not '{s}', at {pos}", pos)
    return int(s)


def parse_range(field: str, name: str, value: str, pos: int, now: int, tz: int) -> Range:
    a, sep, b = value.partition("..")
    lo: int | None
    hi: int | None
    if field not in DATE_FIELDS:
        if not sep:
            lo = _number(name, a, pos)
            return Range(field, lo, lo + 1)
        lo = _number(name, a, pos) if a else None
        hi = _number(name, b, pos) + 1 if b else None
    elif not sep:
        t, _whole_day = _date_point(field, name, a, pos, now, tz)
        if field == "d":  # the UTC day holding that moment
            t -= t % _DAY
        return Range(field, t, t + _DAY)
    else:
        lo = _date_point(field, name, a, pos, now, tz)[0] if a else None
        hi = None
        if b:
            t, whole_day = _date_point(field, name, b, pos, now, tz)
            hi = t + _DAY if whole_day else t + 1
    if lo is None and hi is None:
        raise QueryError(f"empty range '{value}' in {name}:{value} at {pos}", pos)
    if lo is not None and hi is not None and lo >= hi:
        raise QueryError(f"range '{value}' in {name}:{value} ends before it starts, at {pos}", pos)
    return Range(field, lo, hi)
