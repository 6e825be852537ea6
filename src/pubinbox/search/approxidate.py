"""git's "approxidate": the loose dates users type in ``d:``, ``dt:``, ``rt:``.

public-inbox converts date search terms by running ``git rev-parse --since=X``
(REFERENCE §4.4, §5).  This module re-implements the same algorithm as git
2.39's ``approxidate_careful()`` (date.c) in pure Python, so no git process is
needed per query, and reports failure instead of silently returning "now":

1. a strict pass (git's ``parse_date_basic``) that accepts complete
   timestamps: ``2023-01-04.12:00``, ``2023-01-04T12:00:00Z``, RFC 2822
   dates, ``@1234567890`` and bare unix seconds (9+ digits);
2. otherwise the approximate pass (``approxidate_str``): ``now``,
   ``yesterday``, ``noon``, ``midnight``, ``tea``, ``never``, ``N.units.ago``
   (seconds, minutes, hours, days, weeks, months, years; ``last``/``one`` ..
   ``ten`` as numbers), weekday names (``last.monday``), month names
   (``jan.1``, ``1.jan.2023``), ``YYYY-MM-DD`` (which, as in git, keeps the
   current time of day), ``5.pm`` and combinations such as
   ``3.days.ago.noon``.  Words separated by dots, spaces or any punctuation.

Where git would silently answer "now" for text in which it recognised nothing
(``fooday``), :func:`approxidate` returns ``None``.  One deliberate extension:
a bare ``YYYYMMDD`` (which git ignores) is read like ``YYYY-MM-DD``, and
``today`` means now (git gives the same number, but only as its "I did not
understand" fallback).  A bare weekday (``monday``) is not a date for git
(only ``last.monday`` is), so it gives ``None`` here.

Time zones: git works in the local time zone of the server.  Here the "local"
zone is a fixed offset, *tz_offset* seconds east of UTC (0 = UTC, the
default, what tests and servers should use); no daylight-saving rules.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

__all__ = ["approxidate"]

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAYS = ("Sundays", "Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays")
_NUMBER_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_TYPELEN = (("seconds", 1), ("minutes", 60), ("hours", 3600), ("days", 86400), ("weeks", 7 * 86400))

# (name, hours east of UTC, dst) as in git's timezone_names[]
_TZ_NAMES = (
    ("IDLW", -12, 0),
    ("NT", -11, 0),
    ("CAT", -10, 0),
    ("HST", -10, 0),
    ("HDT", -10, 1),
    ("YST", -9, 0),
    ("YDT", -9, 1),
    ("PST", -8, 0),
    ("PDT", -8, 1),
    ("MST", -7, 0),
    ("MDT", -7, 1),
    ("CST", -6, 0),
    ("CDT", -6, 1),
    ("EST", -5, 0),
    ("EDT", -5, 1),
    ("AST", -3, 0),
    ("ADT", -3, 1),
    ("WAT", -1, 0),
    ("GMT", 0, 0),
    ("UTC", 0, 0),
    ("Z", 0, 0),
    ("WET", 0, 0),
    ("BST", 0, 1),
    ("CET", 1, 0),
    ("MET", 1, 0),
    ("MEWT", 1, 0),
    ("MEST", 1, 1),
    ("CEST", 1, 1),
    ("MESZ", 1, 1),
    ("FWT", 1, 0),
    ("FST", 1, 1),
    ("EET", 2, 0),
    ("EEST", 2, 1),
    ("WAST", 7, 0),
    ("WADT", 7, 1),
    ("CCT", 8, 0),
    ("JST", 9, 0),
    ("EAST", 10, 0),
    ("EADT", 10, 1),
    ("GST", 10, 0),
    ("NZT", 12, 0),
    ("NZST", 12, 0),
    ("NZDT", 12, 1),
    ("IDLE", 12, 0),
)

_EPOCH_ORD = _dt.date(1970, 1, 1).toordinal()
_MDAYS = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)
_YYYYMMDD = re.compile(r"\A([0-9]{4})([0-9]{2})([0-9]{2})\Z")
_MAX_LEN = 200


class _Fail(Exception):
    """Internal: the date cannot be represented (out of range)."""


@dataclass(slots=True)
class _Tm:
    """A mutable ``struct tm`` (scratch state of the parser; never escapes).

    ``year`` counts from 1900 and ``mon`` from 0, as in C; -1 means unset.
    """

    year: int = -1
    mon: int = -1
    mday: int = -1
    hour: int = -1
    min: int = -1
    sec: int = -1
    wday: int = -1

    def copy(self) -> _Tm:
        return _Tm(self.year, self.mon, self.mday, self.hour, self.min, self.sec, self.wday)


def _isdigit(c: str) -> bool:
    return "0" <= c <= "9"


def _isalpha(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z")


def _isalnum(c: str) -> bool:
    return _isdigit(c) or _isalpha(c)


def _strtoul(s: str, i: int) -> tuple[int, int]:
    """Digits from *i*: (value, end index); value 0 and end *i* if none."""
    j = i
    while j < len(s) and _isdigit(s[j]):
        j += 1
    return (int(s[i:j]) if j > i else 0), j


def _ch(s: str, i: int) -> str:
    return s[i] if i < len(s) else "\0"


def _c_int(n: int) -> int:
    """Truncate to a C ``int`` as git's ``*num = number`` does."""
    return ((n + 2**31) % 2**32) - 2**31


