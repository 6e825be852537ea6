"""Read side of the overview: the queries the web and protocol layers use.

By Message-ID, by article number or range (NNTP OVER, IMAP UID FETCH), by
thread (with loose subject matches, as public-inbox's thread views do) and
newest-first listings by received time with a cursor (topic index, Atom).
Readers never lock; SQLite in WAL mode lets them run while a writer works.
One :class:`OverReader` per thread.  A database that cannot be read (a
truncated or garbled file) raises :class:`IndexDamaged`; ``pubinbox index``
rebuilds it from git.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from pubinbox.errors import IndexDamaged, IndexingError
from pubinbox.mail.msgid import refs_from_field
from pubinbox.over.schema import connect

_COLS = "num, tid, sid, ts, ds, mid, subject, from_, to_, cc, refs, blob, bytes, lines, epoch"
#: the columns :meth:`OverRow.from_db` takes, in its order (for a caller
#: that looks at raw rows before making some of them OverRows)
ROW_COLUMNS = _COLS
#: what :meth:`OverReader.summaries` gives, in this order
SUMMARY_COLUMNS = "num, ts, ds, mid, subject, from_, refs, bytes, lines"
#: what :meth:`OverReader.heads` gives, in this order
HEAD_COLUMNS = "num, tid, ds, mid, subject, from_"


class Head(NamedTuple):
    """What a line of a list of search results shows of a message."""

    num: int
    tid: int
    ds: int
    mid: str
    subject: str
    from_: str


# (count, lowest, highest number) of real messages without reading the
# table: "COUNT(*) ... WHERE num > 0" walks every row of the table (350 ms at
# a million messages: the rows hold To/Cc), COUNT(*) of the whole table
# walks its smallest index (5 ms), and the ghosts (num <= 0) are a rowid range
STATS_SQL = (
    "SELECT (SELECT COUNT(*) FROM over) - (SELECT COUNT(*) FROM over WHERE num <= 0),"
    " (SELECT MIN(num) FROM over WHERE num > 0), (SELECT MAX(num) FROM over)"
)
#: the newest received time of a real message: from the top of the ts index
#: (MAX(ts) beside another aggregate under "WHERE num > 0" scans the table)
NEWEST_SQL = "SELECT ts FROM over WHERE num > 0 ORDER BY ts DESC LIMIT 1"


@dataclass(frozen=True, slots=True)
class OverRow:
    """One message as the overview knows it."""

    num: int
    tid: int
    sid: int | None
    ts: int
    ds: int
    mid: str
    subject: str
    from_: str
    to: str
    cc: str
    references: tuple[str, ...]
    blob: str
    bytes: int
    lines: int
    epoch: int

    @classmethod
    def from_db(cls, r: tuple[Any, ...]) -> OverRow:
        # SQLite hands back ints and strs already (the schema's column types);
        # positional construction: this runs for every row of every page.
        # refs: the ids exactly as ingest extracted them (refs_from_field),
        # never split on blanks
        return cls(
            r[0],
            r[1],
            r[2],
            r[3] or 0,
            r[4] or 0,
            r[5] or "",
            r[6] or "",
            r[7] or "",
            r[8] or "",
            r[9] or "",
            refs_from_field(r[10]) if r[10] else (),
            r[11] or "",
            r[12] or 0,
            r[13] or 0,
            r[14] or 0,
        )


class OverReader:
    """Read-only queries over ``over.sqlite3``."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            raise IndexingError(f"{path} does not exist: run `pubinbox index` first")
        try:
            self.db = connect(str(path), write=False)
        except sqlite3.Error as e:
            raise IndexDamaged(f"{path}: {e}; `pubinbox index` repairs it") from e
        self.path = path

    def close(self) -> None:
        self.db.close()

    def query(self, sql: str, args: tuple[object, ...] = ()) -> list[Any]:
        """Every row of *sql*; a database error becomes :class:`IndexDamaged`
        (or :class:`IndexingError` when it is only busy)."""
        try:
            return self.db.execute(sql, args).fetchall()
        except sqlite3.OperationalError as e:
            if "locked" in str(e) or "busy" in str(e):
                raise IndexingError(f"{self.path}: {e}") from e
            raise IndexDamaged(f"{self.path}: {e}; `pubinbox index` repairs it") from e
        except sqlite3.DatabaseError as e:
            raise IndexDamaged(f"{self.path}: {e}; `pubinbox index` repairs it") from e

    def _rows(self, sql: str, args: tuple[object, ...] = ()) -> list[OverRow]:
        from_db = OverRow.from_db
        return [from_db(r) for r in self.query(sql, args)]

    # -- single messages -------------------------------------------------------
    def by_num(self, num: int) -> OverRow | None:
        rows = self._rows(f"SELECT {_COLS} FROM over WHERE num = ? AND num > 0", (num,))
        return rows[0] if rows else None

    def locate(self, num: int) -> tuple[str, int] | None:
        """(blob, epoch) of message *num*: all a protocol server needs to
        send it (half the time of :meth:`by_num`)."""
        rows = self.query("SELECT blob, epoch FROM over WHERE num = ? AND num > 0", (num,))
        return (rows[0][0], rows[0][1] or 0) if rows else None

    def by_nums(self, nums: list[int] | tuple[int, ...]) -> list[OverRow]:
        """Rows for these numbers, in the order given (missing ones skipped);
        one query per 500 numbers."""
        found = self._in_nums(_COLS, nums)
        from_db = OverRow.from_db
        return [from_db(found[n]) for n in nums if n in found]

    def _in_nums(self, cols: str, nums: list[int] | tuple[int, ...]) -> dict[int, tuple[Any, ...]]:
        """{num: row of *cols* (``num`` first)} for these numbers; one query
        per 500 numbers."""
        found: dict[int, tuple[Any, ...]] = {}
        for i in range(0, len(nums), 500):
            chunk = nums[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for r in self.query(f"SELECT {cols} FROM over WHERE num IN ({marks}) AND num > 0", tuple(chunk)):
                found[r[0]] = r
        return found

    def summaries(self, nums: list[int] | tuple[int, ...]) -> list[tuple[Any, ...]]:
        """The :data:`SUMMARY_COLUMNS` of these numbers as SQLite gives them
        (``refs`` the stored text), in the order given, missing ones skipped:
        a page of search hits for the API, without the To/Cc text (most of a
        list message's overview bytes) and without an :class:`OverRow` each."""
        found = self._in_nums(SUMMARY_COLUMNS, nums)
        return [found[n] for n in nums if n in found]

    def heads(self, nums: list[int] | tuple[int, ...]) -> list[Head]:
        """The :class:`Head` of these numbers, in the order given (missing
        ones skipped): a page of search results, without the To/Cc and
        References text that a whole row carries (profiled: a third of a
        worker's time on the search page went to reading whole rows)."""
        found = self._in_nums(HEAD_COLUMNS, nums)
        return [
            Head(n, r[1], r[2] or 0, r[3] or "", r[4] or "", r[5] or "")
            for n in nums
            if (r := found.get(n)) is not None
        ]

    def by_mid(self, mid: str) -> list[OverRow]:
        """Every message carrying *mid* (several when a Message-ID was reused),
        the one whose primary Message-ID it is first, then by number."""
        return self._rows(
            f"SELECT {', '.join('over.' + c.strip() for c in _COLS.split(','))} FROM msgid"
            " JOIN id2num ON id2num.id = msgid.id JOIN over ON over.num = id2num.num"
            " WHERE msgid.mid = ? AND over.num > 0 ORDER BY over.mid != msgid.mid, over.num",
            (mid,),
        )

    def primary_by_mid(self, mid: str) -> OverRow | None:
        """The message numbered under *mid* (msgmap's Message-ID for its
        number), or None: what public-inbox's ``smsg_by_mid`` finds when a
        thread fills in a ghost.  A message that only carries *mid* as
        another of its ids (a second Message-ID, an X-Alt-Message-ID, the
        original id of one stored under a generated id) is not it."""
        rows = self.by_mid(mid)
        return rows[0] if rows and rows[0].mid == mid else None

    def mids_like(self, prefix: str, limit: int = 20) -> list[str]:
        """Message-IDs starting with *prefix* (for not-found suggestions)."""
        hi = prefix + "\U0010ffff"
        return [
            str(m)
            for (m,) in self.query("SELECT mid FROM msgid WHERE mid >= ? AND mid < ? LIMIT ?", (prefix, hi, limit))
        ]

    # -- ranges (NNTP / IMAP) --------------------------------------------------
    def by_range(self, lo: int, hi: int, limit: int = 1000, *, subject_like: str | None = None) -> list[OverRow]:
        """Messages with lo <= num <= hi, ascending, at most *limit*; with
        *subject_like*, only those whose subject is SQL ``LIKE`` it."""
        if subject_like is not None:
            return self._rows(
                f"SELECT {_COLS} FROM over WHERE num >= ? AND num <= ? AND num > 0 AND subject LIKE ?"
                " ORDER BY num LIMIT ?",
                (max(lo, 1), hi, subject_like, limit),
            )
        return self._rows(
            f"SELECT {_COLS} FROM over WHERE num >= ? AND num <= ? AND num > 0 ORDER BY num LIMIT ?",
            (max(lo, 1), hi, limit),
        )

    def max_num(self) -> int:
        """The highest number of a real message (0 when there is none)."""
        return int(self.query("SELECT MAX(num) FROM over WHERE num > 0")[0][0] or 0)

    def iter_all(self, batch: int = 1000) -> Iterator[OverRow]:
        """Every message, oldest number first, in batches (for all.mbox.gz)."""
        last = 0
        while True:
            rows = self.by_range(last + 1, 2**62, batch)
            if not rows:
                return
            yield from rows
            last = rows[-1].num

    def nums(self, lo: int = 1, hi: int = 2**62) -> list[int]:
        return [
            int(n)
            for (n,) in self.query(
                "SELECT num FROM over WHERE num >= ? AND num <= ? AND num > 0 ORDER BY num",
                (max(lo, 1), hi),
            )
        ]

    def stats(self) -> tuple[int, int, int]:
        """(count, lowest num, highest num) of real messages."""
        c, lo, hi = self.query(STATS_SQL)[0]
        return int(c), int(lo or 0), max(int(hi or 0), 0)

    # -- threads ---------------------------------------------------------------
    def thread(self, tid: int, *, sid: int | None = None, limit: int = 1000) -> list[OverRow]:
        """Messages of thread *tid* by Date, then (if *sid* is given and
        there is room) loose matches, newest first: other threads with the
        same normalised subject (public-inbox's get_thread order)."""
        strict = self._rows(
            f"SELECT {_COLS} FROM over WHERE tid = ? AND num > 0 ORDER BY ds, num LIMIT ?", (tid, limit)
        )
        if sid is None or len(strict) >= limit:
            return strict
        loose = self._rows(
            f"SELECT {_COLS} FROM over WHERE sid = ? AND tid != ? AND num > 0 ORDER BY ds DESC, num DESC LIMIT ?",
            (sid, tid, limit - len(strict)),
        )
        return strict + loose

    def thread_of(self, mid: str, *, loose: bool = True, limit: int = 1000) -> list[OverRow]:
        rows = self.by_mid(mid)
        if not rows:
            return []
        return self.thread(rows[0].tid, sid=rows[0].sid if loose else None, limit=limit)

    def thread_size(self, tid: int) -> int:
        return int(self.query("SELECT COUNT(*) FROM over WHERE tid = ? AND num > 0", (tid,))[0][0])

    # -- listings ----------------------------------------------------------------
    def recent(self, limit: int = 25, *, before: int | None = None, after: int | None = None) -> list[OverRow]:
        """Newest first by received time.  *before*/*after* are ``ts`` cursors
        (exclusive): ``before`` pages to older messages, ``after`` to newer
        ones (still returned newest first)."""
        if after is not None:
            rows = self._rows(
                f"SELECT {_COLS} FROM over WHERE ts > ? AND num > 0 ORDER BY ts ASC, num ASC LIMIT ?",
                (after, limit),
            )
            return rows[::-1]
        if before is not None:
            return self._rows(
                f"SELECT {_COLS} FROM over WHERE ts < ? AND num > 0 ORDER BY ts DESC, num DESC LIMIT ?",
                (before, limit),
            )
        return self._rows(f"SELECT {_COLS} FROM over WHERE num > 0 ORDER BY ts DESC, num DESC LIMIT ?", (limit,))

    def generation(self) -> tuple[str, int]:
        """(what the overview holds, newest received time): the first names
        the git tips it indexed and its highest number, so two copies of
        the same data -- another worker, a mirror -- give the same value."""
        tips = self.query("SELECT key, val FROM meta WHERE key LIKE 'last_commit-%' ORDER BY key")
        hi = self.max_num()
        newest = (self.query(NEWEST_SQL) or [(0,)])[0][0]
        basis = ";".join(f"{k}={v}" for k, v in tips) + f"|{hi or 0}"
        return hashlib.sha1(basis.encode()).hexdigest(), int(newest or 0)

    def meta(self, key: str) -> str | None:
        rows = self.query("SELECT val FROM meta WHERE key = ?", (key,))
        return None if not rows else str(rows[0][0])
