"""Writing the overview: one row per message, threading by References.

Threading follows public-inbox's rules so thread membership matches: the
first reference decides the thread (a *ghost* row with a negative number
stands in for a parent not seen yet), every other reference's thread is
merged into it, and when a message arrives for a ghost the ghost is deleted
and the message takes over its thread ("vivify").  Messages sharing a
Message-ID share a thread.
"""

from __future__ import annotations

import bisect
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from pubinbox.errors import IndexDamaged, IndexingError
from pubinbox.mail.msgid import refs_to_field
from pubinbox.over.schema import connect

#: Message-IDs whose msgid row id is remembered (~200 bytes each)
_ID_CACHE_MAX = 250_000


@dataclass(frozen=True, slots=True)
class NewRow:
    """Everything the overview stores about one message."""

    num: int
    mids: tuple[str, ...]  # every Message-ID the message carries; mids[0] is primary
    references: tuple[str, ...]
    subject: str
    subject_path: str  # normalised subject for loose matching ('' if none)
    from_: str
    to: str
    cc: str
    ts: int
    ds: int
    blob: str
    bytes: int
    lines: int
    epoch: int


class _Threads:
    """Which rows carry each Message-ID and the thread of each row: what
    :meth:`OverWriter._rows_for_mid` asks SQLite for every reference of
    every message, kept by the writer itself while it knows every row
    (a new overview: each change to ``over`` and ``id2num`` is made here
    too).  Bounded with the Message-ID cache: dropped when that is cut."""

    __slots__ = ("ids", "members", "nums", "tid")

    def __init__(self) -> None:
        self.nums: dict[int, list[int]] = {}  # msgid id -> row nums, ascending
        self.ids: dict[int, list[int]] = {}  # row num -> msgid ids
        self.tid: dict[int, int] = {}  # row num -> thread id
        self.members: dict[int, set[int]] = {}  # thread id -> row nums

    def rows(self, mid_id: int) -> list[tuple[int, int]]:
        nums = self.nums.get(mid_id)
        if not nums:
            return []
        tid = self.tid
        return [(n, tid[n]) for n in nums]

    def add(self, num: int, tid: int) -> None:
        self.tid[num] = tid
        self.members.setdefault(tid, set()).add(num)

    def link(self, mid_id: int, num: int) -> None:
        nums = self.nums.setdefault(mid_id, [])
        at = bisect.bisect_left(nums, num)
        if at == len(nums) or nums[at] != num:  # INSERT OR IGNORE
            nums.insert(at, num)
            self.ids.setdefault(num, []).append(mid_id)

    def merge(self, winner: int, loser: int) -> None:
        moved = self.members.pop(loser, None)
        if not moved:
            return
        for num in moved:
            self.tid[num] = winner
        self.members.setdefault(winner, set()).update(moved)

    def drop(self, num: int) -> None:
        tid = self.tid.pop(num, None)
        if tid is None:
            return
        members = self.members[tid]
        members.discard(num)
        if not members:
            del self.members[tid]
        for mid_id in self.ids.pop(num, ()):
            nums = self.nums[mid_id]
            nums.remove(num)
            if not nums:
                del self.nums[mid_id]