def _localtime(t: int, off: int) -> _Tm:
    try:
        d = _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=t + off)
    except OverflowError as e:
        raise _Fail from e
    return _Tm(d.year - 1900, d.month - 1, d.day, d.hour, d.minute, d.second, (d.weekday() + 1) % 7)


def _mktime(tm: _Tm, off: int) -> int:
    """Like C ``mktime`` in a fixed-offset zone (normalises out-of-range fields)."""
    year = tm.year + 1900 + tm.mon // 12
    mon = tm.mon % 12
    if not 1 <= year <= 9999:
        raise _Fail
    days = _dt.date(year, mon + 1, 1).toordinal() - _EPOCH_ORD + tm.mday - 1
    return days * 86400 + tm.hour * 3600 + tm.min * 60 + tm.sec - off


def _tm_to_time_t(tm: _Tm) -> int:
    """git's tm_to_time_t: UTC, no normalisation, 1970..2099, -1 on failure."""
    year = tm.year - 70
    month = tm.mon
    day = tm.mday
    if year < 0 or year > 129:
        return -1
    if month < 0 or month > 11:
        return -1
    if month < 2 or (year + 2) % 4:
        day -= 1
    if tm.hour < 0 or tm.min < 0 or tm.sec < 0:
        return -1
    return (year * 365 + (year + 1) // 4 + _MDAYS[month] + day) * 86400 + tm.hour * 3600 + tm.min * 60 + tm.sec


def _match_string(s: str, i: int, name: str) -> int:
    """How many characters of ``s[i:]`` match *name* (case-insensitively)."""
    n = 0
    while i + n < len(s):
        c = s[i + n]
        o = name[n] if n < len(name) else "\0"
        if c == o or c.upper() == o.upper():
            n += 1
            continue
        if not _isalnum(c):
            break
        return 0
    return n


def _skip_alpha(s: str, i: int) -> int:
    n = 1
    while _isalpha(_ch(s, i + n)):
        n += 1
    return n


def _set_date(year: int, month: int, day: int, now_tm: _Tm | None, now: int, tm: _Tm) -> bool:
    """git's set_date(): True on success (git returns 0)."""
    if not (0 < month < 13 and 0 < day < 32):
        return False
    r = tm.copy() if now_tm is not None else tm
    r.mon = month - 1
    r.mday = day
    if year == -1:
        if now_tm is None:
            return False
        r.year = now_tm.year
    elif 1970 <= year < 2100:
        r.year = year - 1900
    elif 70 < year < 100:
        r.year = year
    elif year < 38:
        r.year = year + 100
    else:
        return False
    if now_tm is None:
        return True
    specified = _tm_to_time_t(r)
    if specified != -1 and now + 10 * 86400 < specified:
        return False
    tm.mon = r.mon
    tm.mday = r.mday
    if year != -1:
        tm.year = r.year
    return True


def _set_time(hour: int, minute: int, second: int, tm: _Tm) -> bool:
    if 0 <= hour <= 24 and 0 <= minute < 60 and 0 <= second <= 60:
        tm.hour, tm.min, tm.sec = hour, minute, second
        return True
    return False


def _match_multi_number(num: int, c: str, s: str, start: int, end: int, tm: _Tm, now: int) -> int:
    """``num<c>num2[<c>num3]``: a time or a date; characters used or 0."""
    num2, end = _strtoul(s, end + 1)
    num3 = -1
    if _ch(s, end) == c and _isdigit(_ch(s, end + 1)):
        num3, end = _strtoul(s, end + 1)
    if c == ":":
        num3 = max(num3, 0)
        if _set_time(num, num2, num3, tm):
            if _ch(s, end) == "." and _isdigit(_ch(s, end + 1)) and tm.year >= 0 and tm.mon >= 0 and tm.mday >= 0:
                _, end = _strtoul(s, end + 1)
            return end - start
        return 0
    now_tm = _localtime(now, 0)
    ok = False
    if num > 70:
        ok = _set_date(num, num2, num3, None, now, tm) or _set_date(num, num3, num2, None, now, tm)
    if not ok and c != ".":
        ok = _set_date(num3, num, num2, now_tm, now, tm)
    if not ok:
        ok = _set_date(num3, num2, num, now_tm, now, tm)
    if not ok and c == ".":
        ok = _set_date(num3, num, num2, now_tm, now, tm)
    return end - start if ok else 0


# ---------------------------------------------------------------------------
# strict pass: parse_date_basic()


class _Basic:
    __slots__ = ("now", "offset", "tm", "tm_gmt")

    def __init__(self, now: int) -> None:
        self.tm = _Tm()
        self.offset = -1  # minutes east of UTC, -1 = unknown
        self.tm_gmt = False
        self.now = now

    def match_alpha(self, s: str, i: int) -> int:
        tm = self.tm
        for n, name in enumerate(_MONTHS):
            m = _match_string(s, i, name)
            if m >= 3:
                tm.mon = n
                return m
        for n, name in enumerate(_WEEKDAYS):
            m = _match_string(s, i, name)
            if m >= 3:
                tm.wday = n
                return m
        for name, hours, dst in _TZ_NAMES:
            m = _match_string(s, i, name)
            if m >= 3 or m == len(name):
                if self.offset == -1:
                    self.offset = 60 * (hours + dst)
                return m
        if _match_string(s, i, "PM") == 2:
            tm.hour = (tm.hour % 12) + 12
            return 2
        if _match_string(s, i, "AM") == 2:
            tm.hour = tm.hour % 12
            return 2
        if s[i] == "T" and _isdigit(_ch(s, i + 1)) and tm.hour == -1:
            tm.min = tm.sec = 0
            return 1
        return _skip_alpha(s, i)

    def match_digit(self, s: str, i: int) -> int:
        tm = self.tm
        num, end = _strtoul(s, i)
        if num >= 100000000 and (tm.year & tm.mon & tm.mday & tm.hour & tm.min & tm.sec) < 0:
            self.tm = _localtime(num, 0)
            self.tm_gmt = True
            return end - i
        if _ch(s, end) in ":./-" and _isdigit(_ch(s, end + 1)):
            m = _match_multi_number(num, s[end], s, i, end, tm, self.now)
            if m:
                return m
        n = end - i
        if n in (8, 6):
            n1, n2, n3 = num // 10000, (num % 10000) // 100, num % 100
            if n == 8:
                _set_date(n1, n2, n3, None, self.now, tm)
            elif _set_time(n1, n2, n3, tm) and _ch(s, end) == "." and _isdigit(_ch(s, end + 1)):
                _, end = _strtoul(s, end + 1)
            return end - i
        if n == 4:
            if num <= 1400 and self.offset == -1:
                self.offset = (num // 100) * 60 + num % 100
            elif 1900 < num < 2100:
                tm.year = num - 1900
            return n
        if n > 2:
            return n
        if 0 < num < 32 and tm.mday < 0:
            tm.mday = num
            return n
        if n == 2 and tm.year < 0:
            if num < 10 and tm.mday >= 0:
                tm.year = num + 100
                return n
            if num >= 70:
                tm.year = num
                return n
        if 0 < num < 13 and tm.mon < 0:
            tm.mon = num - 1
        return n

    def match_tz(self, s: str, i: int) -> int:
        off, end = _strtoul(s, i + 1)
        n = end - i - 1
        mins, hours = off % 100, off // 100
        if mins < 60 and n > 2:
            off = hours * 60 + mins
            self.offset = -off if s[i] == "-" else off
        return end - i

    def parse(self, s: str, local_off: int) -> int | None:
        i = 0
        while i < len(s):
            c = s[i]
            if c == "\n":
                break
            m = 0
            if _isalpha(c):
                m = self.match_alpha(s, i)
            elif _isdigit(c):
                m = self.match_digit(s, i)
            elif c in "-+" and _isdigit(_ch(s, i + 1)):
                m = self.match_tz(s, i)
            i += m or 1
        t = _tm_to_time_t(self.tm)
        if t == -1:
            return None
        if self.offset == -1:
            self.offset = local_off // 60
        if not self.tm_gmt:
            t -= self.offset * 60
        return t


# ---------------------------------------------------------------------------
# approximate pass: approxidate_str()


class _Approx:
    __slots__ = ("now", "now_tm", "num", "off", "tm", "touched")

    def __init__(self, now: int, off: int) -> None:
        self.now = now
        self.off = off
        self.now_tm = _localtime(now, off)
        self.tm = self.now_tm.copy()
        self.tm.year = self.tm.mon = self.tm.mday = -1
        self.num = 0
        self.touched = False

    def update_tm(self, sec: int) -> int:
        tm, now = self.tm, self.now_tm
        if tm.mday < 0:
            tm.mday = now.mday
        if tm.mon < 0:
            tm.mon = now.mon
        if tm.year < 0:
            tm.year = now.year
            if tm.mon > now.mon:
                tm.year -= 1
        n = _mktime(tm, self.off) - sec
        self.tm = _localtime(n, self.off)
        return n

    def pending_number(self) -> None:
        number = self.num
        if number:
            self.num = 0
            tm = self.tm
            if tm.mday < 0 and number < 32:
                tm.mday = number
            elif tm.mon < 0 and number < 13:
                tm.mon = number - 1
            elif tm.year < 0:
                if 1969 < number < 2100:
                    tm.year = number - 1900
                elif 69 < number < 100:
                    tm.year = number
                elif number < 38:
                    tm.year = 100 + number

    def date_time(self, hour: int) -> None:
        if self.tm.hour < hour:
            self.update_tm(86400)
        self.tm.hour, self.tm.min, self.tm.sec = hour, 0, 0

    def special(self, name: str) -> None:
        if name == "yesterday":
            self.num = 0
            self.update_tm(86400)
        elif name in ("noon", "midnight", "tea"):
            self.pending_number()
            self.date_time({"noon": 12, "midnight": 0, "tea": 17}[name])
        elif name in ("PM", "AM"):
            n = self.num
            self.num = 0
            hour = self.tm.hour
            if n:
                hour = n
                self.tm.min = self.tm.sec = 0
            self.tm.hour = (hour % 12) + (12 if name == "PM" else 0)
        elif name == "never":
            self.tm = _localtime(0, self.off)
            self.num = 0
        else:  # now
            self.num = 0
            self.update_tm(0)

    def alpha(self, s: str, i: int) -> int:
        end = i + _skip_alpha(s, i)
        tm = self.tm
        for n, name in enumerate(_MONTHS):
            if _match_string(s, i, name) >= 3:
                tm.mon = n
                self.touched = True
                return end
        for name in ("yesterday", "noon", "midnight", "tea", "PM", "AM", "never", "now"):
            if _match_string(s, i, name) == len(name):
                self.special(name)
                self.touched = True
                return end
        if not self.num:
            for n in range(1, 11):
                name = _NUMBER_NAMES[n]
                if _match_string(s, i, name) == len(name):
                    self.num = n
                    self.touched = True
                    return end
            if _match_string(s, i, "last") == 4:
                self.num = 1
                self.touched = True
            return end
        for name, length in _TYPELEN:
            if _match_string(s, i, name) >= len(name) - 1:
                self.update_tm(length * self.num)
                self.num = 0
                self.touched = True
                return end
        for n, name in enumerate(_WEEKDAYS):
            if _match_string(s, i, name) >= 3:
                k = self.num - 1
                self.num = 0
                diff = self.tm.wday - n
                if diff <= 0:
                    k += 1
                diff += 7 * k
                self.update_tm(diff * 86400)
                self.touched = True
                return end
        if _match_string(s, i, "months") >= 5:
            self.update_tm(0)
            m = self.tm.mon - self.num
            self.num = 0
            while m < 0:
                m += 12
                self.tm.year -= 1
            self.tm.mon = m
            self.touched = True
            return end
        if _match_string(s, i, "years") >= 4:
            self.update_tm(0)
            self.tm.year -= self.num
            self.num = 0
            self.touched = True
        return end

    def digit(self, s: str, i: int) -> int:
        number, end = _strtoul(s, i)
        if _ch(s, end) in ":./-" and _isdigit(_ch(s, end + 1)):
            m = _match_multi_number(number, s[end], s, i, end, self.tm, self.now)
            if m:
                return i + m
        if s[i] != "0" or end - i <= 2:
            self.num = _c_int(number)
        return end

    def parse(self, s: str) -> int | None:
        i = 0
        while i < len(s):
            c = s[i]
            if _isdigit(c):
                self.pending_number()
                i = self.digit(s, i)
                self.touched = True
                continue
            if _isalpha(c):
                i = self.alpha(s, i)
                continue
            i += 1
        self.pending_number()
        if not self.touched:
            return None
        return self.update_tm(0)


def approxidate(s: str, now: int, tz_offset: int = 0) -> int | None:
    """Unix seconds for the date expression *s*, or ``None`` if it is not one.

    *now* (unix seconds) anchors relative forms; *tz_offset* is the local
    zone in seconds east of UTC (affects ``midnight``, ``YYYY-MM-DD`` without
    a time, and other wall-clock forms).  Dots, spaces and other punctuation
    all separate words: ``2.weeks.ago`` == ``2 weeks ago``.
    """
    s = s.strip()
    if not s or len(s) > _MAX_LEN or not s.isascii():
        return None
    if s.lower() == "today":
        return now
    m = _YYYYMMDD.match(s)
    if m:  # extension: git ignores compact dates in approxidate
        s = f"{m[1]}-{m[2]}-{m[3]}"
    try:
        t = _Basic(now).parse(s, tz_offset)
        if t is not None:
            return t
        return _Approx(now, tz_offset).parse(s)
    except _Fail:
        return None
