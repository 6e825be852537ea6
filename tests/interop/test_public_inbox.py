"""Compatibility both ways with the real public-inbox 1.9 (Debian package).

- the same messages delivered in the same order through public-inbox-mda and
  pubinbox mda give byte-identical commits;
- public-inbox-index and public-inbox-httpd index and serve an inbox pubinbox
  wrote, with the same article numbers;
- pubinbox index indexes an inbox public-inbox wrote, with its numbers.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import time
import urllib.request
import zlib
from pathlib import Path

import pytest

from pubinbox.mail.mbox import iter_mbox
from tests.helpers import epoch_log, make_msg, run_cli

pytestmark = pytest.mark.peer


def _pi_env(tmp: Path, tag: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PI_CONFIG"] = str(tmp / f"{tag}.config")
    env["PI_EMERGENCY"] = str(tmp / f"{tag}.emergency")
    return env


def _pi(args: list[str], env: dict[str, str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(args, input=stdin, env=env, capture_output=True, timeout=300, check=False)


def _pi_init(tmp: Path, env: dict[str, str], name: str, d: Path, level: str = "basic") -> None:
    p = _pi(
        ["public-inbox-init", "-V2", "-L", level, name, str(d), f"http://127.0.0.1/{name}", f"{name}@example.com"], env
    )
    assert p.returncode == 0, p.stderr
    subprocess.run(["git", "config", "-f", env["PI_CONFIG"], "publicinboxmda.spamcheck", "none"], check=True)


def _sample_messages(sample_mbox: Path, n: int) -> list[bytes]:
    with open(sample_mbox, "rb") as f:
        out = []
        for raw in iter_mbox(f):
            out.append(raw)
            if len(out) >= n:
                break
    return out


def _pi_over(d: Path) -> dict[int, str]:
    """{article number: blob id} from public-inbox's own over.sqlite3."""
    db = sqlite3.connect(d / "xap15" / "over.sqlite3")
    out = {}
    for num, ddd in db.execute("SELECT num, ddd FROM over WHERE num > 0"):
        fields = zlib.decompress(ddd).split(b"\n")
        out[int(num)] = fields[5].decode()
    return out


def _our_over(d: Path) -> dict[int, str]:
    db = sqlite3.connect(d / "pubinbox" / "over.sqlite3")
    return {int(n): str(b) for n, b in db.execute("SELECT num, blob FROM over WHERE num > 0")}


