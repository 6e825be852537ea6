"""The aggregates the figures are made from, kept in ``pubinbox/stats.sqlite3``
and brought up to date incrementally (issue 17).

Three small tables, keyed by the messages' raw ``Date:`` (``ds``):

- ``agg_day``: messages, new threads and patches per day;
- ``agg_poster``: messages per (month, ``From:``);
- ``agg_patch``: each patch that starts a thread, with its receipt and its
  first reply (as :mod:`~pubinbox.stats.compute` defines it).

With them the overview's number they cover (``agg_last``), how many
messages that is (``agg_count``), the overview file's identity (dev:inode:
``index --reindex`` and repairs make a new file) and the size and time of
``audit.log`` (``purge``/``edit`` write it).  A new overview generation
aggregates only the messages numbered above ``agg_last``, and the patches
of the threads they joined (a reply may be the first one; a thread merged
by a new message gets its number); a changed identity or audit log, fewer
or more messages at or below ``agg_last`` than counted (a purge, spam
removal, a message filed under an old number) or a lower newest number
start from nothing.

The clamping of dates outside the list's span depends on the span, which
grows with new mail: the tables are used only for whole days (and months)
inside it, and the messages dated elsewhere (those outside the span, and
the few of the days at its edges) are read from the overview by its ``ds``
index at the time.  The result equals :func:`~pubinbox.stats.compute.compute`
(the test compares them).
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import time
from typing import Any

from pubinbox.stats.compute import (
    _PATCH_SQL,
    DAY,
    EMPTY,
    SLACK,
    TOP,
    _bounds,
    _connect,
    _eff,
    _finish,
    _first_reply_sql,
    period,
)
from pubinbox.stats.people import poster
from pubinbox.stats.trailers import stats_db, top_people
from pubinbox.store.dbfile import file_identity, use_wal
from pubinbox.store.layout import Layout

__all__ = ["current_weeks", "figures", "posters", "state"]

SCHEMA = "1"
DDL = """
CREATE TABLE IF NOT EXISTS agg_day (
    day INTEGER PRIMARY KEY, messages INTEGER NOT NULL, threads INTEGER NOT NULL, patches INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS agg_poster (
    month INTEGER NOT NULL, from_ TEXT NOT NULL, messages INTEGER NOT NULL, PRIMARY KEY (month, from_)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agg_patch (num INTEGER PRIMARY KEY, ds INTEGER, ts INTEGER, first INTEGER);
"""
#: dates the tables keep (the rest is always read from the overview)
KEPT_END = 253402300800  # year 10000
KEPT = f"ds >= 0 AND ds < {KEPT_END}"
_NEVER = -(2**62)


def _audit(layout: Layout) -> str:
    try:
        st = os.stat(layout.own_dir / "audit.log")
    except FileNotFoundError:
        return "-"
    return f"{st.st_size}:{st.st_mtime_ns}"


def _month_start(m: int) -> int:
    return int(dt.datetime(m // 12, m % 12 + 1, 1, tzinfo=dt.UTC).timestamp())


def _month_of(t: int) -> int:
    d = dt.datetime.fromtimestamp(t, dt.UTC)
    return d.year * 12 + d.month - 1


def _open(layout: Layout) -> sqlite3.Connection:
    db = sqlite3.connect(str(stats_db(layout)), isolation_level=None, timeout=30, check_same_thread=False)
    use_wal(db)
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, val TEXT)")
    got = db.execute("SELECT val FROM meta WHERE key = 'agg_schema'").fetchone()
    if got is None or got[0] != SCHEMA:
        db.executescript(
            "DROP TABLE IF EXISTS agg_day; DROP TABLE IF EXISTS agg_poster; DROP TABLE IF EXISTS agg_patch;"
            " DELETE FROM meta WHERE key LIKE 'agg%';"
        )
        db.execute("INSERT INTO meta VALUES ('agg_schema', ?)", (SCHEMA,))
    db.executescript(DDL)
    return db


def state(layout: Layout) -> dict[str, str]:
    """The ``agg_*`` keys of the meta table (for tests and the benchmark)."""
    db = sqlite3.connect(f"file:{stats_db(layout)}?mode=ro", uri=True, timeout=2)
    try:
        return dict(db.execute("SELECT key, val FROM meta WHERE key LIKE 'agg%'").fetchall())
    finally:
        db.close()


def _update(st: sqlite3.Connection, ov: sqlite3.Connection, layout: Layout) -> int:
    """Aggregate what the tables lack (*st* in a write transaction, *ov* in
    a read one); returns how many messages were aggregated."""
    meta = dict(st.execute("SELECT key, val FROM meta WHERE key LIKE 'agg%'").fetchall())
    ident, audit = file_identity(layout.over_db), _audit(layout)
    top = int(ov.execute("SELECT MAX(num) FROM over").fetchone()[0] or 0)
    last, count = int(meta.get("agg_last") or 0), int(meta.get("agg_count") or 0)
    fresh = meta.get("agg_over") != ident or meta.get("agg_audit") != audit or last > top
    if not fresh and last > 0:
        have = ov.execute("SELECT COUNT(*) FROM over INDEXED BY over_ds WHERE num BETWEEN 1 AND ?", (last,)).fetchone()
        fresh = int(have[0]) != count
    if fresh:
        st.execute("DELETE FROM agg_day")
        st.execute("DELETE FROM agg_poster")
        st.execute("DELETE FROM agg_patch")
        last = count = 0
    new = 0
    if top > last:
        rng = (last, top)
        # one pass over the new rows, by day and sender
        days: dict[int, list[int]] = {}
        months: dict[int, int] = {}
        per: dict[tuple[int, str], int] = {}
        for day, f, c, t, pt in ov.execute(
            f"SELECT ds / 86400 AS day, COALESCE(from_, '') AS f, COUNT(*), TOTAL(refs IS NULL OR refs = ''),"
            f" TOTAL({_PATCH_SQL}) FROM over WHERE num > ? AND num <= ? AND {KEPT} GROUP BY day, f",
            rng,
        ):
            row = days.setdefault(day, [0, 0, 0])
            row[0] += c
            row[1] += int(t)
            row[2] += int(pt)
            m = months.get(day)
            if m is None:
                m = months[day] = _month_of(day * DAY)
            per[m, f] = per.get((m, f), 0) + c
        st.executemany(
            "INSERT INTO agg_day VALUES (?,?,?,?) ON CONFLICT (day) DO UPDATE SET messages = messages +"
            " excluded.messages, threads = threads + excluded.threads, patches = patches + excluded.patches",
            [(d, *v) for d, v in days.items()],
        )
        st.executemany(
            "INSERT INTO agg_poster VALUES (?,?,?) ON CONFLICT (month, from_) DO UPDATE SET"
            " messages = messages + excluded.messages",
            [(m, f, n) for (m, f), n in per.items()],
        )
        # the patches of every thread a new message is in: new patches, and
        # old ones that may have got their first reply (or a merged thread)
        where = "" if last == 0 else " AND p.tid IN (SELECT tid FROM over WHERE num > ? AND num <= ?)"
        st.executemany(
            "INSERT OR REPLACE INTO agg_patch VALUES (?,?,?,?)",
            ov.execute(f"SELECT p.num, p.ds, p.ts, {_first_reply_sql()}{where}", () if last == 0 else rng).fetchall(),
        )
        new = int(ov.execute("SELECT COUNT(*) FROM over WHERE num > ? AND num <= ?", rng).fetchone()[0])
    for k, v in (("agg_over", ident), ("agg_audit", audit), ("agg_last", str(top)), ("agg_count", str(count + new))):
        st.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (k, v))
    return new


def _outside(cols: str, lo: int, since: int, start: int, end: int) -> str:
    """SQL (a derived table of *cols*) of the messages that may count from
    *since* on but whose dates the tables do not cover: those dated before
    *start* (from *since*, or outside the span) or from *end* on; each part
    found through the ``ds`` index."""
    base = f"SELECT {cols} FROM over WHERE +num > 0 AND"  # + : by the ds index, not the numbers
    p = max(since, lo - SLACK)
    return (
        f"({base} ds >= {p} AND ds < {max(p, start)} UNION ALL {base} ds < {lo - SLACK}"
        f" UNION ALL {base} ds >= {max(p, end)})"
    )


def _day_span(lo: int, hi: int) -> tuple[int, int]:
    """[start, end): the whole days inside the span (whose dates are not clamped)."""
    start = max(0, -(-(lo - SLACK) // DAY) * DAY)
    end = (hi + SLACK + 1) // DAY * DAY
    return start, max(start, end)


def _days(st: sqlite3.Connection, ov: sqlite3.Connection, lo: int, hi: int) -> tuple[dict[int, list[int]], int, int]:
    """(messages, new threads, patches) per clamped day, and the counts of
    dates before and after the span."""
    start, end = _day_span(lo, hi)
    days: dict[int, list[int]] = {}
    for day, c, t, p in st.execute(
        "SELECT day, messages, threads, patches FROM agg_day WHERE day >= ? AND day < ?", (start // DAY, end // DAY)
    ):
        days[int(day)] = [int(c), int(t), int(p)]
    eff = _eff(lo, hi)
    before = after = 0
    for day, c, t, p, b4, af in ov.execute(
        f"SELECT {eff} / 86400 AS day, COUNT(*), SUM(refs IS NULL OR refs = ''), SUM({_PATCH_SQL}),"
        f" SUM(ds < {lo - SLACK}), SUM(ds > {hi + SLACK})"
        f" FROM {_outside('ds, refs, subject', lo, _NEVER, start, end)} GROUP BY day"
    ):
        row = days.setdefault(int(day), [0, 0, 0])
        row[0] += int(c)
        row[1] += int(t or 0)
        row[2] += int(p or 0)
        before += int(b4 or 0)
        after += int(af or 0)
    return days, before, after


def _figures(st: sqlite3.Connection, ov: sqlite3.Connection, now: int, patches: bool = True) -> dict[str, Any]:
    b = _bounds(ov, now)
    if b is None:
        return dict(EMPTY)
    lo, hi = b
    days, before, after = _days(st, ov, lo, hi)
    top = ov.execute("SELECT MAX(ds) FROM over WHERE num > 0 AND ds <= ?", (hi + SLACK,)).fetchone()[0]
    items = st.execute(f"SELECT {_eff(lo, hi)}, ts, first FROM agg_patch").fetchall() if patches else []
    return _finish(days, lo, hi, before, after, top, items)


def current_weeks(layout: Layout, n: int = 52, now: int | None = None) -> list[dict[str, Any]] | None:
    """The last *n* weeks (as :func:`~pubinbox.stats.compute.sparkline_weeks`)
    from the tables when they are up to date with the overview (the ``/``
    listing's sparkline); None when they are not (or missing)."""
    path = stats_db(layout)
    if not path.exists():
        return None
    st = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
    ov = _connect(layout.over_db)
    try:
        st.execute("BEGIN")
        ov.execute("BEGIN")
        meta = dict(st.execute("SELECT key, val FROM meta WHERE key LIKE 'agg%'").fetchall())
        top = int(ov.execute("SELECT MAX(num) FROM over").fetchone()[0] or 0)
        if (
            meta.get("agg_schema") != SCHEMA
            or meta.get("agg_over") != file_identity(layout.over_db)
            or meta.get("agg_audit") != _audit(layout)
            or meta.get("agg_last") != str(top)
        ):
            return None
        weeks: list[dict[str, Any]] = _figures(st, ov, int(time.time()) if now is None else now, patches=False)["weeks"]
        return weeks[-n:]
    finally:
        ov.close()
        st.close()


def figures(layout: Layout, now: int | None = None) -> dict[str, Any]:
    """:func:`~pubinbox.stats.compute.compute`'s figures, from the tables
    (brought up to date first).  Raises :class:`sqlite3.Error` or
    :class:`OSError` when ``stats.sqlite3`` cannot be written."""
    now = int(time.time()) if now is None else now
    st = _open(layout)
    ov = _connect(layout.over_db)
    try:
        st.execute("BEGIN IMMEDIATE")  # first: a snapshot of the overview no older than the tables
        try:
            ov.execute("BEGIN")
            _update(st, ov, layout)
            got = _figures(st, ov, now)
            st.execute("COMMIT")
        except BaseException:
            st.execute("ROLLBACK")
            raise
        return got
    finally:
        ov.close()
        st.close()


def posters(layout: Layout, base: dict[str, Any], since: int) -> dict[str, Any]:
    """:func:`~pubinbox.stats.compute.period`'s top posters, as of the
    tables' last update: the ``agg_poster`` months from the first that
    starts in the period (all their messages count, those dated after the
    span too, at its end), and from the overview the rest of the period's
    first month and the dates the tables do not keep or that are clamped to
    the span's start."""
    if not base.get("span"):
        return {"since": dt.datetime.fromtimestamp(max(since, 0), dt.UTC).strftime("%Y-%m-%d"), "posters": []}
    lo, hi = int(base["span"]["first_ts"]), int(base["span"]["last_ts"])
    if since > hi:  # after the newest received: the late-dated ones alone (by the ds index)
        return period(layout.over_db, base, since)
    p = max(since, lo - SLACK)
    first = _month_of(max(p, 0))
    if _month_start(first) < max(p, 0):
        first += 1
    m0 = _month_start(first)
    st = sqlite3.connect(f"file:{stats_db(layout)}?mode=ro", uri=True, isolation_level=None, timeout=2)
    ov = _connect(layout.over_db)
    try:
        st.execute("BEGIN")
        ov.execute("BEGIN")
        got = st.execute("SELECT val FROM meta WHERE key = 'agg_last'").fetchone()
        if got is None:  # never aggregated (or reset since)
            return period(layout.over_db, base, since)
        upto = int(got[0])
        q = "SELECT from_, SUM(messages) FROM agg_poster WHERE month >= ? GROUP BY from_"
        rows = st.execute(q, (first,)).fetchall()
        sel = "SELECT ds, from_, num FROM over WHERE +num > 0 AND"  # + : by the ds index, not the numbers
        rows += ov.execute(
            f"SELECT from_, COUNT(*) FROM ({sel} ds >= {p} AND ds < {m0} UNION ALL {sel} ds < {lo - SLACK}"
            f" UNION ALL {sel} ds >= {KEPT_END}) WHERE {_eff(lo, hi)} >= ? AND num <= ? GROUP BY from_",
            (since, upto),
        ).fetchall()
    finally:
        ov.close()
        st.close()
    merged = [(key, name, addr, int(n)) for f, n in rows for name, addr, key in [poster(f)]]
    return {
        "since": dt.datetime.fromtimestamp(max(since, 0), dt.UTC).strftime("%Y-%m-%d"),
        "until": base["span"]["newest"],
        "posters": top_people(merged, "messages", TOP),
    }
