"""``msgmap.sqlite3``: Message-ID <-> article number, shared with public-inbox.

Same schema and rules as public-inbox: ``num`` is AUTOINCREMENT so numbers
are never reused, ``meta.num_highwater`` records the largest number ever
handed out and ``meta.created_at`` is the IMAP UIDVALIDITY.  Writers change it
only while holding ``inbox.lock``; the connection stays in a transaction
until :meth:`commit` so a crash leaves nothing half-written.

The numbers in it are the archive's public identity (NNTP article numbers,
IMAP UIDs, shared with public-inbox), so a damaged or lost msgmap is never
simply recreated: :func:`rebuild` salvages every row that can be read and
fills in from the overview, and the damaged file is kept.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from pubinbox.errors import IndexingError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS msgmap (
\tnum INTEGER PRIMARY KEY AUTOINCREMENT,
\tmid VARCHAR(1000) NOT NULL,
\tUNIQUE (mid)
);
CREATE TABLE IF NOT EXISTS meta (
\tkey VARCHAR(32) PRIMARY KEY,
\tval VARCHAR(255) NOT NULL
);
"""


class Msgmap:
    """Read-write access to msgmap.sqlite3."""

    def __init__(self, path: Path, *, create: bool = False) -> None:
        self.path = path
        if not create and not path.exists():
            raise IndexingError(f"{path} does not exist")
        try:
            self.db = sqlite3.connect(path, isolation_level=None, timeout=60)
            jm = self.db.execute("PRAGMA journal_mode").fetchone()[0]
            if jm != "wal":
                self.db.execute("PRAGMA journal_mode = TRUNCATE")
            self.db.executescript(_SCHEMA)
            self.db.execute("BEGIN IMMEDIATE")
            if self.meta_get("created_at") is None:
                self.meta_set("created_at", str(int(time.time())))
            hw = self.db.execute("SELECT MAX(num) FROM msgmap").fetchone()[0]
            self._highwater(hw)
            self.db.execute("COMMIT")
        except sqlite3.Error as e:
            raise IndexingError(f"{path}: {e}") from e
        self._in_txn = False
        self._hw: int | None = None  # num_highwater not yet written back

    # -- transactions ------------------------------------------------------
    def begin(self) -> None:
        if not self._in_txn:
            self.db.execute("BEGIN IMMEDIATE")
            self._in_txn = True

    def commit(self) -> None:
        if self._in_txn:
            if self._hw is not None:
                self._highwater(self._hw)
                self._hw = None
            self.db.execute("COMMIT")
            self._in_txn = False

    def rollback(self) -> None:
        self._hw = None
        if self._in_txn:
            self.db.execute("ROLLBACK")
            self._in_txn = False

    def close(self) -> None:
        self.rollback()
        self.db.close()

    # -- meta --------------------------------------------------------------
    def meta_get(self, key: str) -> str | None:
        row = self.db.execute("SELECT val FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def meta_set(self, key: str, val: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, val) VALUES (?, ?)", (key, val))

    def _highwater(self, num: int | None) -> None:
        if num is None:
            if self.meta_get("num_highwater") is None:
                self.meta_set("num_highwater", "0")
            return
        cur = self.meta_get("num_highwater")
        if cur is None or int(cur) < num:
            self.meta_set("num_highwater", str(num))

    @property
    def created_at(self) -> int:
        return int(self.meta_get("created_at") or 0)

    @property
    def num_highwater(self) -> int:
        return int(self.meta_get("num_highwater") or 0)

    # -- mapping -----------------------------------------------------------
    def mid_insert(self, mid: str) -> int | None:
        """Give *mid* the next article number; None if it already has one."""
        self.begin()
        # a plain INSERT: "OR IGNORE" would burn an AUTOINCREMENT number on conflict
        try:
            cur = self.db.execute("INSERT INTO msgmap (mid) VALUES (?)", (mid,))
        except sqlite3.IntegrityError:
            return None
        num = cur.lastrowid
        assert num is not None
        self._hw = num if self._hw is None else max(self._hw, num)
        return num

    def mid_set(self, num: int, mid: str) -> bool:
        """Record a known (num, mid) pair, e.g. when reindexing."""
        self.begin()
        try:
            self.db.execute("INSERT INTO msgmap (num, mid) VALUES (?, ?)", (num, mid))
        except sqlite3.IntegrityError:
            return False
        self._hw = num if self._hw is None else max(self._hw, num)
        return True

    def num_for(self, mid: str) -> int | None:
        row = self.db.execute("SELECT num FROM msgmap WHERE mid = ?", (mid,)).fetchone()
        return None if row is None else int(row[0])

    def mid_for(self, num: int) -> str | None:
        row = self.db.execute("SELECT mid FROM msgmap WHERE num = ?", (num,)).fetchone()
        return None if row is None else str(row[0])

    def delete_num(self, num: int) -> None:
        self.begin()
        self.db.execute("DELETE FROM msgmap WHERE num = ?", (num,))

    def delete_above(self, num: int) -> int:
        """Drop rows numbered above *num* (orphans of a crashed writer)."""
        self.begin()
        return self.db.execute("DELETE FROM msgmap WHERE num > ?", (num,)).rowcount

    def max_num(self) -> int:
        row = self.db.execute("SELECT MAX(num) FROM msgmap").fetchone()
        return int(row[0] or 0)

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM msgmap").fetchone()[0])


