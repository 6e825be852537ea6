"""Message dates and receive times, as public-inbox computes them.

``str2date_zone`` follows PublicInbox::MsgTime: a tolerant RFC 822 pattern
first (extra commas and punctuation allowed, two- and three-digit years,
obsolete US zone names, odd offsets such as ``--500``), a Date::Parse style
fallback for other forms, a rule that pre-1970 wall-clock dates are
rejected, and a rule that absurd offsets (at or beyond +-14:00) are replaced
by ``+0000`` after having been applied.  Dates without a zone are taken as
UTC (Date::Parse would use the local zone of the machine).  ``msg_datestamp``
prefers ``Date:``, ``msg_timestamp`` prefers the top-most parsable
``Received:`` line; both fall back to a caller-supplied time.
"""

from __future__ import annotations

import calendar
import re
import time
from typing import TYPE_CHECKING

from pubinbox import native

if TYPE_CHECKING:
    from pubinbox.mail.parse import Headers

__all__ = ["date_parse", "msg_datestamp", "msg_timestamp", "str2date_zone"]

_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
_MOY = {m: i for i, m in enumerate(_MONTHS)} | {m[:3]: i for i, m in enumerate(_MONTHS)}

_OBSOLETE_TZ = {
    "EST": "-0500",
    "EDT": "-0400",
    "CST": "-0600",
    "CDT": "-0500",
    "MST": "-0700",
    "MDT": "-0600",
    "PST": "-0800",
    "PDT": "-0700",
    "UT": "+0000",
    "GMT": "+0000",
    "Z": "+0000",
}
_SP = r"[ \t\n\r\f\v]"
_RFC822 = re.compile(
    r"(?:[A-Za-z]+,?" + _SP + r"+)?"
    r"([0-9]+),?" + _SP + r"+"
    r"([A-Za-z]+)" + _SP + r"+"
    r"([0-9]{2,4})" + _SP + r"+"
    r"([0-9]+)[:.]((?:[0-9]{2})|(?:" + _SP + r"?[0-9]))"
    r"(?:[:.]((?:[0-9]{2})|(?:"
    + _SP
    + r"?[0-9])))?"
    + _SP
    + r"+([+-])?[+-]*([0-9]+|"
    + "|".join(_OBSOLETE_TZ)
    + r")(?:"
    + _SP
    + r"|$)"
)
# MsgTime's pattern starts with \s*; leaving it out finds the same group 1
# (the date starts at the first digit either way) and lets the regex engine
# skip ahead to digits
_RECEIVED = re.compile(
    r"([0-9]+" + _SP + r"+[a-zA-Z]+" + _SP + r"+[0-9]{2,4}" + _SP + r"+"
    r"[0-9]+[^0-9][0-9]+(?:[^0-9][0-9]+)" + _SP + r"+([+-][0-9]+))"
)
_C = native.load()
_MDAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class _BadDate(Exception):
    """Time::Local would croak: the value is out of range."""


def _perl_year(year: int, now: float | None = None) -> int:
    """Time::Local's year munging -> full year."""
    if year >= 1000:
        return year
    if 0 <= year < 100:
        this = time.gmtime(now).tm_year - 1900
        brk = (this + 50) % 100
        nxt = this - this % 100
        if brk < 50:
            nxt += 100
        return year + (nxt if year <= brk else nxt - 100) + 1900
    return year + 1900


def _timegm(sec: int, mi: int, hour: int, mday: int, mon: int, year: int) -> int:
    """Time::Local::timegm with its range checks (year already full)."""
    if not 0 <= mon <= 11:
        raise _BadDate("month")
    md = _MDAYS[mon] + (1 if mon == 1 and calendar.isleap(year) else 0)
    if not 1 <= mday <= md or not 0 <= hour <= 23 or not 0 <= mi <= 59 or not 0 <= sec <= 59:
        raise _BadDate("range")
    days = _days_from_civil(year, mon + 1, mday)
    return days * 86400 + hour * 3600 + mi * 60 + sec


