"""OverReader queries on a real overview."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pubinbox.inbox import Inbox
from pubinbox.ingest.writer import InboxWriter
from pubinbox.over.reader import NEWEST_SQL, STATS_SQL
from tests.helpers import inbox_cfg, make_msg


def _fill(tmp_path: Path) -> Inbox:
    (tmp_path / "test" / "git").mkdir(parents=True)
    ibx = inbox_cfg(tmp_path)
    with InboxWriter(ibx) as w:
        for n in range(1, 21):
            refs = [f"m{n - 1}@example.com"] if n % 5 else None
            w.add(
                make_msg(
                    n, refs=refs, subject="topic" if n % 5 else f"new {n}", date=f"Mon, {n:02d} Jan 2023 10:00:00 +0000"
                )
            )
    return Inbox.open(ibx)


def test_by_num_range_and_stats(tmp_path: Path) -> None:
    with _fill(tmp_path) as box:
        assert box.over.stats() == (20, 1, 20)
        assert [r.num for r in box.over.by_range(5, 8)] == [5, 6, 7, 8]
        assert box.over.by_num(21) is None
        r = box.over.by_num(3)
        assert r is not None and r.mid == "m3@example.com" and r.references == ("m2@example.com",)
        raw = box.raw(r)
        # the size with CRLF line ends, as public-inbox's overview (NNTP :bytes, IMAP RFC822.SIZE)
        assert r.lines == 1 and r.bytes == len(raw) + raw.count(b"\n") - raw.count(b"\r\n")
        assert [x.num for x in box.over.iter_all(batch=7)] == list(range(1, 21))
        for x in box.over.iter_all():
            assert box.over.locate(x.num) == (x.blob, x.epoch)
            assert box.raw_at(x.blob, x.epoch) == box.raw(x)
        assert box.over.locate(21) is None and box.over.locate(0) is None


def test_stats_and_generation_skip_ghosts_without_reading_the_table(tmp_path: Path) -> None:
    """Counts and the newest time are of real messages (m1 refers to a
    missing m0: a ghost row, num <= 0), and are read from indexes, never by
    walking the table's rows: that took 350 ms a call at a million messages,
    and every web request's ETag and every NNTP GROUP asked for them.  The
    SQLite VM steps of each query are counted on a table grown by 20,000
    rows: they must not grow with it (the old query's do)."""
    with _fill(tmp_path) as box:
        assert box.over.query("SELECT COUNT(*) FROM over WHERE num <= 0")[0][0] >= 1
        assert box.over.stats() == (20, 1, 20)
        newest = box.over.query("SELECT MAX(ts) FROM over WHERE num > 0")[0][0]
        assert box.over.generation()[1] == newest == box.over.by_num(20).ts  # type: ignore[union-attr]
        path = box.layout.over_db
    db = sqlite3.connect(path)
    db.executemany(
        "INSERT INTO over (num, tid, ts, ds, mid, subject, from_, to_, cc, refs, blob, bytes, lines, epoch)"
        " VALUES (?, 1, ?, ?, ?, 's', 'f', ?, ?, '', 'b', 1, 1, 0)",
        [(n, n, n, f"x{n}@y", "to " * 30, "cc " * 60) for n in range(100, 20_100)],
    )
    db.commit()

    def steps(sql: str) -> int:
        n = [0]

        def tick() -> int:
            n[0] += 1
            return 0

        db.set_progress_handler(tick, 1)
        db.execute(sql).fetchall()
        db.set_progress_handler(None, 1)
        return n[0]

    assert steps("SELECT MAX(num), MAX(ts) FROM over WHERE num > 0") > 20_000  # the old query
    for sql in (STATS_SQL, NEWEST_SQL):
        assert steps(sql) < 200, sql
    assert db.execute(STATS_SQL).fetchone() == (20_020, 1, 20_099)
    db.close()


def test_recent_cursor(tmp_path: Path) -> None:
    with _fill(tmp_path) as box:
        page1 = box.over.recent(5)
        assert [r.num for r in page1] == [20, 19, 18, 17, 16]
        page2 = box.over.recent(5, before=page1[-1].ts)
        assert [r.num for r in page2] == [15, 14, 13, 12, 11]
        back = box.over.recent(5, after=page2[0].ts)
        assert [r.num for r in back] == [20, 19, 18, 17, 16]


def test_thread_and_loose_subject(tmp_path: Path) -> None:
    with _fill(tmp_path) as box:
        t = box.over.thread_of("m7@example.com", loose=False)
        assert [r.num for r in t] == [5, 6, 7, 8, 9]
        # "topic" subjects in other threads are loose matches
        loose = box.over.thread_of("m7@example.com")
        assert len(loose) > len(t) and all(r.subject in ("topic", "new 5") for r in loose)
        assert box.over.mids_like("m1") == sorted(box.over.mids_like("m1"))


def test_refs_ids_and_primary(tmp_path: Path) -> None:
    """References read back as ingest extracted them; every Message-ID and
    X-Alt-Message-ID finds the message; a ghost is filled in only by the
    message numbered under that id (issue 15)."""
    (tmp_path / "test" / "git").mkdir(parents=True)
    ibx = inbox_cfg(tmp_path)
    with InboxWriter(ibx) as w:
        w.add(make_msg(1, mid="a@x"))
        w.add(
            b"From: b@x\nSubject: s\nDate: Mon, 02 Jan 2023 02:00:00 +0000\nMessage-ID: <b@x>\n"
            b"X-Alt-Message-ID: <alt@x>\nReferences: <Message-ID: <abc@example.com>> <a@x>\n\nbody\n"
        )
        w.add(make_msg(3, mid="a@x", body="other content, same id\n"))
    with Inbox.open(ibx) as box:
        b = box.over.by_num(2)
        assert b is not None and b.references == ("Message-ID: <abc@example.com", "a@x", "alt@x")
        assert [r.num for r in box.over.by_mid("alt@x")] == [2]
        assert box.over.primary_by_mid("alt@x") is None and box.over.primary_by_mid("b@x") == b
        third = box.over.by_num(3)
        assert third is not None and third.mid != "a@x"  # stored under a generated id
        assert third.references == ("a@x",)  # ... and threaded under the first a@x, as public-inbox
        assert [r.num for r in box.over.by_mid("a@x")] == [1, 3]
        first = box.over.primary_by_mid("a@x")
        assert first is not None and first.num == 1
