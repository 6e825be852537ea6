"""learn rm/spam against public-inbox-learn 1.9 on twin inboxes (the same
messages through both programs' mda give byte-identical commits): the same
``d`` tree, commit message and ident, the same msgmap afterwards; and each
program's indexer agrees with the other's writer."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.helpers import git, run_cli
from tests.interop.test_public_inbox import _our_over, _pi, _pi_env, _pi_init, _pi_over, _sample_messages

pytestmark = pytest.mark.peer


def _msgmap(d: Path) -> list[tuple[int, str]]:
    db = sqlite3.connect(d / "msgmap.sqlite3")
    return [(int(n), str(m)) for n, m in db.execute("SELECT num, mid FROM msgmap ORDER BY num")]


def _tip(d: Path, fmt: str) -> str:
    return git(d / "git" / "0.git", "log", "-1", f"--format={fmt}").strip()


def test_learn_rm_and_spam_match_public_inbox(tmp_path: Path, sample_mbox: Path) -> None:
    msgs = _sample_messages(sample_mbox, 14)
    pi_env, our_env = _pi_env(tmp_path, "pi"), _pi_env(tmp_path, "ours")
    pi_dir, our_dir = tmp_path / "pi" / "test", tmp_path / "ours" / "test"
    _pi_init(tmp_path, pi_env, "test", pi_dir)
    p = run_cli("init", "-L", "basic", "test", str(our_dir), "http://127.0.0.1/test", "test@example.com", env=our_env)
    assert p.returncode == 0, p.stderr
    subprocess.run(["git", "config", "-f", our_env["PI_CONFIG"], "publicinboxmda.spamcheck", "none"], check=True)
    stored = []
    for raw in msgs:
        a = _pi(["public-inbox-mda", "--no-precheck"], dict(pi_env, ORIGINAL_RECIPIENT="test@example.com"), raw)
        b = run_cli("mda", "--no-precheck", stdin=raw, env=dict(our_env, ORIGINAL_RECIPIENT="test@example.com"))
        assert a.returncode == b.returncode, (a.stderr, b.stderr)
        if b.returncode == 0:  # 65: HTML, refused by both
            stored.append(raw)
    msgs = stored
    assert len(msgs) >= 10
    assert _msgmap(pi_dir) == _msgmap(our_dir)

    for mode, raw in (("rm", msgs[4]), ("rm", msgs[9]), ("spam", msgs[2])):
        args = ["rm", "--all"] if mode == "rm" else ["spam"]
        a = _pi(["public-inbox-learn", *args], pi_env, raw)
        b = run_cli("learn", *args, stdin=raw, env=our_env)
        # public-inbox-learn spam runs spamc whatever spamcheck says (and fails
        # without it); the removal is done before that either way
        assert b.returncode == 0, b.stderr
        assert a.returncode == 0 or mode == "spam", a.stderr
        assert _tip(pi_dir, "%s|%an <%ae>|%cn <%ce>") == _tip(our_dir, "%s|%an <%ae>|%cn <%ce>")
        assert git(pi_dir / "git" / "0.git", "ls-tree", "HEAD") == git(our_dir / "git" / "0.git", "ls-tree", "HEAD")
        assert _msgmap(pi_dir) == _msgmap(our_dir)

    # not archived any more: both leave git alone
    before = (_tip(pi_dir, "%H"), _tip(our_dir, "%H"))
    _pi(["public-inbox-learn", "rm", "--all"], pi_env, msgs[4])
    b = run_cli("learn", "rm", "--all", stdin=msgs[4], env=our_env)
    assert b.returncode == 0 and b"not found" in b.stderr
    assert (_tip(pi_dir, "%H"), _tip(our_dir, "%H")) == before

    # public-inbox indexes what our learn wrote, we index what its learn wrote
    p = _pi(["public-inbox-index", str(our_dir)], our_env)
    assert p.returncode == 0, p.stderr
    assert _pi_over(our_dir) == _our_over(our_dir)
    assert len(_our_over(our_dir)) == len(msgs) - 3
    p = run_cli("index", str(pi_dir), env=pi_env)
    assert p.returncode == 0, p.stderr
    assert _our_over(pi_dir) == _our_over(our_dir)
