"""pubinbox learn spam|ham|rm: removal by content, overview/search/msgmap
updated, a message that is not archived changes nothing."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.helpers import epoch_log, git, make_msg, run_cli


def _setup(tmp_path: Path) -> tuple[dict[str, str], Path, Path]:
    cfg = tmp_path / "config"
    env = {"PI_CONFIG": str(cfg), "PI_EMERGENCY": str(tmp_path / "em")}
    a = tmp_path / "a"
    b = tmp_path / "b"
    for name, d in (("a", a), ("b", b)):
        p = run_cli("init", "-L", "full", name, str(d), f"http://x/{name}", f"{name}@example.com", env=env)
        assert p.returncode == 0, p.stderr
    subprocess.run(["git", "config", "-f", str(cfg), "publicinboxmda.spamcheck", "none"], check=True)
    return env, a, b


def _deliver(env: dict[str, str], to: str, raw: bytes) -> None:
    p = run_cli("mda", stdin=raw, env=dict(env, ORIGINAL_RECIPIENT=to))
    assert p.returncode == 0, p.stderr


def _nums(d: Path) -> list[int]:
    return [int(n) for (n,) in sqlite3.connect(d / "msgmap.sqlite3").execute("SELECT num FROM msgmap ORDER BY num")]


def _over_nums(d: Path) -> list[int]:
    db = sqlite3.connect(d / "pubinbox" / "over.sqlite3")
    return [int(n) for (n,) in db.execute("SELECT num FROM over WHERE num > 0 ORDER BY num")]


def _q(env: dict[str, str], name: str, query: str) -> str:
    p = run_cli("q", "-I", name, query, env=env)
    return p.stdout.decode()


def test_rm_removes_by_content_from_addressed_inbox(tmp_path: Path) -> None:
    env, a, b = _setup(tmp_path)
    msgs = [make_msg(i, to="a@example.com, b@example.com", body=f"zanzibar{i} body\n") for i in range(1, 4)]
    for raw in msgs:
        _deliver(env, "a@example.com", raw)
        _deliver(env, "b@example.com", raw)
    assert "m2@example.com" in _q(env, "a", "zanzibar2")
    before_b = epoch_log(b / "git" / "0.git")
    p = run_cli("learn", "rm", "-I", "a", stdin=msgs[1], env=env)
    assert p.returncode == 0, p.stderr
    assert b"a: removed #2 <m2@example.com>" in p.stdout
    assert _nums(a) == [1, 3] and _over_nums(a) == [1, 3]
    assert "m2@example.com" not in _q(env, "a", "zanzibar2")
    assert "m3@example.com" in _q(env, "a", "zanzibar3")
    # the d commit: one tree entry "d" holding the stored blob, message "rm"
    tip = epoch_log(a / "git" / "0.git")[-1]
    assert git(a / "git" / "0.git", "log", "-1", "--format=%s|%an <%ae>", tip).strip() == "rm|a <a@example.com>"
    tree = git(a / "git" / "0.git", "ls-tree", tip).split()
    assert tree[3] == "d"
    stored = git(a / "git" / "0.git", "rev-parse", f"{tip}~1:m").strip()
    assert tree[2] != stored  # the removed message is the first one's, not the last added
    assert (
        b"m2@example.com"
        in subprocess.run(
            ["git", f"--git-dir={a / 'git' / '0.git'}", "cat-file", "blob", tree[2]], capture_output=True, check=True
        ).stdout
    )
    # b untouched (-I a)
    assert epoch_log(b / "git" / "0.git") == before_b and _nums(b) == [1, 2, 3]
    # the addressed route takes b too (To has both)
    p = run_cli("learn", "rm", stdin=msgs[1], env=env)
    assert p.returncode == 0 and b"b: removed #2" in p.stdout
    assert _nums(b) == [1, 3]


def test_rm_of_unarchived_or_changed_message_changes_nothing(tmp_path: Path) -> None:
    env, a, _b = _setup(tmp_path)
    _deliver(env, "a@example.com", make_msg(1, to="a@example.com"))
    log = epoch_log(a / "git" / "0.git")
    for raw in (
        make_msg(2, to="a@example.com"),  # never archived
        make_msg(1, to="a@example.com", body="same Message-ID, other content\n"),
    ):
        p = run_cli("learn", "rm", "--all", stdin=raw, env=env)
        assert p.returncode == 0, p.stderr
        assert b"not found" in p.stderr and p.stdout == b""
    assert epoch_log(a / "git" / "0.git") == log and _nums(a) == [1]


def test_spam_removes_everywhere_and_ham_adds(tmp_path: Path) -> None:
    env, a, b = _setup(tmp_path)
    spam = make_msg(7, to="a@example.com, b@example.com", subject="cheap pills")
    _deliver(env, "a@example.com", spam)
    _deliver(env, "b@example.com", spam)
    p = run_cli("learn", "spam", stdin=b"From mboxrd@z Thu Jan  1 00:00:00 1970\n" + spam, env=env)
    assert p.returncode == 0, p.stderr
    assert _nums(a) == [] and _nums(b) == []
    assert git(b / "git" / "0.git", "log", "-1", "--format=%s").strip() == "spam"
    # ham: back in the inboxes named (or addressed), under a new number
    p = run_cli("learn", "ham", "-I", "a", stdin=spam, env=env)
    assert p.returncode == 0, p.stderr
    assert _nums(a) == [2] and _nums(b) == []


def test_training_needs_spamc(tmp_path: Path) -> None:
    env, a, _b = _setup(tmp_path)
    subprocess.run(["git", "config", "-f", env["PI_CONFIG"], "publicinboxmda.spamcheck", "spamc"], check=True)
    raw = make_msg(1, to="a@example.com")
    env2 = dict(env, PATH=str(tmp_path / "nobin") + ":/usr/bin:/bin")
    (tmp_path / "nobin").mkdir()
    (tmp_path / "nobin" / "spamc").write_text("#!/bin/sh\nexit 69\n")
    (tmp_path / "nobin" / "spamc").chmod(0o755)
    p = run_cli("learn", "ham", stdin=raw, env=env2)
    # stored anyway, as public-inbox does; the failed training is the exit status
    assert p.returncode == 1 and b"spamc -L ham exited with status 69" in p.stderr
    assert _nums(a) == [1]


@pytest.mark.parametrize("args", [["learn", "bogus"], ["learn", "rm", "--all", "-I", "a"]])
def test_usage_errors(tmp_path: Path, args: list[str]) -> None:
    env, _a, _b = _setup(tmp_path)
    p = run_cli(*args, stdin=make_msg(1), env=env)
    assert p.returncode == 2 and b"Traceback" not in p.stderr


def test_unknown_inbox_and_empty_input(tmp_path: Path) -> None:
    env, _a, _b = _setup(tmp_path)
    p = run_cli("learn", "rm", "-I", "nope", stdin=make_msg(1), env=env)
    assert p.returncode == 67 and b"Traceback" not in p.stderr
    p = run_cli("learn", "rm", "--all", stdin=b"", env=env)
    assert p.returncode != 0 and b"empty" in p.stderr and b"Traceback" not in p.stderr
