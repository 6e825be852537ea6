"""InboxWriter on real git repos and SQLite files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pubinbox.inbox import Inbox
from pubinbox.ingest.indexing import index_inbox
from pubinbox.ingest.writer import InboxWriter
from pubinbox.store.layout import Layout
from tests.helpers import epoch_log, git, inbox_cfg, make_msg


def test_add_creates_v2_layout_and_commit(tmp_path: Path) -> None:
    ibx = inbox_cfg(tmp_path)
    (tmp_path / "test").mkdir()
    Layout(ibx.inboxdir).git_dir.mkdir()
    with InboxWriter(ibx) as w:
        res = w.add(make_msg(1))
    assert res.status == "added" and res.num == 1 and res.mid == "m1@example.com"
    lay = Layout(ibx.inboxdir)
    assert lay.epochs() == [0]
    assert (lay.all_git / "objects/info/alternates").read_text() == "../../git/0.git/objects\n"
    assert (lay.epoch(0) / "config").read_text().endswith("[include]\n\tpath = ../../all.git/config\n")
    commits = epoch_log(lay.epoch(0))
    assert len(commits) == 1
    body = git(lay.epoch(0), "cat-file", "commit", commits[0])
    assert "author Alice Example <alice@example.com> 1672621200 +0000\n" in body
    assert "committer test <test@example.com> 1672621200 +0000\n" in body
    assert body.endswith("\n\nmessage 1\n")
    assert git(lay.epoch(0), "ls-tree", commits[0]).split()[-1] == "m"
    blob = git(lay.epoch(0), "cat-file", "blob", f"{commits[0]}:m")
    assert blob.encode() == make_msg(1)
    mm = sqlite3.connect(lay.msgmap)
    assert mm.execute("SELECT num, mid FROM msgmap").fetchall() == [(1, "m1@example.com")]
    assert dict(mm.execute("SELECT key, val FROM meta"))["num_highwater"] == "1"


def _new(tmp_path: Path) -> Path:
    d = tmp_path / "test"
    (d / "git").mkdir(parents=True)
    return d


def test_exact_resend_is_dropped_and_reuse_gets_generated_mid(tmp_path: Path) -> None:
    _new(tmp_path)
    ibx = inbox_cfg(tmp_path)
    with InboxWriter(ibx) as w:
        assert w.add(make_msg(1)).status == "added"
        assert w.add(make_msg(1)).status == "duplicate"  # same batch, not yet in git
    with InboxWriter(ibx) as w:
        assert w.add(make_msg(1)).status == "duplicate"  # from git
        other = w.add(make_msg(1, body="different body\n"))
    assert other.status == "added" and other.num == 2
    assert other.reused_mid == "m1@example.com"
    assert other.mid is not None and other.mid.endswith("@z")
    with Inbox.open(ibx) as box:
        rows = box.over.by_mid("m1@example.com")
        assert [r.num for r in rows] == [1, 2]
        assert rows[0].tid == rows[1].tid  # the newcomer joins the original's thread
        raw = box.raw(rows[1])
        assert raw.count(b"Message-ID:") == 2 and f"<{other.mid}>".encode() in raw


def test_message_without_message_id_gets_one(tmp_path: Path) -> None:
    _new(tmp_path)
    ibx = inbox_cfg(tmp_path)
    raw = b"From: a@example.com\nSubject: no id\nDate: Mon, 02 Jan 2023 10:00:00 +0000\n\nhello\n"
    with InboxWriter(ibx) as w:
        res = w.add(raw)
    assert res.status == "added" and res.mid and res.mid.endswith("@z")
    with Inbox.open(ibx) as box:
        ((_row, stored),) = box.raw_by_mid(res.mid)
        assert stored.startswith(raw.split(b"\n\n")[0])


def test_threading_ghost_vivify_and_merge(tmp_path: Path) -> None:
    _new(tmp_path)
    ibx = inbox_cfg(tmp_path)
    with InboxWriter(ibx) as w:
        w.add(make_msg(3, refs=["m1@example.com", "m2@example.com"]))  # parent unknown: ghosts
        w.add(make_msg(10))  # unrelated
        w.add(make_msg(4, refs=["x@example.com"]))  # another thread, ghost x
        w.add(make_msg(1))  # vivifies the root ghost
        w.add(make_msg(5, refs=["m1@example.com", "x@example.com"]))  # joins both: merge
    with Inbox.open(ibx) as box:
        t = {r.mid: r.tid for r in box.over.by_range(1, 100)}
        assert t["m3@example.com"] == t["m1@example.com"] == t["m5@example.com"] == t["m4@example.com"]
        assert t["m10@example.com"] != t["m1@example.com"]
        ghosts = box.over.db.execute("SELECT COUNT(*) FROM over WHERE num < 0").fetchone()[0]
        assert ghosts == 2  # m2 and x still missing
        thread = box.over.thread_of("m1@example.com")
        assert {r.mid for r in thread} == {"m1@example.com", "m3@example.com", "m4@example.com", "m5@example.com"}


def test_epoch_rollover(tmp_path: Path) -> None:
    _new(tmp_path)
    ibx = inbox_cfg(tmp_path)
    big = "x" * 2000 + "\n"
    with InboxWriter(ibx, epoch_size=10_000) as w:
        for n in range(1, 16):
            w.add(make_msg(n, body=big))
    lay = Layout(ibx.inboxdir)
    assert len(lay.epochs()) >= 3
    alts = (lay.all_git / "objects/info/alternates").read_text().splitlines()
    assert alts == [f"../../git/{n}.git/objects" for n in lay.epochs()]
    for n in lay.epochs()[1:]:
        first = epoch_log(lay.epoch(n))[0]
        assert "parent" not in git(lay.epoch(n), "cat-file", "commit", first)
    total = sum(len(epoch_log(lay.epoch(n))) for n in lay.epochs())
    assert total == 15
    # reading through all.git finds every blob; reindex from git gives the same numbers
    with Inbox.open(ibx) as box:
        before = [(r.num, r.mid, r.epoch) for r in box.over.by_range(1, 100)]
        assert [box.raw(r)[:5] for r in box.over.by_range(1, 100)] == [b"From:"] * 15
    index_inbox(ibx, reindex=True)
    with Inbox.open(ibx) as box:
        assert [(r.num, r.mid, r.epoch) for r in box.over.by_range(1, 100)] == before


def test_index_catches_up_after_git_only_changes(tmp_path: Path) -> None:
    """Commits that reached git without the databases (a crash between the
    two) are indexed by the next writer."""
    _new(tmp_path)
    ibx = inbox_cfg(tmp_path)
    with InboxWriter(ibx) as w:
        w.add(make_msg(1))
    lay = Layout(ibx.inboxdir)
    # simulate: git has more than the overview knows
    (lay.over_db).unlink()
    for suffix in ("-wal", "-shm"):
        p = Path(str(lay.over_db) + suffix)
        if p.exists():
            p.unlink()
    with InboxWriter(ibx) as w:
        assert w.index_stats.added == 1
        w.add(make_msg(2))
    with Inbox.open(ibx) as box:
        assert [r.num for r in box.over.by_range(1, 10)] == [1, 2]


def test_removal_is_a_d_commit_and_indexes_away(tmp_path: Path) -> None:
    _new(tmp_path)
    ibx = inbox_cfg(tmp_path)
    with InboxWriter(ibx) as w:
        for n in range(1, 4):
            w.add(make_msg(n))
    with Inbox.open(ibx) as box:
        victim = box.over.by_num(2)
        assert victim is not None
    with InboxWriter(ibx) as w:
        assert w.remove_blob(victim.blob, "spam") == 1
    lay = Layout(ibx.inboxdir)
    last = epoch_log(lay.epoch(0))[-1]
    assert git(lay.epoch(0), "ls-tree", last).split() == ["100644", "blob", victim.blob, "d"]
    assert git(lay.epoch(0), "log", "-1", "--format=%s", last).strip() == "spam"
    mm = sqlite3.connect(lay.msgmap)
    assert [n for (n,) in mm.execute("SELECT num FROM msgmap ORDER BY num")] == [1, 3]
    with Inbox.open(ibx) as box:
        assert [r.num for r in box.over.by_range(1, 10)] == [1, 3]
    # rebuilt from git alone, the removal still holds; a new message gets 4, never 2
    index_inbox(ibx, reindex=True)
    with InboxWriter(ibx) as w:
        assert w.add(make_msg(9)).num == 4
    with Inbox.open(ibx) as box:
        assert [r.num for r in box.over.by_range(1, 10)] == [1, 3, 4]


def test_stale_git_locks_from_a_killed_fast_import_are_cleared(tmp_path: Path) -> None:
    _new(tmp_path)
    ibx = inbox_cfg(tmp_path)
    with InboxWriter(ibx) as w:
        w.add(make_msg(1))
    epoch = Layout(ibx.inboxdir).epoch(0)
    # what a SIGKILLed git fast-import leaves behind
    (epoch / "HEAD.lock").write_text("")
    (epoch / "refs" / "heads" / "master.lock").write_text("")
    with InboxWriter(ibx) as w:
        assert w.add(make_msg(2)).status == "added"
    assert len(epoch_log(epoch)) == 2
    assert not (epoch / "HEAD.lock").exists()
