"""Parsing ahead during the walk (ingest/prefetch.py) and the walk it rides
on (GitReader.changes): same overview as an index in one process, on a
real epoch; a history with a merge is still read oldest first."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from pubinbox.ingest import indexer, prefetch
from pubinbox.ingest.indexing import index_inbox
from pubinbox.ingest.writer import InboxWriter
from pubinbox.store.git import Change, GitReader
from pubinbox.store.layout import Layout
from tests.helpers import epoch_log, git, inbox_cfg, make_msg

ROWS = "SELECT num, tid, sid, ts, ds, mid, subject, refs, blob, bytes, lines FROM over ORDER BY num"


def _archive(tmp_path: Path) -> Path:
    """60 messages in threads, a reply arriving before its parent, a
    message removed, and one stored twice under one Message-ID."""
    ibx = inbox_cfg(tmp_path)
    (tmp_path / "test").mkdir()
    Layout(ibx.inboxdir).git_dir.mkdir()
    sent = {}
    with InboxWriter(ibx) as w:
        for n in range(1, 61):
            refs = [f"m{n - 1 - (n - 1) % 5}@example.com"] if n % 5 else None
            if n == 20:
                refs = ["m21@example.com"]  # its parent comes next
            sent[n] = make_msg(n, refs=refs)
            w.add(sent[n])
        w.add(make_msg(7, body="another copy of message 7\n"))
        assert w.remove_matching(sent[33]) == [(33, "m33@example.com")]
    return ibx.inboxdir


def _rows(inboxdir: Path) -> list[tuple[object, ...]]:
    db = sqlite3.connect(Layout(inboxdir).over_db)
    try:
        return db.execute(ROWS).fetchall()
    finally:
        db.close()


def test_parsed_ahead_gives_the_same_overview(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inboxdir = _archive(tmp_path)
    ibx = inbox_cfg(tmp_path)
    index_inbox(ibx, reindex=True, jobs=1)
    alone = _rows(inboxdir)
    assert len([r for r in alone if int(r[0]) > 0]) == 60  # 61 added, one removed
    monkeypatch.setattr(indexer, "PARALLEL_MIN", 8)
    monkeypatch.setattr(indexer, "CHUNK", 4)
    monkeypatch.setattr(indexer, "PREFETCH", 24)
    taken: list[str] = []
    take = prefetch.Prefetch.take

    def counting(self: prefetch.Prefetch, commit: str) -> object:
        taken.append(commit)
        return take(self, commit)

    monkeypatch.setattr(prefetch.Prefetch, "take", counting)
    index_inbox(ibx, reindex=True, jobs=2)
    assert _rows(inboxdir) == alone
    # some of the newest were parsed ahead, never more than the limit
    assert 0 < len(taken) <= 24, taken
    newest = epoch_log(Layout(inboxdir).epoch(0))[-40:]
    assert set(taken) <= set(newest)


def _commit(epoch: Path, kind: str, blob: str, parents: list[str], when: int) -> str:
    tree = subprocess.run(
        ["git", f"--git-dir={epoch}", "mktree"], input=f"100644 blob {blob}\t{kind}\n", capture_output=True,
        text=True, check=True,
    ).stdout.strip()  # fmt: skip
    args = ["commit-tree", tree, "-m", "x"]
    for p in parents:
        args += ["-p", p]
    env = {"GIT_AUTHOR_DATE": f"{when} +0000", "GIT_COMMITTER_DATE": f"{when} +0000"}
    out = subprocess.run(
        ["git", f"--git-dir={epoch}", *args], capture_output=True, text=True, check=True,
        env={**env, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b", "GIT_COMMITTER_NAME": "a",
             "GIT_COMMITTER_EMAIL": "a@b", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    return out.stdout.strip()


def test_walk_of_a_line_is_seen_newest_first(tmp_path: Path) -> None:
    inboxdir = _archive(tmp_path)
    reader = GitReader(Layout(inboxdir))
    seen: list[Change] = []
    got = reader.changes(0, None, walked=seen.append)
    log = epoch_log(Layout(inboxdir).epoch(0))
    assert [c.commit for c in got] == log
    assert [c.commit for c in seen] == log[::-1]
    assert [c.kind for c in got].count("d") == 1
    # from a commit on: only what follows it
    assert [c.commit for c in reader.changes(0, log[49])] == log[50:]


def test_walk_with_a_merge_is_sorted(tmp_path: Path) -> None:
    """A merge (no v2 writer makes one, but git allows it) is walked again
    in topological order: parents before children, every commit once."""
    inboxdir = _archive(tmp_path)
    epoch = Layout(inboxdir).epoch(0)
    log = epoch_log(epoch)
    blob = git(epoch, "rev-parse", f"{log[3]}:m").strip()
    side = _commit(epoch, "m", blob, [log[10]], 1_700_000_000)
    merge = _commit(epoch, "m", blob, [log[-1], side], 1_700_000_100)
    git(epoch, "update-ref", "refs/heads/master", merge)
    seen: list[Change] = []
    got = [c.commit for c in GitReader(Layout(inboxdir)).changes(0, None, walked=seen.append)]
    assert sorted(got) == sorted([*log, side, merge])
    assert got[-1] == merge and got.index(side) > got.index(log[10])
    assert got.index(log[-1]) < got.index(merge)