def test_mda_gives_byte_identical_commits(tmp_path: Path, sample_mbox: Path) -> None:
    msgs = _sample_messages(sample_mbox, 40)
    # the hard parts: a reused Message-ID with other content, an exact resend,
    # a message without Message-ID, non-ASCII headers
    msgs.append(make_msg(1, mid="reuse@example.com"))
    msgs.append(make_msg(1, mid="reuse@example.com", body="another body\n"))
    msgs.append(make_msg(1, mid="reuse@example.com"))
    msgs.append(
        b"From: =?UTF-8?Q?J=C3=B6rg?= <j@example.com>\nSubject: =?UTF-8?B?w5xuaWPDtmRl?=\n"
        b"Date: Tue, 03 Jan 2023 07:15:00 +0100\nTo: test@example.com\n\nno message id\n"
    )
    pi_env = _pi_env(tmp_path, "pi")
    our_env = _pi_env(tmp_path, "ours")
    pi_dir, our_dir = tmp_path / "pi" / "test", tmp_path / "ours" / "test"
    _pi_init(tmp_path, pi_env, "test", pi_dir)
    p = run_cli("init", "-L", "basic", "test", str(our_dir), "http://127.0.0.1/test", "test@example.com", env=our_env)
    assert p.returncode == 0, p.stderr
    subprocess.run(["git", "config", "-f", our_env["PI_CONFIG"], "publicinboxmda.spamcheck", "none"], check=True)
    rejected = 0
    for i, raw in enumerate(msgs):
        env1 = dict(pi_env, ORIGINAL_RECIPIENT="test@example.com")
        env2 = dict(our_env, ORIGINAL_RECIPIENT="test@example.com")
        a = _pi(["public-inbox-mda", "--no-precheck"], env1, raw)
        b = run_cli("mda", "--no-precheck", stdin=raw, env=env2)
        # the same verdict: 0 stored, 65 rejected by the default (plain-text) filter
        assert a.returncode == b.returncode and a.returncode in (0, 65), (i, a.stderr, b.stderr)
        rejected += a.returncode == 65
    theirs = epoch_log(pi_dir / "git" / "0.git")
    ours = epoch_log(our_dir / "git" / "0.git")
    assert len(theirs) == len(msgs) - 1 - rejected  # the exact resend is dropped by both
    assert ours == theirs
    # and the same article numbers
    pi_mm = sqlite3.connect(pi_dir / "msgmap.sqlite3").execute("SELECT num, mid FROM msgmap ORDER BY num").fetchall()
    our_mm = sqlite3.connect(our_dir / "msgmap.sqlite3").execute("SELECT num, mid FROM msgmap ORDER BY num").fetchall()
    assert our_mm == pi_mm


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_public_inbox_indexes_and_serves_what_we_wrote(tmp_path: Path, sample_mbox: Path) -> None:
    env = _pi_env(tmp_path, "c")
    d = tmp_path / "test"
    assert (
        run_cli("init", "-L", "basic", "test", str(d), "http://127.0.0.1/test", "test@example.com", env=env).returncode
        == 0
    )
    p = run_cli("import", "test", str(sample_mbox), env=env)
    assert p.returncode == 0, p.stderr
    p = _pi(["public-inbox-index", str(d)], env)
    assert p.returncode == 0, p.stderr
    theirs, ours = _pi_over(d), _our_over(d)
    assert len(ours) == 295
    assert theirs == ours
    # and public-inbox-httpd serves our messages
    port = _free_port()
    httpd = subprocess.Popen(
        ["public-inbox-httpd", "-W0", "-l", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        mid = sqlite3.connect(d / "msgmap.sqlite3").execute("SELECT mid FROM msgmap WHERE num = 7").fetchone()[0]
        url = f"http://127.0.0.1:{port}/test/{urllib.request.quote(mid, safe='@')}/raw"
        body = b""
        for _ in range(100):
            try:
                with urllib.request.urlopen(url, timeout=10) as r:
                    body = r.read()
                break
            except OSError:
                time.sleep(0.1)
        assert f"Message-ID: <{mid}>".lower().encode() in body.lower()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/test/new.atom", timeout=10) as r:
            assert b"<feed" in r.read()
    finally:
        httpd.terminate()
        httpd.wait(timeout=10)


def test_we_index_what_public_inbox_wrote(tmp_path: Path, sample_mbox: Path) -> None:
    env = _pi_env(tmp_path, "c")
    d = tmp_path / "test"
    _pi_init(tmp_path, env, "test", d)
    msgs = _sample_messages(sample_mbox, 30)
    msgs.append(make_msg(1, mid="reuse@example.com"))
    msgs.append(make_msg(1, mid="reuse@example.com", body="other\n"))
    for raw in msgs:
        p = _pi(["public-inbox-mda", "--no-precheck"], dict(env, ORIGINAL_RECIPIENT="test@example.com"), raw)
        assert p.returncode in (0, 65), p.stderr
    p = run_cli("index", str(d), env=env)
    assert p.returncode == 0, p.stderr
    assert _our_over(d) == _pi_over(d)
    # more mail from public-inbox, then an incremental index
    for n in range(2, 5):
        raw = make_msg(n, refs=["reuse@example.com"])
        assert (
            _pi(["public-inbox-mda", "--no-precheck"], dict(env, ORIGINAL_RECIPIENT="test@example.com"), raw).returncode
            == 0
        )
    p = run_cli("index", str(d), env=env)
    assert p.returncode == 0 and "indexed 3 messages" in p.stderr.decode(), p.stderr
    assert _our_over(d) == _pi_over(d)
    # a removal by public-inbox (a "d" commit) is indexed away, with its number
    p = _pi(["public-inbox-learn", "rm"], env, make_msg(3, refs=["reuse@example.com"]))
    assert p.returncode == 0, p.stderr
    p = run_cli("index", str(d), env=env)
    assert p.returncode == 0 and "removed 1" in p.stderr.decode(), p.stderr
    assert _our_over(d) == _pi_over(d)
    mm = sqlite3.connect(d / "msgmap.sqlite3")
    assert {n for (n,) in mm.execute("SELECT num FROM msgmap")} == set(_our_over(d))
    # and a --reindex from git alone gives the same
    assert run_cli("index", "--reindex", str(d), env=env).returncode == 0
    assert _our_over(d) == _pi_over(d)
