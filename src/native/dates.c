/*
 * Dates: the usual RFC 822 date parsed (rfc822_date).
 *
 * Copyright (C) pubinbox contributors.  AGPL-3.0-or-later.
 */
#include "native.h"

static int
is_sp(Py_UCS4 c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int
is_alpha(Py_UCS4 c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int
is_digit(Py_UCS4 c)
{
    return c >= '0' && c <= '9';
}

typedef struct {
    int kind;
    const void *data;
    Py_ssize_t n, i;
} Cur;

static Py_UCS4
peek(const Cur *c)
{
    return c->i < c->n ? PyUnicode_READ(c->kind, c->data, c->i) : 0;
}

/* the maximal run of chars pred takes: its length */
static Py_ssize_t
run(Cur *c, int (*pred)(Py_UCS4))
{
    Py_ssize_t a = c->i;
    while (c->i < c->n && pred(PyUnicode_READ(c->kind, c->data, c->i)))
        c->i++;
    return c->i - a;
}

/* the value of the digits at [a, a+len) (len <= 9) */
static long
digits(const Cur *c, Py_ssize_t a, Py_ssize_t len)
{
    long v = 0;
    for (Py_ssize_t k = a; k < a + len; k++)
        v = v * 10 + (long)(PyUnicode_READ(c->kind, c->data, k) - '0');
    return v;
}

static const char *const MONTHS[12] = {"january", "february", "march",     "april",   "may",      "june",
                                       "july",    "august",   "september", "october", "november", "december"};

/* the month (0-11) a name is, full or its first three letters, any case; -1 */
static int
month(const Cur *c, Py_ssize_t a, Py_ssize_t len)
{
    for (int m = 0; m < 12; m++) {
        Py_ssize_t full = (Py_ssize_t)strlen(MONTHS[m]);
        if (len != 3 && len != full)
            continue;
        Py_ssize_t k = 0;
        for (; k < len; k++) {
            Py_UCS4 ch = PyUnicode_READ(c->kind, c->data, a + k);
            if (ch >= 'A' && ch <= 'Z')
                ch += 32;
            if (ch != (Py_UCS4)MONTHS[m][k])
                break;
        }
        if (k == len)
            return m;
    }
    return -1;
}

static long long
days_from_civil(long long y, long long m, long long d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/*
 * rfc822_date(s: str) -> tuple[int, str] | None
 *
 * mail.dates.str2date_zone of a date in the usual form
 *   [Day[,] ]D[D][,] Mon YYYY HH:MM[:SS] [+-]HHMM
 * (any case, blanks as its pattern allows, then a blank or the end), when
 * the first way its pattern (_RFC822) tries to match at the start of s
 * matches and the date is in range: the pattern's match is then this one.
 * None for anything else, which str2date_zone parses itself (two-digit
 * years, zone names, one-digit minutes, other forms, bad dates).
 */
PyObject *
native_rfc822_date(PyObject *self, PyObject *arg)
{
    (void)self;
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "rfc822_date(s: str)");
        return NULL;
    }
    if (PyUnicode_READY(arg) < 0)
        return NULL;
    Cur c = {PyUnicode_KIND(arg), PyUnicode_DATA(arg), PyUnicode_GET_LENGTH(arg), 0};
    if (is_alpha(peek(&c))) { /* (?:[A-Za-z]+,?\s+)? */
        run(&c, is_alpha);
        if (peek(&c) == ',')
            c.i++;
        if (run(&c, is_sp) == 0)
            Py_RETURN_NONE;
    }
    Py_ssize_t a = c.i, len = run(&c, is_digit); /* ([0-9]+),?\s+ */
    if (len == 0 || len > 2)
        Py_RETURN_NONE;
    long mday = digits(&c, a, len);
    if (peek(&c) == ',')
        c.i++;
    if (run(&c, is_sp) == 0)
        Py_RETURN_NONE;
    a = c.i; /* ([A-Za-z]+)\s+ */
    len = run(&c, is_alpha);
    int mon = month(&c, a, len);
    if (len == 0 || mon < 0 || run(&c, is_sp) == 0)
        Py_RETURN_NONE;
    a = c.i; /* ([0-9]{2,4})\s+: four digits only */
    len = run(&c, is_digit);
    if (len != 4 || run(&c, is_sp) == 0)
        Py_RETURN_NONE;
    long year = digits(&c, a, 4);
    a = c.i; /* ([0-9]+)[:.] */
    len = run(&c, is_digit);
    if (len == 0 || len > 2 || (peek(&c) != ':' && peek(&c) != '.'))
        Py_RETURN_NONE;
    long hour = digits(&c, a, len);
    c.i++;
    a = c.i; /* ([0-9]{2}): two digits only */
    if (run(&c, is_digit) != 2)
        Py_RETURN_NONE;
    long min = digits(&c, a, 2);
    long sec = 0;
    if (peek(&c) == ':' || peek(&c) == '.') { /* (?:[:.]([0-9]{2}))? */
        c.i++;
        a = c.i;
        if (run(&c, is_digit) != 2)
            Py_RETURN_NONE;
        sec = digits(&c, a, 2);
    }
    if (run(&c, is_sp) == 0) /* \s+([+-])?([0-9]{4})(?:\s|$) */
        Py_RETURN_NONE;
    Py_UCS4 sign = '+';
    if (peek(&c) == '+' || peek(&c) == '-')
        sign = PyUnicode_READ(c.kind, c.data, c.i++);
    a = c.i;
    if (run(&c, is_digit) != 4 || (c.i < c.n && !is_sp(peek(&c))))
        Py_RETURN_NONE;
    long tz_hh = digits(&c, a, 2), tz_mm = digits(&c, a + 2, 2);
    /* Time::Local's range checks (timegm) */
    static const int MDAYS[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    long md = MDAYS[mon] + (mon == 1 && leap);
    if (year < 1000 || mday < 1 || mday > md || hour > 23 || min > 59 || sec > 59)
        Py_RETURN_NONE;
    long long ts = days_from_civil(year, mon + 1, mday) * 86400 + hour * 3600 + min * 60 + sec;
    if (ts < 0)
        Py_RETURN_NONE;
    tz_hh += tz_mm / 60;
    tz_mm %= 60;
    long long off = tz_mm * 60 + tz_hh * 3600;
    ts += sign == '+' ? -off : off;
    if (off == 0)
        sign = '+';
    long num = tz_hh * 100 + tz_mm; /* the zone as a number: +1400 and beyond are bogus */
    if (num >= 1400)
        return Py_BuildValue("(Ls)", ts, "+0000");
    char zone[8];
    snprintf(zone, sizeof zone, "%c%02ld%02ld", (char)sign, tz_hh, tz_mm);
    return Py_BuildValue("(Ls)", ts, zone);
}
