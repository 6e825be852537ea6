"""``msgmap.sqlite3``: Message-ID <-> article number, shared with public-inbox.

Same schema and rules as public-inbox: ``num`` is AUTOINCREMENT so numbers
are never reused, ``meta.num_highwater`` records the largest number ever
handed out and ``meta.created_at`` is the IMAP UIDVALIDITY.  Writers change it
only while holding ``inbox.lock``; the connection stays in a transaction
until :meth:`commit` so a crash leaves nothing half-written.
"""

from __future__ import annotations

import sqlite3
import time
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
