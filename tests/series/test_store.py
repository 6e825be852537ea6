"""series.sqlite3 over the sample archive: the patch-ids and b4 markers
that ingest takes from the bytes in hand (the ``marks`` table) are those
``git patch-id --stable`` gives for the stored blob, and the series computed
from them equal those computed by reading every blob back from git (the
path of an inbox indexed before the table existed) (issues 12, 13)."""

from __future__ import annotations

import itertools
import sqlite3
import subprocess
from pathlib import Path

from pubinbox.ingest.message import parse_stored
from pubinbox.over.reader import OverReader
from pubinbox.series import store
from pubinbox.series.store import series_db, sync
from pubinbox.series.subject import parse_subject
from pubinbox.store.layout import Layout
from tests.helpers import init_inbox, run_cli


def _series(db: sqlite3.Connection) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    return (
        db.execute("SELECT * FROM series ORDER BY id").fetchall(),
        db.execute("SELECT * FROM series_msg ORDER BY num").fetchall(),
    )


def test_marks_taken_at_ingest_equal_git(tmp_path: Path, sample_mbox: Path) -> None:
    d = init_inbox(tmp_path, "test", "test@example.com", "-L", "basic")
    run_cli("import", str(d), str(sample_mbox), check=True, timeout=600)
    layout = Layout(d)
    db = sqlite3.connect(series_db(layout))
    marks = {b: (p, c, base) for b, p, c, base, _r in db.execute("SELECT * FROM marks")}
    over = OverReader(layout.over_db)
    patch_blobs = [r.blob for r in over.iter_all() if parse_subject(r.subject) is not None]
    assert len(patch_blobs) > 100 and set(patch_blobs) <= set(marks)
    with_id = 0
    for blob in patch_blobs[:60]:
        raw = subprocess.run(
            ["git", "cat-file", "blob", blob], cwd=d / "git" / "0.git", capture_output=True, check=True
        ).stdout
        got = subprocess.run(["git", "patch-id", "--stable"], input=raw, capture_output=True, check=True).stdout
        want = got.split()[0].decode() if got else None
        assert marks[blob][0] == want, blob
        got_marks = parse_stored(raw, fallback_ts=0).series  # what ingest has in hand
        assert got_marks is not None and (got_marks.patchid, got_marks.change_id, got_marks.base_commit) == marks[blob]
        with_id += want is not None
    assert with_id > 20
    # another message: marks only for the review trailers it gives
    others = [r.blob for r in over.iter_all() if parse_subject(r.subject) is None]
    kept = [b for b in others if b in marks]
    assert kept and len(kept) < len(others) / 4
    assert all(marks[b][:3] == (None, None, None) for b in kept)
    before = _series(db)
    assert len(before[0]) > 20
    # every patch of the overview is in a series (or counted as a duplicate in one)
    dups = sum(int(d) for (d,) in db.execute("SELECT dups FROM series"))
    assert len(before[1]) + dups == len(patch_blobs)
    # an inbox indexed before the marks table: every patch's blob read back
    # from git (the reviews given in replies are known after a reindex)
    db.executemany("DELETE FROM marks WHERE blob = ?", [(b,) for b in patch_blobs])
    db.execute("UPDATE meta SET val = 'x' WHERE key = 'over'")
    db.commit()
    sync(layout)
    assert _series(db) == before
    assert db.execute("SELECT count(*) FROM marks").fetchone()[0] > 100


def _tables(db: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    return {
        "series": db.execute("SELECT * FROM series ORDER BY id").fetchall(),
        "series_msg": db.execute("SELECT * FROM series_msg ORDER BY num").fetchall(),
        "review": db.execute("SELECT * FROM review ORDER BY num, kind, who").fetchall(),
    }


def test_incremental_syncs_equal_one_from_scratch(tmp_path: Path, sample_mbox: Path) -> None:
    """The sample archive imported in 7 parts (one incremental sync after
    each, threads cut in the middle: replies and later patches arrive after
    their thread was grouped) gives the very tables of one sync from scratch
    (issue 13: that sync reads the overview its own way)."""
    raw = sample_mbox.read_bytes()
    starts = [0] + [i + 1 for i in range(len(raw)) if raw.startswith(b"\nFrom ", i)]
    assert len(starts) > 250
    d = init_inbox(tmp_path, "test", "test@example.com", "-L", "basic")
    cuts = starts[:: len(starts) // 7 + 1] + [len(raw)]
    for n, (a, b) in enumerate(itertools.pairwise(cuts)):
        part = tmp_path / f"part{n}.mbox"
        part.write_bytes(raw[a:b])
        run_cli("import", str(d), str(part), check=True, timeout=600)
    layout = Layout(d)
    db = sqlite3.connect(series_db(layout))
    assert db.execute("SELECT val FROM meta WHERE key = 'last_num'").fetchone()[0] == str(len(starts))
    incremental = _tables(db)
    assert len(incremental["series"]) > 20 and len(incremental["review"]) > 5
    assert any(r[15] for r in incremental["series"])  # some series reviewed
    db.execute("UPDATE meta SET val = 'x' WHERE key = 'over'")
    db.commit()
    sync(layout)
    assert _tables(db) == incremental
    # and from scratch again over what that sync wrote (its tables are emptied first)
    db.execute("UPDATE meta SET val = 'y' WHERE key = 'over'")
    db.commit()
    sync(layout)
    assert _tables(db) == incremental
    db.close()


def test_earlier_revisions_are_an_index_range(tmp_path: Path) -> None:
    """The lookup of an unthreaded series' earlier patches reads a range of
    (email, version, total, ts), not every series of the author (a list
    that rewrites From: to itself has thousands under one address; a sync
    read them all each time); the old index of an existing file goes."""
    path = tmp_path / "series.sqlite3"
    old = store._connect_rw(path)  # a file as the previous version left it
    old.execute("DROP INDEX series_key_ts")
    old.execute("CREATE INDEX series_key ON series(email, version, total)")
    old.close()
    db = store._connect_rw(path)
    try:
        names = {str(n) for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "series_key_ts" in names and "series_key" not in names
        plan = " ".join(str(r[-1]) for r in db.execute("EXPLAIN QUERY PLAN " + store.EARLIER_SQL, ("a", 1, 2, 3, 4)))
        assert "series_key_ts" in plan and "ts>" in plan.replace(" ", ""), plan
    finally:
        db.close()
