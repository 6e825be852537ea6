"""``pubinbox index``: msgmap, the overview and the search index brought up
to date with git, and repaired when damaged, while readers keep reading.

Under ``inbox.lock``, in this order:

1. **msgmap** is checked (:func:`pubinbox.store.dbfile.damage`).  Its numbers
   are the archive's public identity, shared with public-inbox, so it is
   never recreated empty: a damaged one is rebuilt from every row that can
   still be read plus the (number, Message-ID) pairs of a healthy overview,
   and kept as ``msgmap.sqlite3.broken-TIME``; a lost one (missing or empty
   while the overview has messages) is restored from the overview, with the
   UIDVALIDITY and highwater mark the overview keeps a copy of.
2. **The overview**: a healthy one is brought up to date in place (readers
   see each batch as it is committed).  A damaged or missing one, or any
   with ``--reindex``, is rebuilt from git into ``over.sqlite3.rebuild`` (an
   interrupted rebuild resumes there) and renamed over the old file when
   complete: the web server reads the old file until then, and nothing ever
   needs a lock on the damaged one.  Damage met while updating in place
   switches to a rebuild.
3. **The search index** (:class:`~pubinbox.search.writer.SearchWriter` sets
   a broken one aside) is made to hold exactly the overview's messages:
   compared document by document after a rebuild, by count and highest
   number otherwise (:meth:`~pubinbox.ingest.indexer.Indexer.search_sync`).
"""

from __future__ import annotations

import gc
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from pubinbox.config import InboxConfig
from pubinbox.errors import IndexingError
from pubinbox.extindex.writer import keep_current as extindex_keep_current
from pubinbox.ingest import history
from pubinbox.ingest.indexer import MSGMAP_META, Indexer, IndexStats
from pubinbox.over.writer import OverWriter
from pubinbox.search.writer import SearchWriter
from pubinbox.series.store import sync as series_sync
from pubinbox.store import dbfile
from pubinbox.store import msgmap as msgmap_file
from pubinbox.store.git import GitReader
from pubinbox.store.layout import Layout, clear_stale_git_locks, ensure_all_git
from pubinbox.store.lock import InboxLock
from pubinbox.store.msgmap import Msgmap

log = logging.getLogger(__name__)

#: tables whose last rows the damage check reads
OVER_TABLES = ("over", "id2num", "msgid", "meta")
MSGMAP_TABLES = ("msgmap", "meta")


def open_search(layout: Layout, level: str, *, rebuild_broken: bool = True) -> SearchWriter | None:
    """The search index writer, or None at indexlevel basic."""
    if level == "basic":
        return None
    return SearchWriter(layout.own_dir, level, rebuild_broken=rebuild_broken)


def index_inbox(
    ibx: InboxConfig,
    *,
    reindex: bool = False,
    jobs: int | None = None,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    lock_timeout: float = 300.0,
) -> IndexStats:
    """``pubinbox index``: catch msgmap, the overview and the search index
    up with git, repairing what is damaged; *reindex* rebuilds the overview
    and the search index from git (msgmap, which holds the article numbers,
    is kept, as public-inbox does)."""
    layout = Layout(ibx.inboxdir)
    layout.check()
    history.finish_pending(ibx, lock_timeout=lock_timeout)  # a purge/edit killed half-way (issue 11)
    with InboxLock(layout.lock_file, timeout=lock_timeout):
        ensure_all_git(layout)
        clear_stale_git_locks(layout)
        layout.own_dir.mkdir(exist_ok=True)
        # no cyclic garbage collection meanwhile: indexing makes none (f2fs:
        # nothing unreachable after 22,000 messages), and the collections
        # that its objects set off were 4% of this process's time
        collecting = gc.isenabled()
        gc.disable()
        try:
            stats = _index(ibx, layout, reindex, jobs, progress, on_total)
        except sqlite3.Error as e:
            raise IndexingError(f"{ibx.inboxdir}: {e}") from e
        finally:
            if collecting:
                gc.enable()
        series_sync(layout)  # patch series, from the overview (issue 12)
        extindex_keep_current(ibx)  # the cross-inbox index /all/ (issue 9)
        return stats


def _index(
    ibx: InboxConfig,
    layout: Layout,
    reindex: bool,
    jobs: int | None,
    progress: Callable[[int], None] | None,
    on_total: Callable[[int], None] | None,
) -> IndexStats:
    why = dbfile.damage(layout.over_db, tables=OVER_TABLES)
    if why is not None:
        log.warning("%s: %s; rebuilding it from git", layout.over_db, why)
    mm = _open_msgmap(layout, over_ok=why is None)
    try:
        if not (reindex or why is not None or not layout.over_db.exists()):
            try:
                return _update(ibx, layout, mm, jobs, progress, on_total)
            except sqlite3.DatabaseError as e:
                if not dbfile.is_damage(e):
                    raise
                mm.rollback()
                log.warning("%s: %s; rebuilding it from git", layout.over_db, e)
        return _rebuild(ibx, layout, mm, reindex, jobs, progress, on_total)
    finally:
        mm.close()


