"""The figures of one inbox, counted with SQL over its overview.

Dates are the messages' ``Date:`` (the overview's ``ds``, as message pages
show them), but a list's life is the span of its *received* times (``ts``,
from ``Received:``; those in 1980..now+1 day): a date more than a week
outside it (a sender's clock in 1970 or 2099) is counted in the first or
last month of the span instead, and the figures say how many were.
Everything is relative to the newest message, so one overview generation
gives one result (:func:`compute`); the period figures (posters, reviewers)
take ``since`` (:func:`period`).

- months: every month of the span (none left out, zeros included):
  messages, new threads (messages with neither References nor
  In-Reply-To), patches (``[PATCH...]``/``[RFC...]`` subjects, not
  replies) and replies (the rest);
- weeks: the 104 weeks (Monday to Sunday) up to the newest message;
- first reply, per quarter: patches that start a thread (no References),
  the time from their receipt to the first message in their thread from
  someone else that is no patch itself (median and 90th percentile over
  those answered), and the share of those at least 30 days old with no
  such reply within 30 days.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from pathlib import Path
from typing import Any

from pubinbox.errors import BadRequest
from pubinbox.over.schema import connect
from pubinbox.stats.people import is_patch, poster
from pubinbox.stats.trailers import top_people

__all__ = ["DAY", "SLACK", "WEEKS", "compute", "parse_since", "period", "sparkline_weeks"]

DAY = 86400
WEEK = 7 * DAY
WEEKS = 104
SLACK = WEEK  # how far outside the received span a Date: may be before it is clamped
PLAUSIBLE = 315532800  # 1980-01-01
TOP = 20


#: the patch rule in SQL: the Python function only for subjects with a '[' that are no "Re:"
_PATCH_SQL = "(CASE WHEN instr(subject, '[') = 0 OR lower(substr(ltrim(subject), 1, 3)) = 're:' THEN 0 ELSE is_patch(subject) END)"


def _connect(path: Path) -> sqlite3.Connection:
    db = connect(str(path), write=False)
    db.create_function("is_patch", 1, lambda s: 1 if is_patch(s) else 0, deterministic=True)
    db.create_function("addr", 1, lambda s: poster(s)[2], deterministic=True)
    return db


def _bounds(db: sqlite3.Connection, now: int) -> tuple[int, int] | None:
    """(lo, hi): the span of plausible received times; None without mail."""
    # one aggregate a query: each is one step down the ts index
    lo, hi = (
        db.execute(f"SELECT {f}(ts) FROM over WHERE num > 0 AND ts BETWEEN ? AND ?", (PLAUSIBLE, now + DAY)).fetchone()[
            0
        ]
        for f in ("MIN", "MAX")
    )
    if lo is None:  # no plausible received time: the dates themselves
        lo, hi = db.execute("SELECT MIN(ds), MAX(ds) FROM over WHERE num > 0").fetchone()
    if lo is None:
        return None
    return int(lo), int(hi)


def _eff(lo: int, hi: int) -> str:
    """SQL for a message's date clamped to the span."""
    return f"(CASE WHEN ds < {lo - SLACK} THEN {lo} WHEN ds > {hi + SLACK} THEN {hi} ELSE ds END)"


def _day(t: int) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d")


def _monday(t: int) -> int:
    days = t // DAY
    return (days - (days + 3) % 7) * DAY  # 1970-01-01 was a Thursday


def _months_between(first: str, last: str) -> list[str]:
    y, m = int(first[:4]), int(first[5:7])
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _weeks(db: sqlite3.Connection, lo: int, hi: int, n: int) -> list[dict[str, Any]]:
    eff = _eff(lo, hi)
    end = _monday(hi)
    start = end - (n - 1) * WEEK
    got = {
        int(w): (int(c), int(t or 0))
        for w, c, t in db.execute(
            f"SELECT ({eff} / 86400 - ({eff} / 86400 + 3) % 7) * 86400 AS w, COUNT(*),"
            " SUM(refs IS NULL OR refs = '') FROM over"
            f" WHERE num > 0 AND (ds >= ? OR ds < ?) AND {eff} >= ? GROUP BY w",  # the ds index finds them
            (start, lo - SLACK, start),
        )
    }
    return [
        {"week": _day(w), "messages": got.get(w, (0, 0))[0], "threads": got.get(w, (0, 0))[1]}
        for w in range(start, end + 1, WEEK)
    ]


