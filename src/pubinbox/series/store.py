"""``pubinbox/series.sqlite3``: the series of an inbox, derived from the
overview and kept up to date by every writer (:func:`sync`, called by
``pubinbox index``, ``import`` and ``mda`` once the overview is committed).

It follows the overview file: when that is a new file (``index
--reindex``, a repaired overview), the series are computed again from
scratch; otherwise only the threads of new patches are looked at again.
A patch's patch-id and b4 markers come from the ``marks`` table, which
ingest fills from the bytes it has in hand (:func:`remember`); a message
indexed before that table existed is read back from git once.
A failure here is logged and never stops mail from being stored; the next
writer tries again.  Readers open it read-only (:class:`pubinbox.series.reader.SeriesReader`).
"""

from __future__ import annotations

import email.utils
import gc
import logging
import sqlite3
from functools import lru_cache
from pathlib import Path
from typing import Any

from pubinbox.errors import PubinboxError
from pubinbox.over.reader import ROW_COLUMNS, OverReader, OverRow
from pubinbox.series.am import make_trailer
from pubinbox.series.detect import WINDOW, Found, author_email, group
from pubinbox.series.marks import Marks, scan
from pubinbox.series.subject import PatchSubject, parse_subject
from pubinbox.series.trailers import person_ok
from pubinbox.store.dbfile import file_identity, use_wal
from pubinbox.store.git import GitReader
from pubinbox.store.layout import Layout

__all__ = ["SCHEMA", "remember", "series_db", "sync"]

log = logging.getLogger(__name__)

DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, val TEXT);
CREATE TABLE IF NOT EXISTS series (
    id TEXT PRIMARY KEY, version INTEGER, total INTEGER, title TEXT, norm TEXT,
    author TEXT, email TEXT, ts INTEGER, ds INTEGER, prefixes TEXT,
    cover INTEGER, present INTEGER, dups INTEGER, change_id TEXT, base_commit TEXT, reviewed INTEGER
);
CREATE INDEX IF NOT EXISTS series_cid ON series(change_id);
CREATE INDEX IF NOT EXISTS series_ts ON series(ts, id);
CREATE INDEX IF NOT EXISTS series_rev ON series(email, norm);
-- an unthreaded series' earlier revisions: (email, version, total) then a
-- window of ts, so that an author's thousandth series costs what the first
-- did (series_key, without ts, read every series of the author each time)
DROP INDEX IF EXISTS series_key;
CREATE INDEX IF NOT EXISTS series_key_ts ON series(email, version, total, ts);
CREATE TABLE IF NOT EXISTS series_msg (
    num INTEGER PRIMARY KEY, series_id TEXT NOT NULL, tid INTEGER, counter INTEGER, patchid TEXT
);
CREATE INDEX IF NOT EXISTS series_msg_sid ON series_msg(series_id);
CREATE INDEX IF NOT EXISTS series_msg_tid ON series_msg(tid);
CREATE INDEX IF NOT EXISTS series_msg_pid ON series_msg(patchid);
CREATE TABLE IF NOT EXISTS marks (blob TEXT PRIMARY KEY, patchid TEXT, change_id TEXT, base_commit TEXT, reviews TEXT);
CREATE TABLE IF NOT EXISTS review (num INTEGER NOT NULL, kind TEXT NOT NULL, who TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS review_num ON review(num);
"""
#: the threads of an author's series of the same version and count sent
#: within a window (an unthreaded series' earlier patches): a range of
#: series_key_ts, whatever the number of the author's series
EARLIER_SQL = (
    "SELECT DISTINCT m.tid FROM series s JOIN series_msg m ON m.series_id = s.id"
    " WHERE s.email = ? AND s.version = ? AND s.total = ? AND s.ts BETWEEN ? AND ?"
)
#: changes when the tables change: an older file is computed again
SCHEMA = "5"
#: rows of the overview read per step
BATCH = 2000


def series_db(layout: Layout) -> Path:
    return layout.own_dir / "series.sqlite3"


def _connect_rw(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), isolation_level=None, timeout=60)
    use_wal(db)
    db.execute("PRAGMA synchronous = NORMAL")
    # series_msg's indexes take rows at random places: with SQLite's 2 MB
    # default a sync at a million messages reads pages back from the kernel
    db.execute("PRAGMA cache_size = -65536")
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, val TEXT)")
    got = db.execute("SELECT val FROM meta WHERE key = 'schema'").fetchone()
    if got is None or got[0] != SCHEMA:
        db.executescript(
            "DROP TABLE IF EXISTS series; DROP TABLE IF EXISTS series_msg; DROP TABLE IF EXISTS review;"
            " DELETE FROM meta;"
        )
        db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA,))
        cols = {str(r[1]) for r in db.execute("PRAGMA table_info(marks)")}
        if cols and "reviews" not in cols:
            # marks of an older file are kept (they spare reading git);
            # their messages' reviews are known after `index --reindex`
            db.execute("ALTER TABLE marks ADD COLUMN reviews TEXT")
    db.executescript(DDL)
    return db


def sync(layout: Layout, *, over_db: Path | None = None) -> None:
    """Bring the series up to date with the overview (*over_db*: the file
    being built for it, ``over.sqlite3.rebuild``); never raises.
    The cyclic garbage collector waits meanwhile: a sync from scratch makes
    a hundred thousand small objects, none in a cycle, and the collections
    they set off in a process holding a whole index's worth cost a fifth
    of its time."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        _sync(layout, layout.over_db if over_db is None else over_db)
    except Exception as e:  # noqa: BLE001 - derived data: the next writer retries
        log.warning("%s: series not updated: %s", layout.inboxdir, e)
    finally:
        if collecting:
            gc.enable()


def _sync(layout: Layout, over_db: Path) -> None:
    if not over_db.exists():
        return
    path = series_db(layout)
    db = _connect_rw(path)
    over = OverReader(over_db)
    git = GitReader(layout)
    try:
        ident = file_identity(over_db)
        got = dict(db.execute("SELECT key, val FROM meta").fetchall())
        last = int(got.get("last_num") or 0)
        if got.get("over") != ident:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM series")
            db.execute("DELETE FROM series_msg")
            db.execute("DELETE FROM review")
            db.execute("INSERT OR REPLACE INTO meta VALUES ('over', ?)", (ident,))
            db.execute("INSERT OR REPLACE INTO meta VALUES ('last_num', '0')")
            db.execute("COMMIT")
            last = 0
        top = over.max_num()
        if top <= last:
            return
        tids: set[int] = set()
        # from scratch every patch is seen here: its thread's patches need
        # not be read again (group() looks at nothing else)
        seen: dict[int, list[OverRow]] | None = {} if last == 0 else None
        keys: list[tuple[str, int, int, int]] = []
        marks_of = _MarksOf(db, git)
        if seen is not None:
            # from scratch: the marks of (nearly) every patch and review are needed
            marks_of.load_all()
        known = marks_of.known
        # (number, blob) of replies that may give a review trailer (marks say which do)
        maybe: list[tuple[int, str]] = []
        # their raw rows and the patches' (OverRows are made of those needed only;
        # from scratch, of the replies known to give a review only)
        raw: dict[int, tuple[Any, ...]] = {}
        # what parse_subject() said of each patch (group() does not ask again)
        parsed: dict[int, PatchSubject | None] = {}
        at = last
        while True:
            # a subject parse_subject() takes has "patch" in it (ASCII, any
            # case); whole rows only for the patches and the replies that
            # give a review, most of these are other replies
            batch = over.query(
                f"SELECT {ROW_COLUMNS} FROM over WHERE num >= ? AND num <= ? AND num > 0"
                " AND subject LIKE '%patch%' ORDER BY num LIMIT ?",
                (at + 1, top, BATCH),
            )
            if not batch:
                break
            at = int(batch[-1][0])
            for t in batch:
                ps = parse_subject(t[6] or "")
                if ps is None:
                    if t[10] and (seen is None or ((m := known.get(t[11] or "")) and m.reviews is not None)):
                        maybe.append((t[0], t[11] or ""))  # t[10]: references
                        raw[t[0]] = t
                    continue
                parsed[t[0]] = ps
                raw[t[0]] = t
        from_db = OverRow.from_db
        for r in [from_db(raw[n]) for n in parsed]:
            ps = parsed[r.num]
            assert ps is not None
            tids.add(r.tid)
            if seen is not None:
                seen.setdefault(r.tid, []).append(r)
            if ps.total is not None and ps.total > 1 and last:
                keys.append((author_email(r.from_), ps.version, ps.total, r.ts))
        if seen is not None:
            given = {n: m.reviews for n, b in maybe if (m := known.get(b)) is not None and m.reviews is not None}
        else:
            given = _reviews_given(db, maybe)
        replies = [r for r in (from_db(raw[n]) for n in sorted(given)) if r.references]
        del raw
        given = {r.num: given[r.num] for r in replies}
        # an unthreaded series: the threads of its earlier patches again
        for email, version, total, ts in keys:
            for (tid,) in db.execute(EARLIER_SQL, (email, version, total, ts - WINDOW, ts + WINDOW)):
                tids.add(int(tid))
        if seen is not None:
            threads = [seen[tid] for tid in sorted(tids)]
        else:
            threads = [over.thread(tid, limit=100_000) for tid in sorted(tids)]
        found = group(threads, parsed)
        db.execute("BEGIN IMMEDIATE")
        nums = [r.num for t in threads for r in t] if seen is None else []  # from scratch: nothing to drop
        # the series of those messages go, with all their members (by id: a
        # scan of series_msg for orphans would cost more with every message)
        gone: set[str] = set()
        for i in range(0, len(nums), 500):
            chunk = nums[i : i + 500]
            marks = ",".join("?" * len(chunk))
            gone.update(
                str(s) for (s,) in db.execute(f"SELECT series_id FROM series_msg WHERE num IN ({marks})", chunk)
            )
        ids = sorted(gone)
        for i in range(0, len(ids), 500):
            chunk_ids = ids[i : i + 500]
            marks = ",".join("?" * len(chunk_ids))
            db.execute(f"DELETE FROM series WHERE id IN ({marks})", chunk_ids)
            db.execute(f"DELETE FROM series_msg WHERE series_id IN ({marks})", chunk_ids)
        if seen is None:
            marks_of.load([row for f in found for row in f.members.values()])
        _insert(db, found, marks_of)
        if seen is not None:
            rows_by_tid = seen  # group() is done with it: every thread with a patch
            for r in replies:
                if r.num in given and r.tid in rows_by_tid:
                    rows_by_tid[r.tid].append(r)
        else:
            rows_by_tid = {t[0].tid: t for t in threads if t}
            for tid in sorted({r.tid for r in replies if r.num in given} - rows_by_tid.keys()):
                rows_by_tid[tid] = over.thread(tid, limit=100_000)
            given = _reviews_given(db, [(r.num, r.blob) for t in rows_by_tid.values() for r in t if _maybe_reply(r)])
        _review(db, rows_by_tid, given, marks_of, fresh=seen is not None)
        db.execute("INSERT OR REPLACE INTO meta VALUES ('last_num', ?)", (str(top),))
        db.execute("COMMIT")
    finally:
        over.close()
        db.close()


def _maybe_reply(r: OverRow) -> bool:
    """A reply the scan would have read (a subject with "patch" in it)."""
    return bool(r.references) and "patch" in r.subject.lower() and parse_subject(r.subject) is None


def _reviews_given(db: sqlite3.Connection, replies: list[tuple[int, str]]) -> dict[int, str]:
    """Article number -> the review trailers (marks) of those of *replies*
    (number, blob) that give any."""
    out: dict[int, str] = {}
    for i in range(0, len(replies), 500):
        chunk = replies[i : i + 500]
        by_blob: dict[str, list[int]] = {}
        for num, blob in chunk:
            by_blob.setdefault(blob, []).append(num)
        q = ",".join("?" * len(by_blob))
        for blob, reviews in db.execute(
            f"SELECT blob, reviews FROM marks WHERE reviews IS NOT NULL AND blob IN ({q})", list(by_blob)
        ):
            for n in by_blob[str(blob)]:
                out[n] = str(reviews)
    return out


@lru_cache(maxsize=4096)  # the same few reviewers give the same lines again and again
def _people(reviews: str) -> tuple[tuple[str, str, str], ...]:
    """(kind, value, address) of each review trailer that names a person
    (read as b4 reads it)."""
    out: list[tuple[str, str, str]] = []
    for line in reviews.split("\n"):
        kind, _, value = line.partition("\t")
        t = make_trailer(kind, value)
        if t.kind == "person" and t.addr is not None and "@" in t.addr[1]:
            out.append((kind, value, t.addr[1].lower()))
    return tuple(out)


def _review(
    db: sqlite3.Connection,
    rows_by_tid: dict[int, list[OverRow]],
    given: dict[int, str],
    marks: _MarksOf,
    *,
    fresh: bool = False,
) -> None:
    """The review trailers each series member of these threads got (its
    own, and those given in replies whose nearest series member it is, by
    the sender and someone else than the member's author), then how many
    patches of their series are reviewed (a cover letter's reviews count
    for every patch)."""
    if not rows_by_tid:
        return
    tids = list(rows_by_tid)
    members: dict[int, tuple[str, int]] = {}
    if fresh:  # from scratch: every thread, the review table empty
        for num, sid, c in db.execute("SELECT num, series_id, counter FROM series_msg"):
            members[int(num)] = (str(sid), int(c))
    for i in range(0, 0 if fresh else len(tids), 500):
        chunk = tids[i : i + 500]
        q = ",".join("?" * len(chunk))
        for num, sid, c in db.execute(f"SELECT num, series_id, counter FROM series_msg WHERE tid IN ({q})", chunk):
            members[int(num)] = (str(sid), int(c))
    nums = [] if fresh else list(members)
    for i in range(0, len(nums), 500):
        chunk = nums[i : i + 500]
        db.execute(f"DELETE FROM review WHERE num IN ({','.join('?' * len(chunk))})", chunk)
    if not fresh:  # from scratch every mark is loaded already
        marks.load([r for rows in rows_by_tid.values() for r in rows if r.num in members])
    add: set[tuple[int, str, str]] = set()
    # person_ok() of (value, sender, sender's name): the same few again and again
    ok: dict[tuple[str, str, str], bool] = {}
    for rows in rows_by_tid.values():
        by_mid = {r.mid: r for r in rows if r.num in members}
        for r in rows:
            if r.num in members:
                reviews = marks(r).reviews
                if reviews:
                    me = author_email(r.from_)
                    add.update((r.num, k, a) for k, _n, a in _people(reviews) if a != me)
                continue
            reviews = given.get(r.num)
            if not reviews:
                continue
            near = next((by_mid[m] for m in reversed(r.references) if m in by_mid), None)
            if near is None:
                continue
            sender, sname = author_email(r.from_), _sender_name(r.from_)
            author = author_email(near.from_)
            for k, v, a in _people(reviews):
                if a == author:
                    continue
                got = ok.get((v, sender, sname))
                if got is None:
                    got = ok[(v, sender, sname)] = person_ok(v, sender, sname)
                if got:
                    add.add((near.num, k, a))
    db.executemany("INSERT INTO review VALUES (?,?,?)", sorted(add))
    if fresh:  # every member's reviews are in *add*; series were inserted with 0
        done = {n for n, _k, _a in add}
        by_sid: dict[str, dict[int, bool]] = {}
        for num, (sid, c) in members.items():
            by_sid.setdefault(sid, {})[c] = num in done
        db.executemany(
            "UPDATE series SET reviewed = ? WHERE id = ?",
            [(n, sid) for sid, cs in by_sid.items() if (n := _reviewed(cs))],
        )
        return
    sids = sorted({sid for sid, _c in members.values()})
    for i in range(0, len(sids), 500):
        some = sids[i : i + 500]
        q = ",".join("?" * len(some))
        counters: dict[str, dict[int, bool]] = {}
        for sid, c, got in db.execute(
            f"SELECT m.series_id, m.counter, EXISTS (SELECT 1 FROM review r WHERE r.num = m.num)"
            f" FROM series_msg m WHERE m.series_id IN ({q})",
            some,
        ):
            counters.setdefault(str(sid), {})[int(c)] = bool(got)
        db.executemany(
            "UPDATE series SET reviewed = ? WHERE id = ?",
            [(_reviewed(cs), sid) for sid, cs in counters.items()],
        )


def _reviewed(counters: dict[int, bool]) -> int:
    """How many patches of a series are reviewed (counter -> has a review;
    the cover letter's, counter 0, count for every patch)."""
    return sum(1 for c, ok in counters.items() if c and (ok or counters.get(0, False)))


@lru_cache(maxsize=4096)
def _sender_name(from_: str) -> str:
    return email.utils.parseaddr(from_)[0].strip().strip('"').lower()


class _MarksOf:
    """The :class:`~.marks.Marks` of overview rows: as ingest remembered
    them (:func:`remember`), else read back from git once and remembered."""

    def __init__(self, db: sqlite3.Connection, git: GitReader) -> None:
        self.db = db
        self.git = git
        self.known: dict[str, Marks] = {}

    def load(self, rows: list[OverRow]) -> None:
        """Read the remembered marks of *rows* in a few queries (not one per row)."""
        blobs = sorted({r.blob for r in rows} - self.known.keys())
        for i in range(0, len(blobs), 500):
            chunk = blobs[i : i + 500]
            for blob, *fields in self.db.execute(
                f"SELECT blob, patchid, change_id, base_commit, reviews FROM marks WHERE blob IN"
                f" ({','.join('?' * len(chunk))})",
                chunk,
            ):
                self.known[str(blob)] = Marks(*fields)

    def load_all(self) -> None:
        for blob, *fields in self.db.execute("SELECT blob, patchid, change_id, base_commit, reviews FROM marks"):
            self.known[str(blob)] = Marks(*fields)

    def __call__(self, row: OverRow) -> Marks:
        known = self.known.get(row.blob)
        if known is not None:
            return known
        got = self.db.execute(
            "SELECT patchid, change_id, base_commit, reviews FROM marks WHERE blob = ?", (row.blob,)
        ).fetchone()
        if got is not None:
            self.known[row.blob] = m = Marks(*got)
            return m
        try:
            m = scan(self.git.blob(row.blob, row.epoch))
        except PubinboxError:
            return Marks(None, None, None)
        self.db.execute("INSERT OR REPLACE INTO marks VALUES (?,?,?,?,?)", (row.blob, *_fields(m)))
        self.known[row.blob] = m
        return m


def _fields(m: Marks) -> tuple[str | None, str | None, str | None, str | None]:
    return m.patchid, m.change_id, m.base_commit, m.reviews


def remember(layout: Layout, marks: dict[str, Marks]) -> None:
    """Keep the marks ingest took from the bytes of new patches (blob id ->
    marks) for :func:`sync`; never raises (sync reads git without them)."""
    if not marks or not layout.own_dir.is_dir():
        return
    try:
        db = _connect_rw(series_db(layout))
        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT OR REPLACE INTO marks VALUES (?,?,?,?,?)", [(b, *_fields(m)) for b, m in marks.items()]
            )
            db.execute("COMMIT")
        finally:
            db.close()
    except (sqlite3.Error, OSError) as e:
        log.warning("%s: series marks not kept: %s", layout.inboxdir, e)


def _insert(db: sqlite3.Connection, found: list[Found], marks: _MarksOf) -> None:
    """The rows of *found* (in their order: a later one with the same key replaces an earlier one)."""
    series: list[tuple[Any, ...]] = []
    msgs: list[tuple[Any, ...]] = []
    for f in found:
        head = f.head
        hm = marks(head)
        series.append(
            (f.id, f.version, f.total, f.title, f.norm, head.from_, f.email, f.ts, head.ds, " ".join(f.prefixes),
             f.members[0].num if 0 in f.members else None, len([c for c in f.members if c]), f.dups, hm.change_id,
             hm.base_commit, 0)
        )  # fmt: skip
        fid = f.id
        msgs += [(row.num, fid, row.tid, c, marks(row).patchid if c else None) for c, row in f.members.items()]
    db.executemany("INSERT OR REPLACE INTO series VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", series)
    db.executemany("INSERT OR REPLACE INTO series_msg VALUES (?,?,?,?,?)", msgs)