def _days_from_civil(y: int, m: int, d: int) -> int:
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _rfc822(m: re.Match[str]) -> tuple[int, str] | None:
    dd, mname, yyyy, hh, mm, ss, sign, tz = m.groups()
    mon = _MOY.get(mname.lower())
    if mon is None:
        return None
    if tz in _OBSOLETE_TZ:
        off = _OBSOLETE_TZ[tz]
        sign, tz = off[0], off[1:]
    year = int(yyyy)
    if len(yyyy) <= 3:
        year += 1900
        if year < 1950:
            year += 100
    ts = _timegm(int(ss or "0"), int(mm), int(hh), int(dd), mon, _perl_year(year))
    if ts < 0:
        return None
    if len(tz) == 1:
        tz_hh, tz_mm = int(tz), 0
    elif len(tz) == 2:
        tz_hh, tz_mm = 0, int(tz)
    else:
        tz_hh, tz_mm = int(tz[:-2]), int(tz[-2:])
    tz_hh += tz_mm // 60
    tz_mm %= 60
    off_s = tz_mm * 60 + tz_hh * 3600
    sign = sign or "+"
    ts += -off_s if sign == "+" else off_s
    if off_s == 0:
        sign = "+"
    return ts, f"{sign}{tz_hh:02d}{tz_mm:02d}"


def _bogus(zone: str) -> str:
    num = int(zone)
    return "+0000" if num >= 1400 or num <= -1400 else zone


def str2date_zone(s: str, now: float | None = None) -> tuple[int, str] | None:
    """Parse a date string into (unix time, "+HHMM") or None.

    ``now`` only matters for dates without a year in the fallback parser.
    Out-of-range fields in an RFC 822 looking date give None.  A date in
    the usual form is parsed in C when it is built (``_native.rfc822_date``,
    tested equal to :func:`str2date_zone_py`).
    """
    if _C is not None:
        got: tuple[int, str] | None = _C.rfc822_date(s)
        if got is not None:
            return got
    return str2date_zone_py(s, now)


def str2date_zone_py(s: str, now: float | None = None) -> tuple[int, str] | None:
    """:func:`str2date_zone` in Python."""
    m = _RFC822.search(s)
    if m is not None:
        try:
            r = _rfc822(m)
        except (_BadDate, ValueError, OverflowError):
            return None
        if r is None:
            return None
        return r[0], _bogus(r[1])
    parsed = date_parse(s, now)
    if parsed is None:
        return None
    ts, off = parsed
    sign = "-" if off < 0 else "+"
    hour = abs(int(off / 3600))
    mins = int(off / 60) % 60
    if mins and off < 0:
        mins = 60 - mins
    return ts, _bogus(f"{sign}{hour:02d}{mins:02d}")


# ---------------------------------------------------------- Date::Parse

_DAYS = {
    "sunday": 0,
    "monday": 1,
    "tuesday": 2,
    "tues": 2,
    "wednesday": 3,
    "wednes": 3,
    "thursday": 4,
    "thur": 4,
    "thurs": 4,
    "friday": 5,
    "saturday": 6,
}
_DAYS |= {k[:3]: v for k, v in list(_DAYS.items())}
_DMONTHS = dict(_MOY) | {"sept": 8}
_DAYPAT = "|".join(sorted(_DAYS, reverse=True))
_MONPAT = "|".join(sorted(_DMONTHS, reverse=True))
_SUFPAT = "th|st|rd|nd"
_ZONES = {
    "gmt": 0,
    "ut": 0,
    "utc": 0,
    "wet": 0,
    "wat": -1,
    "at": -2,
    "fnt": -2,
    "brt": -3,
    "mnt": -4,
    "ewt": -4,
    "ast": -4,
    "est": -5,
    "act": -5,
    "cst": -6,
    "mst": -7,
    "pst": -8,
    "akst": -9,
    "yst": -9,
    "hst": -10,
    "cat": -10,
    "ahst": -10,
    "nt": -11,
    "idlw": -12,
    "cet": 1,
    "mez": 1,
    "ect": 1,
    "met": 1,
    "mewt": 1,
    "swt": 1,
    "set": 1,
    "fwt": 1,
    "eet": 2,
    "ukr": 2,
    "bt": 3,
    "msk": 3,
    "wst": 8,
    "hkt": 8,
    "cct": 8,
    "jst": 9,
    "kst": 9,
    "aest": 10,
    "east": 10,
    "gst": 10,
    "nzt": 12,
    "nzst": 12,
    "idle": 12,
}
_DST_ZONES = {
    "brst": -2,
    "adt": -3,
    "edt": -4,
    "cdt": -5,
    "mdt": -6,
    "pdt": -7,
    "akdt": -8,
    "ydt": -8,
    "hdt": -9,
    "bst": 1,
    "mest": 2,
    "metdst": 2,
    "sst": 2,
    "fst": 2,
    "cest": 2,
    "eest": 3,
    "msd": 4,
    "wadt": 8,
    "kdt": 10,
    "aedt": 11,
    "eadt": 11,
    "nzd": 13,
    "nzdt": 13,
}