class OverWriter:
    """The single writer of an overview database (caller holds inbox.lock)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = connect(str(path), write=True)
        except sqlite3.Error as e:
            # SQLITE_CORRUPT, SQLITE_NOTADB: the file, not the moment
            if (getattr(e, "sqlite_errorcode", 0) & 0xFF) in (11, 26):
                raise IndexDamaged(f"{path}: {e}; `pubinbox index` rebuilds it") from e
            raise IndexingError(f"{path}: {e}") from e
        self.path = path
        self._in_txn = False
        self._id_cache: dict[str, int] = {}
        self._counters: dict[str, int] = {}  # written back at commit
        self._sid_cache: dict[str, int] = {}
        # True while _id_cache holds every row of msgid (it started empty
        # and has not been cut since): a Message-ID missing from it is in
        # no row, and the lookups are skipped (a first index, --reindex)
        self._all_ids = self.db.execute("SELECT 1 FROM msgid LIMIT 1").fetchone() is None
        # the rows and threads of every Message-ID, while _all_ids holds
        self._threads: _Threads | None = _Threads() if self._all_ids else None
        # the same for subjects: _sid_cache holds every row of subject
        self._all_sids = self.db.execute("SELECT 1 FROM subject LIMIT 1").fetchone() is None

    # -- transactions ------------------------------------------------------
    def begin(self) -> None:
        if not self._in_txn:
            self.db.execute("BEGIN IMMEDIATE")
            self._in_txn = True

    def commit(self) -> None:
        if self._in_txn:
            for key, val in self._counters.items():
                self.db.execute("INSERT OR REPLACE INTO counter (key, val) VALUES (?, ?)", (key, val))
            self.db.execute("COMMIT")
            self._in_txn = False

    def rollback(self) -> None:
        if self._in_txn:
            self.db.execute("ROLLBACK")
            self._in_txn = False
        self._id_cache.clear()
        self._all_ids = False
        self._threads = None
        self._sid_cache.clear()
        self._all_sids = False
        self._counters.clear()

    def close(self) -> None:
        self.rollback()
        self.db.close()

    # -- meta and counters ---------------------------------------------------
    def meta_get(self, key: str) -> str | None:
        row = self.db.execute("SELECT val FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def meta_set(self, key: str, val: str) -> None:
        self.begin()
        self.db.execute("INSERT OR REPLACE INTO meta (key, val) VALUES (?, ?)", (key, val))

    def meta_del(self, key: str) -> None:
        self.begin()
        self.db.execute("DELETE FROM meta WHERE key = ?", (key,))

    def meta_prefix(self, prefix: str) -> dict[str, str]:
        """Every meta entry whose key starts with *prefix*, the prefix cut off."""
        rows = self.db.execute("SELECT key, val FROM meta WHERE substr(key, 1, ?) = ?", (len(prefix), prefix))
        return {str(k)[len(prefix) :]: str(v) for k, v in rows}

    def _counter(self, key: str, step: int) -> int:
        val = self._counters.get(key)
        if val is None:
            row = self.db.execute("SELECT val FROM counter WHERE key = ?", (key,)).fetchone()
            val = int(row[0]) if row else 0
        val += step
        self._counters[key] = val
        return val

    def _next_tid(self) -> int:
        return self._counter("thread", 1)

    def _next_ghost(self) -> int:
        return self._counter("ghost", -1)

    # -- ids -----------------------------------------------------------------
    def _mid_id(self, mid: str) -> int:
        cached = self._id_cache.get(mid)
        if cached is not None:
            return cached
        row = None if self._all_ids else self.db.execute("SELECT id FROM msgid WHERE mid = ?", (mid,)).fetchone()
        if row is None:
            cur = self.db.execute("INSERT INTO msgid (mid) VALUES (?)", (mid,))
            assert cur.lastrowid is not None
            mid_id = int(cur.lastrowid)
        else:
            mid_id = int(row[0])
        if len(self._id_cache) >= _ID_CACHE_MAX:
            self._id_cache.clear()
            self._all_ids = False
            self._threads = None
        self._id_cache[mid] = mid_id
        return mid_id

    def _sid(self, path: str) -> int | None:
        if not path:
            return None
        sid = self._sid_cache.get(path)
        if sid is not None:
            return sid
        row = None if self._all_sids else self.db.execute("SELECT sid FROM subject WHERE path = ?", (path,)).fetchone()
        if row is not None:
            sid = int(row[0])
        else:
            cur = self.db.execute("INSERT INTO subject (path) VALUES (?)", (path,))
            assert cur.lastrowid is not None
            sid = int(cur.lastrowid)
        if len(self._sid_cache) > 100_000:
            self._sid_cache.clear()
            self._all_sids = False
        self._sid_cache[path] = sid
        return sid

    def _rows_for_mid(self, mid: str) -> list[tuple[int, int]]:
        """(num, tid) of every row (ghosts included) carrying *mid*, by num."""
        if self._all_ids:
            mid_id = self._id_cache.get(mid)
            if mid_id is None:
                return []
            if self._threads is not None:
                return self._threads.rows(mid_id)
        return [
            (int(n), int(t))
            for n, t in self.db.execute(
                "SELECT over.num, over.tid FROM msgid JOIN id2num ON id2num.id = msgid.id"
                " JOIN over ON over.num = id2num.num WHERE msgid.mid = ? ORDER BY over.num",
                (mid,),
            )
        ]

    # -- threading -------------------------------------------------------------
    def _merge(self, winner: int, loser: int) -> None:
        if winner != loser:
            self.db.execute("UPDATE over SET tid = ? WHERE tid = ?", (winner, loser))
            if self._threads is not None:
                self._threads.merge(winner, loser)

    def _resolve(self, mid: str) -> int:
        """Thread id of *mid*, creating a ghost when it is unknown."""
        tid: int | None = None
        for _num, cur in self._rows_for_mid(mid):
            if tid is None:
                tid = cur
            else:
                self._merge(tid, cur)
        if tid is not None:
            return tid
        num = self._next_ghost()
        tid = self._next_tid()
        self.db.execute("INSERT INTO over (num, tid) VALUES (?, ?)", (num, tid))
        mid_id = self._mid_id(mid)
        self.db.execute("INSERT INTO id2num (id, num) VALUES (?, ?)", (mid_id, num))
        if self._threads is not None:
            self._threads.add(num, tid)
            self._threads.link(mid_id, num)
        return tid

    def _link_refs(self, refs: tuple[str, ...], old_tid: int | None) -> int:
        if not refs:
            return old_tid if old_tid is not None else self._next_tid()
        tid = self._resolve(refs[0])
        if old_tid is not None:
            self._merge(tid, old_tid)
        for ref in refs[1:]:
            self._merge(tid, self._resolve(ref))
        return tid

    # -- rows ------------------------------------------------------------------
    def add(self, row: NewRow, *, fresh: bool = False) -> int:
        """Insert (or replace) a message row; returns its thread id.
        *fresh*: the number was just handed out, so no row can exist yet."""
        self.begin()
        old_tid = None if fresh else self._delete(row.num)
        vivified = False
        for mid in row.mids:
            for num, cur_tid in self._rows_for_mid(mid):
                if num > 0:  # another message with this Message-ID: same thread
                    if old_tid is None:
                        old_tid = cur_tid
                    self._merge(old_tid, cur_tid)
                elif num < 0:  # a ghost waiting for us
                    if old_tid is None:
                        old_tid = cur_tid
                    old_tid = self._link_refs(row.references, old_tid)
                    self._delete(num)
                    vivified = True
        tid = old_tid if vivified and old_tid is not None else self._link_refs(row.references, old_tid)
        self.db.execute(
            "INSERT INTO over (num, tid, sid, ts, ds, mid, subject, from_, to_, cc, refs,"
            " blob, bytes, lines, epoch) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                row.num,
                tid,
                self._sid(row.subject_path),
                row.ts,
                row.ds,
                row.mids[0] if row.mids else "",
                row.subject,
                row.from_,
                row.to,
                row.cc,
                refs_to_field(row.references),
                row.blob,
                row.bytes,
                row.lines,
                row.epoch,
            ),
        )
        if self._threads is not None:
            self._threads.add(row.num, tid)
        for mid in row.mids:
            mid_id = self._mid_id(mid)
            self.db.execute("INSERT OR IGNORE INTO id2num (id, num) VALUES (?, ?)", (mid_id, row.num))
            if self._threads is not None:
                self._threads.link(mid_id, row.num)
        return tid

    def _delete(self, num: int) -> int | None:
        r = self.db.execute("SELECT tid FROM over WHERE num = ?", (num,)).fetchone()
        if r is None:
            return None
        self.db.execute("DELETE FROM over WHERE num = ?", (num,))
        self.db.execute("DELETE FROM id2num WHERE num = ?", (num,))
        if self._threads is not None:
            self._threads.drop(num)
        return int(r[0])

    def remove(self, num: int) -> None:
        """Drop a message (a ``d`` commit, spam removal)."""
        self.begin()
        self._delete(num)

    def nums_for_blob(self, blob: str) -> list[int]:
        return [int(n) for (n,) in self.db.execute("SELECT num FROM over WHERE blob = ?", (blob,))]

    def blobs_for_mid(self, mid: str) -> list[tuple[int, str]]:
        """(num, blob) of real messages carrying *mid*."""
        return [(n, b) for n, b in self._real_rows_for_mid(mid)]

    def _real_rows_for_mid(self, mid: str) -> list[tuple[int, str]]:
        row = self.db.execute("SELECT id FROM msgid WHERE mid = ?", (mid,)).fetchone()
        if row is None:
            return []
        return [
            (int(n), str(b))
            for n, b in self.db.execute(
                "SELECT over.num, over.blob FROM id2num JOIN over ON over.num = id2num.num"
                " WHERE id2num.id = ? AND over.num > 0 ORDER BY over.num",
                (row[0],),
            )
        ]

    def has_num(self, num: int) -> bool:
        return self.db.execute("SELECT 1 FROM over WHERE num = ?", (num,)).fetchone() is not None

    def max_num(self) -> int:
        return int(self.db.execute("SELECT MAX(num) FROM over").fetchone()[0] or 0)

    def clear(self) -> None:
        """Empty everything (for --reindex), keeping the schema."""
        self.begin()
        for table in ("over", "counter", "subject", "msgid", "id2num"):
            self.db.execute(f"DELETE FROM {table}")
        self.db.execute("DELETE FROM meta WHERE key != 'schema_version'")
        self._id_cache.clear()
        self._all_ids = True
        self._threads = _Threads()
        self._sid_cache.clear()
        self._all_sids = True
        self._counters.clear()