def sparkline_weeks(path: Path, n: int = 52, now: int | None = None) -> list[dict[str, Any]]:
    """The last *n* weeks of :func:`compute`'s ``weeks`` alone (cheap: the
    ``/`` listing shows it for every inbox)."""
    db = _connect(path)
    try:
        b = _bounds(db, int(time.time()) if now is None else now)
        return [] if b is None else _weeks(db, b[0], b[1], n)
    finally:
        db.close()


def _quantile(xs: list[int], q: float) -> float:
    """Nearest-rank quantile of sorted *xs* (hours, one decimal)."""
    k = max(0, min(len(xs) - 1, -(-int(q * len(xs) * 1000) // 1000) - 1))
    return round(xs[k] / 3600, 1)


def _first_reply_sql() -> str:
    """The rest of a ``SELECT p.num, p.ds, p.ts, ...``: a patch's first reply
    (receipt time of the first message in its thread from someone else that
    is no patch itself, or NULL) ``FROM over p`` and the patches that start
    a thread."""
    rp = _PATCH_SQL.replace("subject", "r.subject")
    pp = _PATCH_SQL.replace("subject", "p.subject")
    return (
        "(SELECT MIN(r.ts) FROM over r WHERE r.tid = p.tid AND r.num > 0"
        f" AND r.ts >= p.ts AND r.num != p.num AND NOT {rp} AND addr(r.from_) != addr(p.from_))"
        f" FROM over p WHERE p.num > 0 AND (p.refs IS NULL OR p.refs = '') AND {pp}"
    )


def _first_reply(items: list[tuple[int, int, int | None]], hi: int) -> list[dict[str, Any]]:
    """Per quarter of the (clamped date, receipt, first reply) of each patch."""
    quarters: dict[str, list[tuple[int, int | None]]] = {}
    names: dict[int, list[tuple[int, int | None]]] = {}  # by day
    for d, ts, first in items:
        got = names.get(d // DAY)
        if got is None:
            t = dt.datetime.fromtimestamp(d, dt.UTC)
            got = names[d // DAY] = quarters.setdefault(f"{t.year:04d}Q{(t.month - 1) // 3 + 1}", [])
        got.append((ts, None if first is None else first - ts))
    out = []
    for q in sorted(quarters):
        got = quarters[q]
        waits = sorted(w for _ts, w in got if w is not None)
        old = [w for ts, w in got if ts <= hi - 30 * DAY]
        late = [w for w in old if w is None or w > 30 * DAY]
        out.append(
            {
                "quarter": q,
                "patches": len(got),
                "replied": len(waits),
                "median_hours": _quantile(waits, 0.5) if waits else None,
                "p90_hours": _quantile(waits, 0.9) if waits else None,
                "old_enough": len(old),
                "no_reply_30d": len(late),
                "no_reply_30d_share": round(len(late) / len(old), 3) if old else None,
            }
        )
    return out


def compute(path: Path, now: int | None = None) -> dict[str, Any]:
    """Everything but the period figures, for the overview at *path*."""
    db = _connect(path)
    try:
        return _compute(db, int(time.time()) if now is None else now)
    finally:
        db.close()


EMPTY: dict[str, Any] = {"messages": 0, "span": None, "months": [], "weeks": [], "first_reply": []}


def _compute(db: sqlite3.Connection, now: int) -> dict[str, Any]:
    b = _bounds(db, now)
    if b is None:
        return dict(EMPTY)
    lo, hi = b
    eff = _eff(lo, hi)
    # one pass over the rows, grouped by day; the patch rule runs only on
    # subjects that may be one
    before = after = 0
    days: dict[int, list[int]] = {}
    for day, c, t, p, b4, af in db.execute(
        f"SELECT {eff} / 86400 AS day, COUNT(*), SUM(refs IS NULL OR refs = ''), SUM({_PATCH_SQL}),"
        " SUM(ds < ?), SUM(ds > ?) FROM over WHERE num > 0 GROUP BY day",
        (lo - SLACK, hi + SLACK),
    ):
        days[int(day)] = [int(c), int(t or 0), int(p or 0)]
        before += int(b4 or 0)
        after += int(af or 0)
    # the newest clamped date, through the ds index
    top = db.execute("SELECT MAX(ds) FROM over WHERE num > 0 AND ds <= ?", (hi + SLACK,)).fetchone()[0]
    items = [
        (int(d), int(ts), None if first is None else int(first))
        for d, ts, first in db.execute(f"SELECT {eff.replace('ds', 'p.ds')}, p.ts, {_first_reply_sql()}")
    ]
    return _finish(days, lo, hi, before, after, top, items, _weeks(db, lo, hi, WEEKS))


def _finish(
    days: dict[int, list[int]],
    lo: int,
    hi: int,
    before: int,
    after: int,
    top: int | None,
    patches: list[tuple[int, int, int | None]],
    weeks: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The figures from (messages, new threads, patches) per clamped day,
    the counts of dates outside the span, the newest date not after it and
    the (clamped date, receipt, first reply) of each patch; *weeks* are
    made from the days unless given."""
    got: dict[str, list[int]] = {}
    total = 0
    for day, (c, t, p) in days.items():
        row = got.setdefault(_day(day * DAY)[:7], [0, 0, 0])
        row[0] += c
        row[1] += t
        row[2] += p
        total += c
    zero = [0, 0, 0]
    months = [
        {
            "month": m,
            "messages": got.get(m, zero)[0],
            "threads": got.get(m, zero)[1],
            "patches": got.get(m, zero)[2],
            "replies": got.get(m, zero)[0] - got.get(m, zero)[2],
        }
        for m in (_months_between(min(got), max(got)) if got else [])
    ]
    if weeks is None:
        end = _monday(hi)
        start = end - (WEEKS - 1) * WEEK
        per: dict[int, tuple[int, int]] = {}
        for day, (c, t, _p) in days.items():
            w = _monday(day * DAY)
            if w >= start:
                old = per.get(w, (0, 0))
                per[w] = (old[0] + c, old[1] + t)
        weeks = [
            {"week": _day(w), "messages": per.get(w, (0, 0))[0], "threads": per.get(w, (0, 0))[1]}
            for w in range(start, end + 1, WEEK)
        ]
    newest = max(lo if top is None or int(top) < lo - SLACK else int(top), hi if after else lo)
    return {
        "messages": total,
        "span": {
            "first": _day(lo),
            "last": _day(hi),
            "first_ts": lo,
            "last_ts": hi,
            "newest": _day(newest),
            "newest_ts": newest,
            "outside": before + after,
            "before": before,
            "after": after,
        },
        "months": months,
        "weeks": weeks,
        "first_reply": _first_reply(patches, hi),
    }


def parse_since(value: str | None, base: dict[str, Any]) -> int:
    """``?since=YYYY-MM-DD`` as a time (default: a year before the newest
    message); anything else is a :class:`BadRequest`."""
    if value is None or value == "":
        newest = base["span"]["newest_ts"] if base.get("span") else int(time.time())
        return int(newest) - 365 * DAY
    if (
        len(value) != 10
        or not value.isascii()
        or value[4] != "-"
        or value[7] != "-"
        or not (value[:4] + value[5:7] + value[8:]).isdigit()
    ):
        raise BadRequest(f"since={value[:40]!r} is not a date (YYYY-MM-DD)")
    try:
        d = dt.datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError as e:
        raise BadRequest(f"since={value!r} is not a date (YYYY-MM-DD)") from e
    return int(d.timestamp())


def period(path: Path, base: dict[str, Any], since: int) -> dict[str, Any]:
    """The top posters from *since* to the newest message (by Date:,
    clamped to the span)."""
    if not base.get("span"):
        return {"since": _day(max(since, 0)), "posters": []}
    lo, hi = int(base["span"]["first_ts"]), int(base["span"]["last_ts"])
    db = _connect(path)
    try:
        # by the clamped date, as the months count them; the ds index finds
        # the period and the dates outside the span
        rows = db.execute(
            f"SELECT from_, COUNT(*) FROM over WHERE num > 0 AND (ds >= ? OR ds < ?) AND {_eff(lo, hi)} >= ?"
            " GROUP BY from_",
            (since, lo - SLACK, since),
        ).fetchall()
    finally:
        db.close()
    merged = [(key, name, addr, int(n)) for f, n in rows for name, addr, key in [poster(f)]]
    return {
        "since": _day(max(since, 0)),
        "until": base["span"]["newest"],
        "posters": top_people(merged, "messages", TOP),
    }