def _tz_offset(name: str) -> int | None:
    m = re.fullmatch(r"(([-+])\d\d?)(\d\d)", name, re.ASCII)
    if m:
        return int(m.group(1)) * 3600 + int(m.group(2) + m.group(3)) * 60
    if name in _ZONES:
        return _ZONES[name] * 3600
    if name in _DST_ZONES:
        return _DST_ZONES[name] * 3600
    return None


def _sub1(pat: str, s: str) -> tuple[re.Match[str] | None, str]:
    m = re.search(pat, s, re.ASCII | re.DOTALL)
    if m is None:
        return None, s
    return m, s[: m.start()] + " " + s[m.end() :]


def _strptime(
    date: str,
) -> tuple[float | None, int | None, int | None, int | None, int | None, int | None, int | None, int | None] | None:
    """Date::Parse::strptime: (ss, mm, hh, day, month, year, zone, century)."""
    s = "".join(c.lower() if c.isascii() else c for c in date)
    merid = 24
    year = month = day = hh = mm = zone = century = None
    ss: float | None = None
    frac = None
    dst = False
    while True:
        n = re.sub(r"\([^()]*\)", " ", s, count=1)
        if n == s:
            break
        s = n
    s = re.sub(r"\A|\n|\Z", " ", s)
    s = re.sub(r"([\w\s])[.,]\s", r"\1 ", s, flags=re.ASCII)
    s = s.replace(",", " ")
    s = re.sub(r"(" + _DAYPAT + r")\s*(den\s)?\b", " ", s, count=1, flags=re.ASCII)
    if not re.search(r"\S", s, re.ASCII):
        return None
    m, s = _sub1(
        r"\s(\d{4})([-:]?)(\d\d?)\2(\d\d?)(?:[-Tt ](\d\d?)(?:([-:]?)(\d\d?)"
        r"(?:\6(\d\d?)(?:[.,](\d+))?)?)?)?(?=\D)",
        s,
    )
    if m:
        year, month, day = int(m[1]), int(m[3]) - 1, int(m[4])
        hh = int(m[5]) if m[5] else None
        mm = int(m[7]) if m[7] else None
        ss = int(m[8]) if m[8] else None
        frac = m[9]
    if hh is None:
        m, s = _sub1(r"[:\s](\d\d?):(\d\d?)(:(\d\d?)(?:\.\d+)?)?(z)?\s*(?:([ap])\.?m?\.?)?\s", s)
        if m:
            hh, mm = int(m[1]), int(m[2])
            ss = int(m[4]) if m[4] else None
            if m[5]:
                zone = 0
            if m[6]:
                merid = 0 if m[6] == "a" else 12
        else:
            m, s = _sub1(r"\s(\d\d?)\s*([ap])\.?m?\.?\s", s)
            if m:
                hh, mm, ss = int(m[1]), 0, 0
                merid = 0 if m[2] == "a" else 12
    if hh is not None and hh <= 12:
        m, s = _sub1(r" ([ap])\.?m?\.?\s", s)
        if m:
            merid = 0 if m[1] == "a" else 12
    if year is None:
        m, s = _sub1(r"\s(\d\d?)([-./])(" + _MONPAT + r")(\2(\d\d+))?\s", s)
        if m:
            month, day = _DMONTHS[m[3]], int(m[1])
            if m[5] and m[5] != "0":
                year = int(m[5])
        else:
            m, s = _sub1(r"\s(\d+)([-./])(\d\d?)(\2(\d+))?\s", s)
            if m:
                month, day = int(m[1]) - 1, int(m[3])
                if m[5] and m[5] != "0":
                    ystr = m[5]
                    if month > 12:
                        ystr, month, day = m[1], int(m[3]) - 1, int(m[5])
                    year = int(ystr)
                    if len(ystr) > 2 and year < 1901:
                        return None
            else:
                m, s = _sub1(r"\s(\d+)\s*(" + _SUFPAT + r")?\s*(" + _MONPAT + r")", s)
                if m:
                    month, day = _DMONTHS[m[3]], int(m[1])
                else:
                    m, s = _sub1(r"(" + _MONPAT + r")\s*(\d+)\s*(" + _SUFPAT + r")?\s", s)
                    if m:
                        month, day = _DMONTHS[m[1]], int(m[2])
                    else:
                        m, s = _sub1(r"(" + _MONPAT + r")([/-])(\d+)[/-]", s)
                        if m:
                            month, day = _DMONTHS[m[1]], int(m[3])
                        else:
                            m, s = _sub1(r"\s(\d\d)(\d\d)(\d\d)\s", s)
                            if m:
                                year, month, day = int(m[1]), int(m[2]) - 1, int(m[3])
        if year is None:
            m, s = _sub1(r"\s(\d{2}(\d{2})?)[\s.,]", s)
            if m:
                year = int(m[1])
    n = re.sub(r"\bdst\b", "", s, count=1, flags=re.ASCII)
    if n != s:
        dst = True
        s = n
    m, s = _sub1(r'\s"?([a-z]{3,4})(dst|\d+[a-z]*|_[a-z]+)?"?\s', s)
    if m:
        if m[2] == "dst":
            dst = True
        zone = _tz_offset(m[1])
        if zone is None:
            return None
    else:
        m, s = _sub1(r"\s([a-z]{3,4})?([-+]?)-?(\d\d?):?(\d\d)?(00)?\s", s)
        if m:
            zone = _numeric_zone(m)
            if zone is None:
                return None
    if re.search(r"\S", s, re.ASCII):
        n = re.sub(r"^\s*(ut?|z)\s*$", "", s, count=1, flags=re.ASCII)
        if n != s:
            s = n
            zone = 0
        else:
            m, s = _sub1(r"\s([a-z]{3,4})?([-+]?)-?(\d\d?)(\d\d)?(00)?\s", s)
            if m:
                zone = _numeric_zone(m)
                if zone is None:
                    return None
        if re.search(r"\S", s, re.ASCII):
            return None
    if hh is not None:
        if hh == 12:
            if merid == 0:
                hh = 0
        elif merid == 12:
            hh += 12
    if year is not None and year > 1900:
        century = year // 100
        year -= 1900
    if zone is not None and dst:
        zone += 3600
    if frac and ss is not None:
        ss = ss + float("0." + frac)
    return ss, mm, hh, day, month, year, zone, century