def rebuild(
    path: Path,
    *,
    salvage_from: Path | None,
    pairs: Iterable[tuple[int, str]] = (),
    meta: dict[str, str] | None = None,
) -> tuple[Path, int]:
    """Write a new msgmap at ``PATH.rebuild`` from what can still be read:
    the (num, Message-ID) *pairs* of a healthy overview (numbered from this
    msgmap, and checked), then every other readable row of the damaged
    *salvage_from*; its meta entries, else *meta* (``created_at``,
    ``num_highwater``: the overview's copy).  Numbers are never handed out
    again: the highwater mark and AUTOINCREMENT sequence are at least the
    largest number known.  Returns the new file (closed) and how many rows
    it holds; the caller renames it in place."""
    from pubinbox.store import dbfile

    new = path.with_name(path.name + ".rebuild")
    dbfile.remove(new)
    pairs = list(pairs)
    hint = dict(meta or {})
    hint_top = max([_int(hint.get("num_highwater"))] + [n for n, _m in pairs])
    got_meta: dict[str, str] = {}
    rows: list[tuple[int, str]] = []
    if salvage_from is not None:
        got_meta, rows = _salvage(salvage_from, hint_top)
        # numbers read from a damaged page must at least be numbers
        got_meta = {k: v for k, v in got_meta.items() if k not in ("created_at", "num_highwater") or v.isdigit()}
    known = {**hint, **got_meta}
    try:
        db = sqlite3.connect(new, isolation_level=None)
        db.execute("PRAGMA journal_mode = TRUNCATE")
        db.executescript(_SCHEMA)
        db.execute("BEGIN")
        db.executemany("INSERT OR IGNORE INTO msgmap (num, mid) VALUES (?, ?)", pairs)
        db.executemany("INSERT OR IGNORE INTO msgmap (num, mid) VALUES (?, ?)", rows)
        for key, val in known.items():
            db.execute("INSERT OR REPLACE INTO meta (key, val) VALUES (?, ?)", (key, val))
        top = int(db.execute("SELECT MAX(num) FROM msgmap").fetchone()[0] or 0)
        hw = max(top, _int(got_meta.get("num_highwater")), _int(hint.get("num_highwater")))
        db.execute("INSERT OR REPLACE INTO meta (key, val) VALUES ('num_highwater', ?)", (str(hw),))
        if "created_at" not in known:
            db.execute("INSERT INTO meta (key, val) VALUES ('created_at', ?)", (str(int(time.time())),))
        db.execute("DELETE FROM sqlite_sequence WHERE name = 'msgmap'")
        db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('msgmap', ?)", (hw,))
        count = int(db.execute("SELECT COUNT(*) FROM msgmap").fetchone()[0])
        db.execute("COMMIT")
        db.close()
    except sqlite3.Error as e:
        raise IndexingError(f"{new}: {e}") from e
    return new, count


def _int(v: str | None) -> int:
    try:
        return int(v or 0)
    except ValueError:
        return 0


#: queries a salvage may spend on the ranges around damaged pages
SALVAGE_QUERIES = 20000


def _salvage(path: Path, hint_top: int) -> tuple[dict[str, str], list[tuple[int, str]]]:
    """Whatever rows of a damaged msgmap can be read, range by range: a
    damaged page costs the rows on it, not the rest.  Ranges that fail are
    halved (lowest first) within a budget of queries."""
    meta: dict[str, str] = {}
    rows: list[tuple[int, str]] = []
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        # without it SQLite refuses a file shorter than its header says
        # (a truncated copy) outright; the connection is read-only anyway
        db.execute("PRAGMA writable_schema = ON")
    except sqlite3.Error:
        return meta, rows
    try:
        try:
            meta = {str(k): str(v) for k, v in db.execute("SELECT key, val FROM meta")}
        except sqlite3.Error:
            meta = {}
        try:
            top = int(db.execute("SELECT MAX(num) FROM msgmap").fetchone()[0] or 0)
        except sqlite3.Error:
            top = 0  # the last pages are damaged: rely on what else knows the highest number
        top = max(top, hint_top, _int(meta.get("num_highwater")))
        todo = [(1, top)] if top else []
        budget = SALVAGE_QUERIES
        while todo and budget > 0:
            budget -= 1
            lo, hi = todo.pop()
            try:
                got = db.execute("SELECT num, mid FROM msgmap WHERE num BETWEEN ? AND ?", (lo, hi)).fetchall()
            except sqlite3.Error:
                if hi - lo >= 8:
                    half = (lo + hi) // 2
                    todo += [(half + 1, hi), (lo, half)]  # the lower half first
                continue
            # a zeroed page can yield rows of NULLs: only sound pairs are kept
            rows += [(n, m) for n, m in got if isinstance(n, int) and n > 0 and isinstance(m, str) and m]
    finally:
        db.close()
    return meta, rows
