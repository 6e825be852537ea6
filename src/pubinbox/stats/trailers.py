"""``pubinbox/stats.sqlite3``: the review trailers given in replies.

The overview holds no bodies, so ``Reviewed-by``/``Acked-by``/``Tested-by``
are read from git, once per message: :func:`scan` goes through the replies
numbered above the last one it saw (a reply: it has References or
In-Reply-To and is no patch itself), keeps the review trailers it gives (unquoted, before the signature or a
patch, naming the reply's sender: b4's rule as
:func:`~pubinbox.series.trailers.reply_trailers` applies it, but with the
archive's address parser, which reads odd values like ``Name <a@b
<mailto:a@b>>``) and remembers how far
it got.  A new overview file (``index --reindex``, a repair) starts it
again.  Most replies carry no ``-by:`` at all and are skipped without being
parsed.

Indexing never calls this: the web does, on the first statistics request
after new mail (:func:`pending` tells how much is left; a large backlog is
read by ``python -m pubinbox.stats.trailers INBOXDIR`` in the background,
one process per inbox at a time, by a lock file).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from pubinbox.errors import CorruptObject, PubinboxError
from pubinbox.extindex import EPOCH_SPAN
from pubinbox.over.reader import OverReader, OverRow
from pubinbox.series.trailers import body_text
from pubinbox.stats.people import is_patch, person
from pubinbox.store.dbfile import file_identity, use_wal
from pubinbox.store.git import GitReader
from pubinbox.store.layout import Layout

__all__ = ["KINDS", "busy", "pending", "reviewers", "scan", "stats_db"]

log = logging.getLogger(__name__)

#: the trailers that count as a review
KINDS = ("Reviewed-by", "Acked-by", "Tested-by")
SCHEMA = "1"
SLACK = 7 * 86400  # as pubinbox.stats.compute.SLACK
BATCH = 1000
DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, val TEXT);
CREATE TABLE IF NOT EXISTS trailer (
    num INTEGER NOT NULL, ds INTEGER NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, address TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS trailer_ds ON trailer (ds);
CREATE INDEX IF NOT EXISTS trailer_num ON trailer (num);
"""
_TRAILER = re.compile(r"(Reviewed-by|Acked-by|Tested-by)[ \t]*:[ \t]*(\S.{0,300}?)\s*\Z", re.IGNORECASE)
_CANON = {k.lower(): k for k in KINDS}
#: Reviewed-by, Acked-by, Tested-by all end so (Signed-off-by does not)
_MARKS = (b"ed-by", b"ed-By", b"ED-BY", b"ed-BY")
#: a base64 body hides the marks: those are always parsed
_ENCODED = (b"base64", b"Base64", b"BASE64")


def _maybe(raw: bytes) -> bool:
    """Whether *raw* may hold a review trailer: one of the marks on a line
    that is not quoted (most replies quote the patch's Signed-off-by only),
    or an encoded body."""
    for m in _MARKS:
        i = raw.find(m)
        while i >= 0:
            start = raw.rfind(b"\n", 0, i) + 1
            if raw[start : start + 1] != b">":
                return True
            i = raw.find(m, i + 5)
    for e in _ENCODED:
        i = raw.find(e)
        while i >= 0:
            start = raw.rfind(b"\n", 0, i) + 1
            if raw[start : start + 26].lower() == b"content-transfer-encoding:":
                return True
            i = raw.find(e, i + 6)
    return False


def stats_db(layout: Layout) -> Path:
    return layout.own_dir / "stats.sqlite3"


def _connect(layout: Layout) -> sqlite3.Connection:
    path = stats_db(layout)
    db = sqlite3.connect(str(path), isolation_level=None, timeout=30, check_same_thread=False)
    use_wal(db)
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, val TEXT)")
    got = db.execute("SELECT val FROM meta WHERE key = 'schema'").fetchone()
    if got is None or got[0] != SCHEMA:
        # (the aggregates' agg_* keys are theirs: pubinbox.stats.aggregate)
        db.executescript("DROP TABLE IF EXISTS trailer; DELETE FROM meta WHERE key NOT LIKE 'agg%';")
        db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA,))
    db.executescript(DDL)
    return db


