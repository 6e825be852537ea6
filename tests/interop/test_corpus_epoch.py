"""A whole real list, as a v2 epoch written by another tool (corpus tier):
``pubinbox index`` on a clone of it, compared with ``public-inbox-index`` on
another clone of the same epoch."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import zlib
from pathlib import Path

import pytest

from tests.helpers import run_cli

pytestmark = [pytest.mark.corpus, pytest.mark.slow]

BUNDLE = "epochs/linux-erofs.lists.ozlabs.org.0.bundle"


def _clone(corpus: Path, inbox: Path) -> None:
    (inbox / "git").mkdir(parents=True)
    subprocess.run(["git", "clone", "-q", "--mirror", str(corpus / BUNDLE), str(inbox / "git" / "0.git")], check=True)


@pytest.mark.peer
def test_index_real_epoch_matches_public_inbox(tmp_path: Path, corpus_dir: Path) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    _clone(corpus_dir, ours)
    _clone(corpus_dir, theirs)
    p = run_cli("index", str(ours), timeout=1200)
    assert p.returncode == 0, p.stderr
    # every commit is accounted for: indexed, or an exact copy of one indexed
    m = re.search(r"indexed (\d+) messages \((\d+) exact copies skipped\)", p.stderr.decode())
    assert m and int(m.group(1)) + int(m.group(2)) == 15218, p.stderr
    env_cfg = tmp_path / "pi.config"
    import os

    env = dict(os.environ, PI_CONFIG=str(env_cfg))
    subprocess.run(
        [
            "public-inbox-init",
            "-V2",
            "-L",
            "basic",
            "erofs",
            str(theirs),
            "http://x/erofs",
            "linux-erofs@lists.ozlabs.org",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    p2 = subprocess.run(["public-inbox-index", str(theirs)], env=env, capture_output=True, timeout=1500, check=False)
    assert p2.returncode == 0, p2.stderr

    pi = {}
    for num, tid, ddd in sqlite3.connect(theirs / "xap15" / "over.sqlite3").execute(
        "SELECT num, tid, ddd FROM over WHERE num > 0"
    ):
        pi[zlib.decompress(ddd).split(b"\n")[5].decode()] = (int(num), int(tid))
    db = sqlite3.connect(ours / "pubinbox" / "over.sqlite3")
    us = {str(b): (int(n), int(t)) for n, b, t in db.execute("SELECT num, blob, tid FROM over WHERE num > 0")}
    # public-inbox skips messages without a Message-ID and second copies whose
    # Message-IDs are all taken; pubinbox keeps them under generated IDs.  So
    # numbers can shift after such a message (each program has its own msgmap
    # here; on one inbox they share msgmap and agree), but the order is the same.
    assert set(pi) <= set(us), len(set(pi) - set(us))
    extra = set(us) - set(pi)
    mid_of = dict(db.execute("SELECT blob, mid FROM over WHERE num > 0"))
    assert all(mid_of[b].endswith("@z") for b in extra), "the extras are kept under generated Message-IDs"
    assert len(extra) < 100
    order_pi = sorted(pi, key=lambda b: pi[b][0])
    order_us = [b for b in sorted(us, key=lambda b: us[b][0]) if b in pi]
    assert order_us == order_pi
    if not extra:
        assert {b: v[0] for b, v in us.items()} == {b: v[0] for b, v in pi.items()}

    # threading: messages public-inbox puts in one thread are in one thread here too
    def groups(m: dict[str, tuple[int, int]]) -> set[frozenset[str]]:
        by: dict[int, set[str]] = {}
        for b in pi:
            by.setdefault(m[b][1], set()).add(b)
        return {frozenset(g) for g in by.values()}

    assert groups(us) == groups(pi)
    # and our msgmap agrees with the overview
    mm = dict(sqlite3.connect(ours / "msgmap.sqlite3").execute("SELECT num, mid FROM msgmap"))
    assert set(mm) == {v[0] for v in us.values()}
