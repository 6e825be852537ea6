"""DDL of pubinbox's overview database (``INBOXDIR/pubinbox/over.sqlite3``).

It holds what public-inbox's ``over.sqlite3`` holds (number, thread id,
subject id, times, and the overview fields) but as plain columns rather than
deflated blobs, so listings, NNTP OVER and IMAP FETCH read rows directly.
Threading tables (``msgid``, ``id2num``, ``subject``, ``counter``) follow
public-inbox's design: ghosts have negative numbers.
"""

from __future__ import annotations

import sqlite3

from pubinbox.errors import SchemaTooNew

SCHEMA_VERSION = 1

DDL = """
CREATE TABLE IF NOT EXISTS over (
    num INTEGER PRIMARY KEY NOT NULL,
    tid INTEGER NOT NULL,
    sid INTEGER,
    ts INTEGER,
    ds INTEGER,
    mid TEXT,
    subject TEXT,
    from_ TEXT,
    to_ TEXT,
    cc TEXT,
    refs TEXT,
    blob TEXT,
    bytes INTEGER,
    lines INTEGER,
    epoch INTEGER
);
CREATE INDEX IF NOT EXISTS over_tid ON over (tid);
CREATE INDEX IF NOT EXISTS over_sid ON over (sid);
CREATE INDEX IF NOT EXISTS over_ts ON over (ts);
CREATE INDEX IF NOT EXISTS over_ds ON over (ds);
CREATE INDEX IF NOT EXISTS over_blob ON over (blob);
CREATE TABLE IF NOT EXISTS counter (
    key TEXT PRIMARY KEY NOT NULL,
    val INTEGER DEFAULT 0
);
CREATE TABLE IF NOT EXISTS subject (
    sid INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS msgid (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mid TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS id2num (
    id INTEGER NOT NULL,
    num INTEGER NOT NULL,
    UNIQUE (id, num)
);
CREATE INDEX IF NOT EXISTS id2num_num ON id2num (num);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY NOT NULL,
    val TEXT NOT NULL
);
"""


def connect(path: str, *, write: bool) -> sqlite3.Connection:
    """Open the overview database (creating it when writing)."""
    if write:
        db = sqlite3.connect(path, isolation_level=None, timeout=60, check_same_thread=False)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA cache_size = -65536")
        db.executescript(DDL)
        row = db.execute("SELECT val FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            db.execute("INSERT INTO meta (key, val) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) > SCHEMA_VERSION:
            raise SchemaTooNew(f"{path} has schema {row[0]}, this pubinbox knows {SCHEMA_VERSION}")
    else:
        # readers run on a web worker's event loop: a busy database is a
        # 503 after a short wait, not a stalled worker (WAL readers are
        # only ever kept waiting by recovery after a crash)
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=2, check_same_thread=False)
        db.execute("PRAGMA query_only = 1")
    return db