def _state(db: sqlite3.Connection, layout: Layout) -> int:
    """The last number read (0 after a new overview file, whose trailers
    are dropped)."""
    got = dict(db.execute("SELECT key, val FROM meta").fetchall())
    ident = file_identity(layout.over_db)
    if got.get("over") != ident:
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM trailer")
        db.execute("INSERT OR REPLACE INTO meta VALUES ('over', ?)", (ident,))
        db.execute("INSERT OR REPLACE INTO meta VALUES ('last_num', '0')")
        db.execute("COMMIT")
        return 0
    return int(got.get("last_num") or 0)


def pending(layout: Layout, over: OverReader) -> int:
    """How many messages :func:`scan` has yet to look at (an estimate by
    numbers; 0 when it is up to date)."""
    hi = int(over.query("SELECT MAX(num) FROM over")[0][0] or 0)  # the primary key: no scan
    path = stats_db(layout)
    if not path.exists():
        return hi
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
        try:
            rows = dict(db.execute("SELECT key, val FROM meta").fetchall())
        finally:
            db.close()
    except sqlite3.Error:
        return hi
    if rows.get("over") != file_identity(layout.over_db):
        return hi
    return max(0, hi - int(rows.get("last_num") or 0))


def _review_trailers(raw: bytes, from_: str) -> Iterator[tuple[str, str, str]]:
    """(kind, name, address) of each review trailer of a reply."""
    if not _maybe(raw):
        return
    text = _plain_body(raw)
    if text is None:
        text = body_text(raw)
    if "-by" not in text.lower():
        return
    name, addr = person(from_)
    name = name.lower()
    got: list[tuple[str, str, str]] = []
    for line in text.splitlines():
        if line.rstrip() == "--" or line.startswith(("diff --git ", "---")):
            break  # the signature, or a patch
        m = _TRAILER.match(line)  # quoted lines start with '>' and never match
        if m is None:
            continue
        who, where = person(m.group(2))
        if "@" not in where or not (where == addr or who.lower() == name):
            continue  # b4's rule: the sender gives it (same address or same name)
        t = (_CANON[m.group(1).lower()], who, where)
        if t not in got:
            got.append(t)
    yield from got


def _plain_body(raw: bytes) -> str | None:
    """The body of a one-part message in 7bit/8bit text (most replies),
    without a MIME parse; None for anything else."""
    head, sep, body = raw.partition(b"\n\n")
    if not sep:
        return None
    h = b"\n" + head.lower()
    cte = h.split(b"\ncontent-transfer-encoding:", 1)
    if len(cte) > 1 and cte[1].lstrip()[:4] not in (b"7bit", b"8bit"):
        return None
    ct = h.split(b"\ncontent-type:", 1)
    if len(ct) > 1 and not ct[1].lstrip().startswith(b"text/plain"):
        return None
    return body.decode("utf-8", "replace")


def _blob_reader(layout: Layout, over: OverReader) -> Callable[[OverRow], bytes]:
    """How to read a row's message: from the inbox's git, or for the
    cross-inbox index (``/all/``, an ``inboxes`` table) from the git of the
    inbox its ``epoch`` names."""
    try:
        inboxes = {int(i): Path(d) for i, d in over.query("SELECT ibx, inboxdir FROM inboxes")}
    except PubinboxError:  # no such table: an inbox
        git = GitReader(layout)
        return lambda r: git.blob(r.blob, r.epoch)
    gits: dict[int, GitReader] = {}

    def read(r: OverRow) -> bytes:
        ibx, epoch = divmod(r.epoch, EPOCH_SPAN)
        if ibx not in inboxes:
            raise CorruptObject(f"blob {r.blob}: inbox #{ibx} is not in the index")
        g = gits.get(ibx)
        if g is None:
            g = gits[ibx] = GitReader(Layout(inboxes[ibx]))
        return g.blob(r.blob, epoch)

    return read