def _update(
    ibx: InboxConfig,
    layout: Layout,
    mm: Msgmap,
    jobs: int | None,
    progress: Callable[[int], None] | None,
    on_total: Callable[[int], None] | None,
) -> IndexStats:
    """Index what is new, in place."""
    over = OverWriter(layout.over_db)
    search = None
    try:
        search = open_search(layout, ibx.indexlevel)
        idx = Indexer(layout, GitReader(layout), mm, over, search)
        if on_total is not None:
            on_total(idx.pending(jobs=jobs))
        stats = idx.run(progress=progress, jobs=jobs)
        _finish(idx)
        return stats
    finally:
        over.close()
        if search is not None:
            search.close()


def _rebuild(
    ibx: InboxConfig,
    layout: Layout,
    mm: Msgmap,
    reindex: bool,
    jobs: int | None,
    progress: Callable[[int], None] | None,
    on_total: Callable[[int], None] | None,
) -> IndexStats:
    """Build the overview from git beside the old one, put it in place, then
    make the search index agree with it (documents whose number and blob
    still match are kept, unless *reindex*).  When the search index is
    empty (new, or cleared by *reindex*), its documents are made in the same
    pass as the overview rows: each blob is read and parsed once."""
    tmp = layout.over_db.with_name(layout.over_db.name + ".rebuild")
    why = dbfile.damage(tmp, tables=OVER_TABLES)
    if why is not None:
        log.warning("%s: %s; starting over", tmp, why)
        dbfile.remove(tmp)
    elif tmp.exists():
        log.warning("%s: resuming an interrupted rebuild", tmp)
    git = GitReader(layout)
    search = open_search(layout, ibx.indexlevel)
    try:
        if search is not None and reindex:
            search.clear()
            search.commit()
        # documents still worth keeping are only in a search index that was
        # not empty; one left by an interrupted rebuild is caught up below
        one_pass = search is not None and search.fresh and search.max_num == 0
        over = OverWriter(tmp)
        try:
            idx = Indexer(layout, git, mm, over, search if one_pass else None)
            if on_total is not None:
                on_total(idx.pending(jobs=jobs))
            stats = idx.run(progress=progress, jobs=jobs)
            _finish(idx)
        finally:
            over.close()
        dbfile.replace(tmp, layout.over_db)
        if search is None or one_pass:
            return stats
        over = OverWriter(layout.over_db)
        try:
            Indexer(layout, git, mm, over, search).search_sync(stats, jobs=jobs, full=True)
        finally:
            over.close()
        return stats
    finally:
        if search is not None:
            search.close()


def _finish(idx: Indexer) -> None:
    """Prune msgmap, commit it and the overview."""
    idx.prune_msgmap()
    idx.mm.commit()
    idx.over.commit()


# -- msgmap ---------------------------------------------------------------------------
def _open_msgmap(layout: Layout, *, over_ok: bool) -> Msgmap:
    """msgmap, salvaged when damaged and restored from the overview when lost."""
    path = layout.msgmap
    over = layout.over_db if over_ok and layout.over_db.exists() else None
    why = dbfile.damage(path, tables=MSGMAP_TABLES)
    if why is not None:
        log.warning("%s: %s; salvaging its article numbers", path, why)
        new, n = msgmap_file.rebuild(path, salvage_from=path, pairs=_over_pairs(over), meta=_over_meta(over))
        aside = dbfile.set_aside(path, f"broken-{int(time.time())}")
        dbfile.replace(new, path)
        log.warning("%s: rebuilt with %d article numbers; the damaged file is kept as %s", path, n, aside)
    elif over is not None and _empty_msgmap(path) and _over_count(over):
        log.warning("%s: lost; restoring its article numbers from the overview", path)
        new, n = msgmap_file.rebuild(path, salvage_from=None, pairs=_over_pairs(over), meta=_over_meta(over))
        dbfile.replace(new, path)
        log.warning("%s: restored %d article numbers", path, n)
    return Msgmap(path, create=True)


def _empty_msgmap(path: Path) -> bool:
    if not path.exists():
        return True
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute("SELECT 1 FROM msgmap LIMIT 1").fetchone() is None
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return True
        raise
    finally:
        db.close()


def _over_count(over: Path) -> int:
    db = sqlite3.connect(f"file:{over}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM over WHERE num > 0").fetchone()[0])
    finally:
        db.close()


def _over_pairs(over: Path | None) -> Iterator[tuple[int, str]]:
    """(num, primary Message-ID) of every message of a healthy overview."""
    if over is None:
        return
    db = sqlite3.connect(f"file:{over}?mode=ro", uri=True)
    try:
        for num, mid in db.execute("SELECT num, mid FROM over WHERE num > 0 AND mid != '' ORDER BY num"):
            yield int(num), str(mid)
    finally:
        db.close()


def _over_meta(over: Path | None) -> dict[str, str]:
    if over is None:
        return {}
    db = sqlite3.connect(f"file:{over}?mode=ro", uri=True)
    try:
        got = dict(db.execute("SELECT key, val FROM meta"))
    except sqlite3.Error:
        return {}
    finally:
        db.close()
    return {ours: str(got[key]) for ours, key in MSGMAP_META.items() if key in got}
