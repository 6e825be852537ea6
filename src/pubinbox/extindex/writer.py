"""Building and updating the cross-inbox index (see :mod:`pubinbox.extindex`).

:func:`sync` brings it up to date with some inboxes (``pubinbox extindex``);
:func:`keep_current` is what every ingest path calls after committing a
batch to one inbox: it syncs that inbox only, and a failure is a warning
(the index is derived; the next run catches up), never lost mail.

Per inbox the index remembers the highest article number taken and the git
tips its overview had.  An update adds the rows above that number; the
whole inbox is compared copy by copy (article number and blob) only when
the counts disagree (a removal, a purge), when the tips moved without new
rows (an edit) or when the overview file was replaced (``index
--reindex``, a repair).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pubinbox.config import InboxConfig
from pubinbox.errors import CorruptObject, IndexingError, PubinboxError
from pubinbox.extindex import EPOCH_SPAN
from pubinbox.mail.hashing import content_hash
from pubinbox.mail.msgid import refs_from_field
from pubinbox.over.writer import NewRow, OverWriter
from pubinbox.store.dbfile import file_identity
from pubinbox.store.git import GitReader
from pubinbox.store.layout import Layout
from pubinbox.store.lock import InboxLock

__all__ = ["SyncStats", "ext_layout", "keep_current", "sync"]

log = logging.getLogger(__name__)

EXT_DDL = """
CREATE TABLE IF NOT EXISTS inboxes (
    ibx INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    inboxdir TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS xref (
    ibx INTEGER NOT NULL,
    xnum INTEGER NOT NULL,
    num INTEGER NOT NULL,
    blob TEXT NOT NULL,
    PRIMARY KEY (ibx, xnum)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS xref_num ON xref (num);
"""

#: rows read from an inbox's overview (and committed here) at a time
BATCH = 5000

_SRC_COLS = (
    "over.num, over.mid, over.refs, over.subject, over.from_, over.to_, over.cc, over.ts, over.ds,"
    " over.blob, over.bytes, over.lines, over.epoch, subject.path"
)


def ext_layout(topdir: Path) -> Layout:
    """The index's files are where an inbox keeps its own (``TOPDIR/pubinbox/``),
    so readers open it like an inbox's overview; public-inbox's ``ei15/``
    beside it is never touched."""
    return Layout(topdir)


@dataclass(slots=True)
class SyncStats:
    """What one update did."""

    inboxes: int = 0
    added: int = 0  # new rows (messages)
    copies: int = 0  # copies recorded (a cross-post counts once per inbox)
    removed: int = 0  # copies gone from their inbox
    rechecked: list[str] = field(default_factory=list)  # inboxes compared in full


@dataclass(frozen=True, slots=True)
class _Copy:
    num: int
    mid: str
    refs: str
    subject: str
    from_: str
    to: str
    cc: str
    ts: int
    ds: int
    blob: str
    bytes: int
    lines: int
    epoch: int
    subject_path: str

    @classmethod
    def from_db(cls, r: tuple[Any, ...]) -> _Copy:
        return cls(
            int(r[0]), r[1] or "", r[2] or "", r[3] or "", r[4] or "", r[5] or "", r[6] or "",
            int(r[7] or 0), int(r[8] or 0), r[9] or "", int(r[10] or 0), int(r[11] or 0), int(r[12] or 0),
            r[13] or "",
        )  # fmt: skip


class _Source:
    """One inbox's overview, read-only, and its git."""

    def __init__(self, ibx: InboxConfig) -> None:
        self.ibx = ibx
        self.layout = Layout(ibx.inboxdir)
        path = self.layout.over_db
        if not path.exists():
            raise IndexingError(f"{path} does not exist: run `pubinbox index {ibx.inboxdir}` first")
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=60)
        self.identity = file_identity(path)
        self.git = GitReader(self.layout)

    def close(self) -> None:
        self.db.close()

    def tips(self) -> str:
        rows = self.db.execute("SELECT key, val FROM meta WHERE key LIKE 'last_commit-%' ORDER BY key").fetchall()
        return ";".join(f"{k}={v}" for k, v in rows)

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM over WHERE num > 0").fetchone()[0])

    def pairs(self) -> dict[int, str]:
        return {int(n): str(b) for n, b in self.db.execute("SELECT num, blob FROM over WHERE num > 0")}

    def copies(self, lo: int, hi: int) -> list[tuple[_Copy, tuple[str, ...]]]:
        """Rows lo < num <= hi with every Message-ID each carries (primary first)."""
        rows = [
            _Copy.from_db(r)
            for r in self.db.execute(
                f"SELECT {_SRC_COLS} FROM over LEFT JOIN subject ON subject.sid = over.sid"
                " WHERE over.num > ? AND over.num <= ? ORDER BY over.num",
                (max(lo, 0), hi),
            )
        ]
        ids: dict[int, list[str]] = {}
        for n, m in self.db.execute(
            "SELECT id2num.num, msgid.mid FROM id2num JOIN msgid ON msgid.id = id2num.id"
            " WHERE id2num.num > ? AND id2num.num <= ? ORDER BY id2num.rowid",
            (max(lo, 0), hi),
        ):
            ids.setdefault(int(n), []).append(str(m))
        out = []
        for c in rows:
            mids = [c.mid] if c.mid else []
            mids += [m for m in ids.get(c.num, ()) if m != c.mid]
            out.append((c, tuple(mids)))
        return out

    def by_nums(self, nums: list[int]) -> Iterator[tuple[_Copy, tuple[str, ...]]]:
        for n in nums:
            yield from self.copies(n - 1, n)

    def max_num(self) -> int:
        return int(self.db.execute("SELECT MAX(num) FROM over WHERE num > 0").fetchone()[0] or 0)


class ExtWriter:
    """The single writer of the cross-inbox index (holds ``ei.lock``)."""

    def __init__(self, topdir: Path, *, lock_timeout: float = 300.0) -> None:
        self.topdir = topdir
        self.layout = ext_layout(topdir)
        try:
            topdir.mkdir(parents=True, exist_ok=True)
            self.layout.own_dir.mkdir(exist_ok=True)
        except OSError as e:
            raise IndexingError(f"cannot create {self.layout.own_dir}: {e}") from e
        self.lock = InboxLock(self.layout.own_dir / "ei.lock", timeout=lock_timeout)
        self.lock.acquire()
        try:
            self.over = OverWriter(self.layout.over_db)
            self.db = self.over.db
            self.db.executescript(EXT_DDL)
        except BaseException:
            self.lock.release()
            raise
        self._gits: dict[int, GitReader] = {}
        self._hashes: dict[int, bytes | None] = {}  # row num -> content hash (this run)
        self.stats = SyncStats()

    def close(self) -> None:
        try:
            self.over.close()
        finally:
            self.lock.release(touched=True)

    def __enter__(self) -> ExtWriter:
        return self

    def __exit__(self, t: object, e: BaseException | None, tb: object) -> None:
        if e is not None:
            self.over.rollback()
        self.close()

    # -- bookkeeping -----------------------------------------------------------------
    def _ibx_id(self, ibx: InboxConfig) -> int:
        d = str(ibx.inboxdir.resolve())
        row = self.db.execute("SELECT ibx, inboxdir FROM inboxes WHERE name = ?", (ibx.name,)).fetchone()
        if row is None:
            self.over.begin()
            cur = self.db.execute("INSERT INTO inboxes (name, inboxdir) VALUES (?, ?)", (ibx.name, d))
            assert cur.lastrowid is not None
            return int(cur.lastrowid)
        if row[1] != d:  # moved: the copies are another inbox's now
            self.over.begin()
            self.db.execute("UPDATE inboxes SET inboxdir = ? WHERE ibx = ?", (d, row[0]))
        return int(row[0])

    def _git(self, ibx_id: int) -> GitReader:
        git = self._gits.get(ibx_id)
        if git is None:
            row = self.db.execute("SELECT inboxdir FROM inboxes WHERE ibx = ?", (ibx_id,)).fetchone()
            if row is None:
                raise CorruptObject(f"inbox #{ibx_id} is not in the cross-inbox index")
            git = self._gits[ibx_id] = GitReader(Layout(Path(row[0])))
        return git

    def _next_num(self) -> int:
        got = self.over.meta_get("ext_next_num")
        n = int(got) if got else max(self.over.max_num(), 0) + 1
        self.over.meta_set("ext_next_num", str(n + 1))
        return n

    # -- one inbox ---------------------------------------------------------------------
    def sync_inbox(self, ibx: InboxConfig) -> None:
        src = _Source(ibx)
        try:
            self._sync(src)
        finally:
            src.close()
        self.stats.inboxes += 1

    def _sync(self, src: _Source) -> None:
        ibx_id = self._ibx_id(src.ibx)
        key = f"x{ibx_id}"
        last = int(self.over.meta_get(f"ext_last-{key}") or 0)
        old_tips = self.over.meta_get(f"last_commit-{key}")
        old_identity = self.over.meta_get(f"ext_file-{key}")
        tips = src.tips()
        hi = src.max_num()
        full = old_identity is not None and old_identity != src.identity
        added = 0
        if not full:
            lo = last
            while lo < hi:
                top = min(lo + BATCH, hi)
                for c, mids in src.copies(lo, top):
                    self._add_copy(ibx_id, src, c, mids)
                    added += 1
                self.over.meta_set(f"ext_last-{key}", str(top))
                self.over.commit()
                lo = top
        have = int(self.db.execute("SELECT COUNT(*) FROM xref WHERE ibx = ?", (ibx_id,)).fetchone()[0])
        if full or have != src.count() or (not added and old_tips is not None and old_tips != tips):
            self._recheck(ibx_id, src)
            self.stats.rechecked.append(src.ibx.name)
        self.over.meta_set(f"ext_last-{key}", str(hi))
        self.over.meta_set(f"last_commit-{key}", tips)  # the generation (ETags) follows the inboxes
        self.over.meta_set(f"ext_file-{key}", src.identity)
        self.over.commit()

    def _add_copy(self, ibx_id: int, src: _Source, c: _Copy, mids: tuple[str, ...]) -> None:
        self.over.begin()
        num = self._same_message(ibx_id, src, c)
        if num is None:
            num = self._next_num()
            self.over.add(self._row(num, ibx_id, c, mids), fresh=True)
            self.stats.added += 1
        self.db.execute(
            "INSERT OR REPLACE INTO xref (ibx, xnum, num, blob) VALUES (?, ?, ?, ?)", (ibx_id, c.num, num, c.blob)
        )
        self.stats.copies += 1

    @staticmethod
    def _row(num: int, ibx_id: int, c: _Copy, mids: tuple[str, ...]) -> NewRow:
        return NewRow(
            num=num, mids=mids, references=refs_from_field(c.refs) if c.refs else (), subject=c.subject,
            subject_path=c.subject_path, from_=c.from_, to=c.to, cc=c.cc, ts=c.ts, ds=c.ds, blob=c.blob,
            bytes=c.bytes, lines=c.lines, epoch=ibx_id * EPOCH_SPAN + c.epoch,
        )  # fmt: skip

    def _same_message(self, ibx_id: int, src: _Source, c: _Copy) -> int | None:
        """The row this copy is another copy of: the same blob, or the same
        Message-ID and content hash; None for a new message."""
        got = self.db.execute("SELECT num FROM over WHERE blob = ? AND num > 0 LIMIT 1", (c.blob,)).fetchone()
        if got is not None:
            return int(got[0])
        if not c.mid:
            return None
        cands = self.db.execute(
            "SELECT over.num, over.blob, over.epoch FROM msgid JOIN id2num ON id2num.id = msgid.id"
            " JOIN over ON over.num = id2num.num WHERE msgid.mid = ? AND over.mid = ? AND over.num > 0"
            " ORDER BY over.num",
            (c.mid, c.mid),
        ).fetchall()
        if not cands:
            return None
        mine = _hash(lambda: src.git.blob(c.blob, c.epoch))
        if mine is None:
            return None
        for num, blob, code in cands:
            theirs = self._hashes.get(num)
            if num not in self._hashes:
                ibx, epoch = divmod(int(code), EPOCH_SPAN)
                theirs = self._hashes[num] = _hash(
                    lambda ibx=ibx, blob=blob, epoch=epoch: self._git(ibx).blob(blob, epoch)
                )
            if theirs == mine:
                return int(num)
        return None

    def _recheck(self, ibx_id: int, src: _Source) -> None:
        """Compare every copy of one inbox with its overview: copies gone or
        changed are dropped (rows left without a copy go, rows whose blob
        went are redone from a remaining copy), missing ones added."""
        self.over.begin()
        have = {int(n): str(b) for n, b in self.db.execute("SELECT xnum, blob FROM xref WHERE ibx = ?", (ibx_id,))}
        cur = src.pairs()
        touched: set[int] = set()
        for xnum, blob in have.items():
            if cur.get(xnum) != blob:
                row = self.db.execute("SELECT num FROM xref WHERE ibx = ? AND xnum = ?", (ibx_id, xnum)).fetchone()
                self.db.execute("DELETE FROM xref WHERE ibx = ? AND xnum = ?", (ibx_id, xnum))
                touched.add(int(row[0]))
                self.stats.removed += 1
        for num in touched:
            self._refresh_row(num)
        missing = sorted(n for n, b in cur.items() if have.get(n) != b)
        for i in range(0, len(missing), BATCH):
            for c, mids in src.by_nums(missing[i : i + BATCH]):
                self._add_copy(ibx_id, src, c, mids)
            self.over.commit()
            self.over.begin()

    def _refresh_row(self, num: int) -> None:
        """A row lost a copy: gone with its last one, else kept pointing at
        a blob that still exists."""
        row = self.db.execute("SELECT blob, epoch FROM over WHERE num = ?", (num,)).fetchone()
        left = self.db.execute("SELECT ibx, xnum, blob FROM xref WHERE num = ? ORDER BY ibx, xnum", (num,)).fetchall()
        self._hashes.pop(num, None)
        if not left:
            self.over.remove(num)
            return
        if row is not None and any(b == row[0] and i == int(row[1]) // EPOCH_SPAN for i, _x, b in left):
            return
        ibx_id, xnum, _blob = left[0]
        d = self.db.execute("SELECT name, inboxdir FROM inboxes WHERE ibx = ?", (ibx_id,)).fetchone()
        other = _Source(InboxConfig(name=d[0], inboxdir=Path(d[1]), addresses=()))
        try:
            for c, mids in other.by_nums([int(xnum)]):
                self.over.add(self._row(num, int(ibx_id), c, mids))
        finally:
            other.close()

    def drop_inbox(self, name: str) -> int:
        """Forget an inbox no longer configured (``--gc``); returns its copies."""
        got = self.db.execute("SELECT ibx FROM inboxes WHERE name = ?", (name,)).fetchone()
        if got is None:
            return 0
        ibx_id = int(got[0])
        self.over.begin()
        nums = [int(n) for (n,) in self.db.execute("SELECT DISTINCT num FROM xref WHERE ibx = ?", (ibx_id,))]
        self.db.execute("DELETE FROM xref WHERE ibx = ?", (ibx_id,))
        for num in nums:
            self._refresh_row(num)
        self.db.execute("DELETE FROM inboxes WHERE ibx = ?", (ibx_id,))
        for k in ("ext_last-", "last_commit-", "ext_file-"):
            self.over.meta_del(f"{k}x{ibx_id}")
        self.over.commit()
        return len(nums)

    def names(self) -> list[str]:
        return [str(n) for (n,) in self.db.execute("SELECT name FROM inboxes ORDER BY ibx")]


def _hash(read: Any) -> bytes | None:
    try:
        raw: bytes = read()
    except (CorruptObject, PubinboxError) as e:
        log.warning("cross-inbox index: %s", e)
        return None
    return content_hash(raw)


def sync(
    topdir: Path,
    inboxes: Iterable[InboxConfig],
    *,
    gc: Iterable[str] | None = None,
    reindex: bool = False,
    lock_timeout: float = 300.0,
) -> SyncStats:
    """Bring the index in *topdir* up to date with *inboxes* (each read
    from where it was left).  *gc*: the names of every configured inbox;
    the index forgets the others.  *reindex*: start from nothing."""
    if reindex:
        for f in ("over.sqlite3", "over.sqlite3-wal", "over.sqlite3-shm"):
            try:
                (ext_layout(topdir).own_dir / f).unlink()
            except FileNotFoundError:
                pass
    with ExtWriter(topdir, lock_timeout=lock_timeout) as w:
        try:
            if gc is not None:
                keep = set(gc)
                for name in w.names():
                    if name not in keep:
                        w.drop_inbox(name)
            for ibx in inboxes:
                w.sync_inbox(ibx)
        except sqlite3.Error as e:
            raise IndexingError(f"{topdir}: {e}") from e
        return w.stats


def keep_current(ibx: InboxConfig) -> None:
    """After an ingest committed a batch to *ibx*: its copies in the
    cross-inbox index (when ``[extindex "all"]`` is configured) brought up
    to date before the ingest returns.  Never raises: the index is derived,
    and the next update of any kind catches up."""
    if ibx.extindex is None:
        return
    try:
        sync(ibx.extindex, [ibx], lock_timeout=60.0)
    except (PubinboxError, OSError, sqlite3.Error) as e:
        log.warning("cross-inbox index %s not updated (%s); `pubinbox extindex --all` catches up", ibx.extindex, e)