def busy(layout: Layout) -> bool:
    """Whether a scan of this inbox runs now (another process holds the lock)."""
    if not stats_db(layout).with_name("stats.sqlite3.lock").exists():
        return False
    with _locked(layout, False) as held:
        return not held


@contextlib.contextmanager
def _locked(layout: Layout, wait: bool) -> Iterator[bool]:
    """The inbox's scan lock (one scanner per inbox): yields whether it is held."""
    fd = os.open(str(stats_db(layout)) + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def scan(layout: Layout, *, wait: bool = True) -> int:
    """Read the trailers of every reply not read yet; returns how many
    messages were looked at (-1 when another process holds the lock and
    *wait* is false)."""
    with _locked(layout, wait) as held:
        if not held:
            return -1
        db = _connect(layout)
        over = OverReader(layout.over_db)
        read = _blob_reader(layout, over)
        try:
            last = _state(db, layout)
            seen = 0
            while True:
                rows = over.by_range(last + 1, 2**62, BATCH)
                if not rows:
                    break
                found: list[tuple[int, int, str, str, str]] = []
                for r in rows:
                    if not r.references or is_patch(r.subject):
                        continue
                    try:
                        raw = read(r)
                    except PubinboxError:
                        continue  # a missing blob has nothing to count
                    found += [(r.num, r.ds, k, n, a) for k, n, a in _review_trailers(raw, r.from_)]
                last = rows[-1].num
                seen += len(rows)
                db.execute("BEGIN IMMEDIATE")
                db.executemany("INSERT INTO trailer VALUES (?,?,?,?,?)", found)
                db.execute("INSERT OR REPLACE INTO meta VALUES ('last_num', ?)", (str(last),))
                db.execute("COMMIT")
            return seen
        finally:
            over.close()
            db.close()


def reviewers(layout: Layout, since: int, lo: int, hi: int, limit: int = 20) -> list[dict[str, object]]:
    """The *limit* people who gave the most review trailers in replies dated
    from *since* on (dates clamped to the span *lo*..*hi* as
    :mod:`~pubinbox.stats.compute` does; name: the one they used most)."""
    path = stats_db(layout)
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
    try:
        rows = db.execute(
            "SELECT address, name, COUNT(*) FROM trailer WHERE (ds >= ? OR ds < ?)"
            f" AND (CASE WHEN ds < {lo - SLACK} THEN {lo} WHEN ds > {hi + SLACK} THEN {hi} ELSE ds END) >= ?"
            " GROUP BY address, name",
            (since, lo - SLACK, since),
        ).fetchall()
    except sqlite3.Error:
        return []
    finally:
        db.close()
    return top_people([(a, nm, a, int(n)) for a, nm, n in rows], "trailers", limit)


def top_people(rows: list[tuple[str, str, str, int]], what: str, limit: int) -> list[dict[str, object]]:
    """(key, name, address, count) rows merged by key, most first (ties by
    key), each under the name it appears with most."""
    total: dict[str, int] = {}
    names: dict[str, dict[str, int]] = {}
    addrs: dict[str, str] = {}
    for key, name, addr, n in rows:
        total[key] = total.get(key, 0) + n
        by = names.setdefault(key, {})
        by[name] = by.get(name, 0) + n
        addrs.setdefault(key, addr)
    best = sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [
        {"name": max(names[k].items(), key=lambda kv: (kv[1], kv[0]))[0], "address": addrs[k], what: n} for k, n in best
    ]


def main(argv: list[str]) -> int:
    """``python -m pubinbox.stats.trailers INBOXDIR``: catch up (the web
    starts this for a large backlog)."""
    logging.basicConfig(level=logging.WARNING)
    try:
        scan(Layout(Path(argv[0])), wait=False)
    except (PubinboxError, sqlite3.Error, OSError) as e:
        log.warning("%s: trailers not read: %s", argv[0], e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
