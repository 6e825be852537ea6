"""purge and edit against public-inbox-purge/-edit 1.9 on twin inboxes (the
same commits before, the same commits after), public-inbox indexes what we
rewrote, and a public-inbox mirror (public-inbox-clone over
public-inbox-httpd) follows our purge with public-inbox-fetch + -index:
the message is gone there too, every other number kept."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import epoch_log, run_cli
from tests.interop.test_learn_differential import _msgmap
from tests.interop.test_public_inbox import (
    _free_port,
    _our_over,
    _pi,
    _pi_env,
    _pi_init,
    _pi_over,
    _sample_messages,
)

pytestmark = pytest.mark.peer


def _twins(tmp_path: Path, sample_mbox: Path) -> tuple[dict[str, str], dict[str, str], Path, Path, list[bytes]]:
    pi_env, our_env = _pi_env(tmp_path, "pi"), _pi_env(tmp_path, "ours")
    pi_dir, our_dir = tmp_path / "pi" / "test", tmp_path / "ours" / "test"
    _pi_init(tmp_path, pi_env, "test", pi_dir)
    p = run_cli("init", "-L", "basic", "test", str(our_dir), "http://127.0.0.1/test", "test@example.com", env=our_env)
    assert p.returncode == 0, p.stderr
    subprocess.run(["git", "config", "-f", our_env["PI_CONFIG"], "publicinboxmda.spamcheck", "none"], check=True)
    stored = []
    for raw in _sample_messages(sample_mbox, 16):
        a = _pi(["public-inbox-mda", "--no-precheck"], dict(pi_env, ORIGINAL_RECIPIENT="test@example.com"), raw)
        b = run_cli("mda", "--no-precheck", stdin=raw, env=dict(our_env, ORIGINAL_RECIPIENT="test@example.com"))
        assert a.returncode == b.returncode, (a.stderr, b.stderr)
        if b.returncode == 0:
            stored.append(raw)
    assert epoch_log(pi_dir / "git" / "0.git") == epoch_log(our_dir / "git" / "0.git")
    return pi_env, our_env, pi_dir, our_dir, stored


def test_purge_and_edit_give_public_inboxs_commits(tmp_path: Path, sample_mbox: Path) -> None:
    pi_env, our_env, pi_dir, our_dir, msgs = _twins(tmp_path, sample_mbox)
    a = _pi(["public-inbox-purge", str(pi_dir)], pi_env, msgs[3])
    b = run_cli("purge", "--all", stdin=msgs[3], env=our_env)
    assert a.returncode == 0 and b.returncode == 0, (a.stderr, b.stderr)
    assert epoch_log(pi_dir / "git" / "0.git") == epoch_log(our_dir / "git" / "0.git")
    assert _msgmap(pi_dir) == _msgmap(our_dir)
    # edit: the same editor on both
    script = tmp_path / "ed.sh"
    script.write_text('#!/bin/sh\nsed -i "s/^Subject: /Subject: [redacted] /" "$1"\n')
    script.chmod(0o755)
    mid = _msgmap(our_dir)[5][1]
    a = _pi(["public-inbox-edit", "-m", mid, str(pi_dir)], dict(pi_env, EDITOR=str(script)))
    b = run_cli("edit", "-m", mid, env=dict(our_env, EDITOR=str(script)))
    assert a.returncode == 0 and b.returncode == 0, (a.stderr, b.stderr)
    assert epoch_log(pi_dir / "git" / "0.git") == epoch_log(our_dir / "git" / "0.git")
    assert _msgmap(pi_dir) == _msgmap(our_dir)
    # public-inbox indexes our rewritten inbox with our numbers
    p = _pi(["public-inbox-index", str(our_dir)], our_env)
    assert p.returncode == 0, p.stderr
    assert _pi_over(our_dir) == _our_over(our_dir)
    # and we index theirs
    p = run_cli("index", str(pi_dir), env=pi_env)
    assert p.returncode == 0, p.stderr
    assert _our_over(pi_dir) == _our_over(our_dir)


def test_public_inbox_mirror_follows_our_purge(tmp_path: Path, sample_mbox: Path) -> None:
    _, our_env, _pi_dir, our_dir, msgs = _twins(tmp_path, sample_mbox)
    port = _free_port()
    httpd = subprocess.Popen(
        ["public-inbox-httpd", "-W0", "-l", f"127.0.0.1:{port}"],
        env=our_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/test/manifest.js.gz", timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, "public-inbox-httpd did not start"
                time.sleep(0.2)
        mirror = tmp_path / "mirror"
        m_env = _pi_env(tmp_path, "mirror")
        p = _pi(["public-inbox-clone", f"http://127.0.0.1:{port}/test", str(mirror)], m_env)
        assert p.returncode == 0, p.stderr
        p = _pi(["public-inbox-init", "-V2", "-L", "basic", "m", str(mirror), "http://x/m", "m@example.com"], m_env)
        assert p.returncode == 0, p.stderr
        p = _pi(["public-inbox-index", str(mirror)], m_env)
        assert p.returncode == 0, p.stderr
        assert _msgmap(mirror) == _msgmap(our_dir)
        gone = _msgmap(our_dir)[2]
        b = run_cli("purge", "--all", stdin=msgs[2], env=our_env)
        assert b.returncode == 0 and f"#{gone[0]} <{gone[1]}>".encode() in b.stdout, b.stderr
        p = subprocess.run(["public-inbox-fetch"], cwd=mirror, env=m_env, capture_output=True, timeout=300, check=False)
        assert p.returncode == 0, p.stderr
        assert epoch_log(mirror / "git" / "0.git") == epoch_log(our_dir / "git" / "0.git")
        p = _pi(["public-inbox-index", "--prune", str(mirror)], m_env)
        assert p.returncode == 0, p.stderr
        assert gone not in _msgmap(mirror)
        assert sorted(_pi_over(mirror)) == sorted(_our_over(our_dir))
        assert _pi_over(mirror) == _our_over(our_dir)
    finally:
        httpd.terminate()
        httpd.wait(timeout=30)