def _numeric_zone(m: re.Match[str]) -> int | None:
    mins = int(m[2] + m[4]) if m[4] is not None else 0
    h = int(m[2] + m[3])
    base = _tz_offset(m[1]) if m[1] is not None else 0
    if base is None:
        return None
    return base + 60 * (mins + 60 * h)


def date_parse(date: str, now: float | None = None) -> tuple[int, int] | None:
    """Date::Parse ``str2time`` + zone offset, for dates with a year.

    Returns (unix time, offset seconds) or None.  Missing zones mean UTC.
    """
    t = _strptime(date)
    if t is None:
        return None
    ss, mm, hh, day, month, year, zone, century = t
    if year is None:
        return None
    lt = time.gmtime(now)
    hh = hh or 0
    mm = mm or 0
    sec = int(ss or 0)
    if month is None:
        month = lt.tm_mon - 1
    if day is None:
        day = lt.tm_mday
    if century is not None:
        year += 1900
    if not (month <= 11 and 1 <= day <= 31 and hh <= 23 and mm <= 59 and sec <= 59):
        return None
    try:
        res = _timegm(sec, mm, hh, day, month, _perl_year(year, now))
    except _BadDate:
        return None
    if zone is not None:
        res -= zone
    return res, zone or 0


# ---------------------------------------------------------- headers


def _received_at(h: Headers) -> tuple[int, str] | None:
    for r in h.perl_raw_iter("Received"):
        m = _RECEIVED.search(r)
        if m is None:
            continue
        got = str2date_zone(m.group(1))
        if got is not None:
            return got
    return None


def _date_only(h: Headers) -> tuple[int, str] | None:
    for d in h.perl_raw("Date"):
        got = str2date_zone(d)
        if got is not None:
            return got
    return None


def msg_timestamp(h: Headers, fallback: int) -> tuple[int, str]:
    """Receive time ("ts"): first parsable Received:, else Date:, else fallback."""
    return _received_at(h) or _date_only(h) or (fallback, "+0000")


def msg_datestamp(h: Headers, fallback: int) -> tuple[int, str]:
    """Date ("ds"): Date:, else first parsable Received:, else fallback."""
    return _date_only(h) or _received_at(h) or (fallback, "+0000")
