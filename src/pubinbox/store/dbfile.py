"""SQLite files as files: is one damaged, and replacing one under readers.

``pubinbox index`` repairs the overview (and salvages msgmap) while the web
server has them open, so the new database is built in a file of its own and
renamed over the old one: readers keep the old inode until they notice the
new one and reopen (see :mod:`pubinbox.over.reader`), and nobody ever needs
a lock on the damaged file.  A database in WAL mode keeps its log and shared
memory in ``NAME-wal`` and ``NAME-shm``, found by name, not by inode: those
of the old file are unlinked just before the rename, so that connections to
the new file never replay or share the old file's log (SQLite would apply
it to the wrong database); the old file's readers keep theirs open.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import struct
import time
from pathlib import Path

#: a whole ``PRAGMA quick_check`` (it reads every page) only below this size;
#: larger files get the header and open checks, and errors met while
#: indexing still trigger the repair
QUICK_CHECK_MAX = 256 << 20

_MAGIC = b"SQLite format 3\x00"
#: SQLITE_CORRUPT and SQLITE_NOTADB: the file, not the moment, is wrong
_DAMAGE_CODES = (11, 26)


def is_damage(e: sqlite3.Error) -> bool:
    """True when *e* says the file is damaged (not busy, full, or locked)."""
    code = getattr(e, "sqlite_errorcode", None)
    if isinstance(code, int):
        return (code & 0xFF) in _DAMAGE_CODES
    text = str(e)
    return "malformed" in text or "not a database" in text


def damage(path: Path, *, tables: tuple[str, ...] = ()) -> str | None:
    """Why the SQLite file at *path* cannot be trusted, or None (also for a
    missing file).  Checks the header, that the file is as long as the
    header says (a truncated copy), that it opens and that *tables* can be
    read; then, for files up to :data:`QUICK_CHECK_MAX`, ``quick_check``."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(100)
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"cannot be read: {e}"
    if size == 0:
        return None  # a new database not yet written (SQLite makes it on first use)
    if len(head) < 100 or not head.startswith(_MAGIC):
        return "not an SQLite database"
    page_size = struct.unpack(">H", head[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    pages, valid_for = struct.unpack(">I", head[28:32])[0], struct.unpack(">I", head[92:96])[0]
    change = struct.unpack(">I", head[24:28])[0]
    # in WAL mode the header is rewritten only when the log is checkpointed;
    # with a log present, SQLite itself judges (below)
    if pages and change == valid_for and size < pages * page_size and not _has_log(path):
        return f"truncated ({size} bytes, its header says {pages * page_size})"
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as e:
        return str(e)
    try:
        for table in tables:
            db.execute(f"SELECT * FROM {table} ORDER BY rowid DESC LIMIT 1").fetchall()
        if size <= QUICK_CHECK_MAX:
            problems = [str(r[0]) for r in db.execute("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                return "; ".join(problems)
    except sqlite3.Error as e:
        if is_damage(e) or not isinstance(e, sqlite3.OperationalError):
            return str(e)
        if "no such table" in str(e):
            return str(e)
        raise
    finally:
        db.close()
    return None


def _has_log(path: Path) -> bool:
    try:
        return path.with_name(path.name + "-wal").stat().st_size > 0
    except OSError:
        return False


def remove(path: Path) -> None:
    """Delete a database file and its journal, log and shared memory."""
    for suffix in ("", "-journal", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()


def replace(new: Path, path: Path) -> None:
    """Atomically put the closed database *new* in place of *path*.

    *new* must be closed by every connection (so its log is checkpointed
    and gone).  The old file's ``-wal`` and ``-shm`` are unlinked first;
    its open readers keep using them, new connections start clean."""
    fd = os.open(new, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()
    os.replace(new, path)
    for suffix in ("-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            new.with_name(new.name + suffix).unlink()
    fsync_dir(path.parent)


def set_aside(path: Path, tag: str) -> Path:
    """Rename a damaged database (and its journal/log) to ``NAME.TAG``, to
    keep it for inspection; returns the new name."""
    aside = path.with_name(f"{path.name}.{tag}")
    for suffix in ("-journal", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.replace(path.with_name(path.name + suffix), aside.with_name(aside.name + suffix))
    os.replace(path, aside)
    return aside


def fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_identity(path: Path) -> str:
    """``dev:inode`` of a database file: derived data (series, stats, the
    cross-inbox index) made from an overview notes it, and starts again from
    nothing when the overview is a new file (``index --reindex``, a repair)."""
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}"


def use_wal(db: sqlite3.Connection, *, timeout: float = 10.0) -> None:
    """Put *db* in WAL mode.  When several processes open a new file at
    once (``pubinbox serve``'s workers starting), all but one may get
    SQLITE_BUSY from ``PRAGMA journal_mode = WAL`` at once, without
    SQLite's busy handler being called: try again for up to *timeout*
    seconds, as the busy handler would have waited."""
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if getattr(e, "sqlite_errorname", "") != "SQLITE_BUSY" or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
