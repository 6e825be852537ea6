"""pubinbox purge / edit: history rewritten, other numbers kept, every index
updated, the audit log, --dry-run, and SIGKILL at any moment leaves the
inbox as before or as after."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import PUBINBOX, epoch_log, git, make_msg, run_cli


def _setup(tmp_path: Path, n: int = 6) -> tuple[dict[str, str], Path, list[bytes]]:
    cfg = tmp_path / "config"
    env = {"PI_CONFIG": str(cfg), "PI_EMERGENCY": str(tmp_path / "em")}
    d = tmp_path / "a"
    p = run_cli("init", "-L", "full", "a", str(d), "http://x/a", "a@example.com", env=env)
    assert p.returncode == 0, p.stderr
    subprocess.run(["git", "config", "-f", str(cfg), "publicinboxmda.spamcheck", "none"], check=True)
    msgs = [make_msg(i, to="a@example.com", body=f"secretword{i} in body\n") for i in range(1, n + 1)]
    for raw in msgs:
        p = run_cli("mda", stdin=raw, env=dict(env, ORIGINAL_RECIPIENT="a@example.com"))
        assert p.returncode == 0, p.stderr
    return env, d, msgs


def _nums(d: Path) -> list[int]:
    return [int(n) for (n,) in sqlite3.connect(d / "msgmap.sqlite3").execute("SELECT num FROM msgmap ORDER BY num")]


def _over(d: Path) -> dict[int, str]:
    db = sqlite3.connect(d / "pubinbox" / "over.sqlite3")
    return {int(n): str(b) for n, b in db.execute("SELECT num, blob FROM over WHERE num > 0")}


def _found(env: dict[str, str], word: str) -> list[int]:
    p = run_cli("q", "-I", "a", "-o", "json", word, env=env)
    return sorted(int(r["num"]) for r in json.loads(p.stdout or b"[]"))


def _has_object(d: Path, oid: str) -> bool:
    proc = subprocess.run(
        ["git", f"--git-dir={d / 'git' / '0.git'}", "cat-file", "-e", oid], capture_output=True, check=False
    )
    return proc.returncode == 0


def test_purge_rewrites_and_keeps_numbers(tmp_path: Path) -> None:
    env, d, msgs = _setup(tmp_path)
    before = epoch_log(d / "git" / "0.git")
    blob = _over(d)[3]
    # --dry-run: says what, changes nothing
    p = run_cli("purge", "--dry-run", stdin=msgs[2], env=env)
    assert p.returncode == 0 and b"a: would purge #3 <m3@example.com>" in p.stdout
    assert epoch_log(d / "git" / "0.git") == before
    p = run_cli("purge", "--reason", "court order 42", stdin=msgs[2], env=env)
    assert p.returncode == 0, p.stderr
    assert b"a: purged #3 <m3@example.com>" in p.stdout
    after = epoch_log(d / "git" / "0.git")
    assert after[:2] == before[:2] and after[2:] != before[2:] and len(after) == len(before)
    purged = after[2]
    assert git(d / "git" / "0.git", "log", "-1", "--format=%an|%ae|%s", purged).strip() == f"||purged {blob}"
    assert git(d / "git" / "0.git", "rev-parse", f"{purged}:m").strip() == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    assert not _has_object(d, blob)  # the text is gone from the object database
    assert _nums(d) == [1, 2, 4, 5, 6] and sorted(_over(d)) == [1, 2, 4, 5, 6]
    assert _found(env, "secretword3") == [] and _found(env, "secretword5") == [5]
    audit = [json.loads(x) for x in (d / "pubinbox" / "audit.log").read_text().splitlines()]
    assert len(audit) == 1 and audit[0]["action"] == "purge" and audit[0]["reason"] == "court order 42"
    assert audit[0]["changes"] == [{"num": 3, "mid": "m3@example.com", "blob": blob, "new_blob": None}]
    assert audit[0]["old_tip"] == before[-1] and audit[0]["new_tip"] == after[-1] and audit[0]["user"]
    # again: not found, nothing changed
    p = run_cli("purge", "--all", stdin=msgs[2], env=env)
    assert p.returncode == 0 and b"not found" in p.stderr and epoch_log(d / "git" / "0.git") == after
    # new mail after a purge gets the next number; index agrees with itself
    p = run_cli("mda", stdin=make_msg(7, to="a@example.com"), env=dict(env, ORIGINAL_RECIPIENT="a@example.com"))
    assert p.returncode == 0, p.stderr
    assert _nums(d) == [1, 2, 4, 5, 6, 7]
    over = _over(d)
    p = run_cli("index", "--reindex", str(d), env=env)
    assert p.returncode == 0, p.stderr
    assert _over(d) == over


def test_edit_replaces_in_place(tmp_path: Path) -> None:
    env, d, _msgs = _setup(tmp_path)
    script = tmp_path / "ed.sh"
    script.write_text('#!/bin/sh\nsed -i "s/secretword4/redacted/" "$1"\n')
    script.chmod(0o755)
    old = _over(d)
    p = run_cli("edit", "-m", "<m4@example.com>", "--reason", "pii", env=dict(env, EDITOR=str(script)))
    assert p.returncode == 0, p.stderr
    assert b"a: edited #4 <m4@example.com>" in p.stdout
    new = _over(d)
    assert sorted(new) == sorted(old) and new[4] != old[4] and all(new[n] == old[n] for n in old if n != 4)
    assert _found(env, "secretword4") == [] and _found(env, "redacted") == [4]
    text = subprocess.run(
        ["git", f"--git-dir={d / 'git' / '0.git'}", "cat-file", "blob", new[4]], capture_output=True, check=True
    ).stdout
    assert text.startswith(b"From: Alice") and b"redacted in body" in text  # no mbox From line left
    assert not _has_object(d, old[4])
    # an editor that changes nothing: nothing happens
    tip = epoch_log(d / "git" / "0.git")
    p = run_cli("edit", "-m", "m4@example.com", env=dict(env, EDITOR="true"))
    assert p.returncode == 0 and b"unchanged #4" in p.stdout and epoch_log(d / "git" / "0.git") == tip
    # changing the Message-ID needs --force; a failing editor changes nothing
    script.write_text('#!/bin/sh\nsed -i "s/m4@example.com/other@example.com/" "$1"\n')
    p = run_cli("edit", "-m", "m4@example.com", env=dict(env, EDITOR=str(script)))
    assert p.returncode == 1 and b"Message-ID" in p.stderr and epoch_log(d / "git" / "0.git") == tip
    p = run_cli("edit", "-m", "m4@example.com", env=dict(env, EDITOR="false"))
    assert p.returncode == 1 and b"Traceback" not in p.stderr and epoch_log(d / "git" / "0.git") == tip
    assert len((d / "pubinbox" / "audit.log").read_text().splitlines()) == 1


@pytest.mark.parametrize("delay", [0.0, 0.3, 0.6, 0.9, 1.2, 1.6, 2.0, 3.0])
def test_sigkill_leaves_before_or_after(tmp_path: Path, delay: float) -> None:
    env, d, msgs = _setup(tmp_path, n=30)
    base = tmp_path / "base"
    shutil.copytree(d, base, symlinks=True)
    before = epoch_log(d / "git" / "0.git")
    proc = subprocess.Popen([*PUBINBOX, "purge", "-I", "a"], stdin=subprocess.PIPE, env=dict(os.environ, **env))
    assert proc.stdin is not None
    proc.stdin.write(msgs[9])
    proc.stdin.close()
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    tip = epoch_log(d / "git" / "0.git")
    # git: as before or as after, never anything else
    assert tip == before or (tip[:9] == before[:9] and len(tip) == len(before))
    # the next writer finishes (or drops) what was started
    p = run_cli("purge", "--dry-run", "-I", "a", stdin=msgs[0], env=env)
    assert p.returncode == 0, p.stderr
    assert not (d / "pubinbox" / "rewrite.journal").exists()
    want = [n for n in range(1, 31) if tip == before or n != 10]
    assert _nums(d) == want and sorted(_over(d)) == want
    assert _found(env, "secretword10") == ([] if tip != before else [10])
    audit = d / "pubinbox" / "audit.log"
    assert (tip != before) == (audit.exists() and len(audit.read_text().splitlines()) == 1)


def test_index_finishes_a_killed_purge(tmp_path: Path) -> None:
    """A purge killed after moving the branch and before the databases
    followed: `pubinbox index` (not only the next writer) finishes it."""
    env, d, msgs = _setup(tmp_path, n=4)
    before = tmp_path / "before"
    shutil.copytree(d, before, symlinks=True)
    p = run_cli("purge", "-I", "a", stdin=msgs[1], env=env)
    assert p.returncode == 0, p.stderr
    journal = (d / "pubinbox" / "audit.log").read_text().splitlines()[-1]  # the audit record is the journal
    # git as after the purge; msgmap, overview and search as before it; the journal in place
    shutil.rmtree(d / "pubinbox")
    shutil.copytree(before / "pubinbox", d / "pubinbox", symlinks=True)
    shutil.copy2(before / "msgmap.sqlite3", d / "msgmap.sqlite3")
    (d / "pubinbox" / "rewrite.journal").write_text(journal)
    assert _nums(d) == [1, 2, 3, 4] and _found(env, "secretword2") == [2]
    p = run_cli("index", str(d), env=env)
    assert p.returncode == 0, p.stderr
    assert b"finishing an interrupted purge" in p.stderr
    assert not (d / "pubinbox" / "rewrite.journal").exists()
    assert _nums(d) == [1, 3, 4] and sorted(_over(d)) == [1, 3, 4]
    assert _found(env, "secretword2") == [] and _found(env, "secretword3") == [3]
    assert (d / "pubinbox" / "audit.log").read_text().splitlines() == [journal]


def test_purge_of_a_message_only_in_a_d_commit(tmp_path: Path) -> None:
    """Removed by `learn rm` (a d commit), the message is not purged: "not
    found", git unchanged -- public-inbox-purge 1.9 leaves it too ("NONE")."""
    env, d, msgs = _setup(tmp_path, n=3)
    p = run_cli("learn", "rm", "-I", "a", stdin=msgs[1], env=env)
    assert p.returncode == 0, p.stderr
    tip = epoch_log(d / "git" / "0.git")
    p = run_cli("purge", "-I", "a", stdin=msgs[1], env=env)
    assert p.returncode == 0 and b"not found" in p.stderr
    assert epoch_log(d / "git" / "0.git") == tip and _nums(d) == [1, 3]
    assert "secretword2" in git(d / "git" / "0.git", "show", "HEAD:d")  # still there, as with public-inbox
