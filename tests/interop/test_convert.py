"""pubinbox convert against public-inbox-convert on a v1 inbox made by
public-inbox-init -V1 + -mda (+ a learn rm): the same v2 commits and article
numbers; index and the web refuse a v1 inbox, pointing at convert."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from pubinbox.config import load
from pubinbox.web.app import build_app
from tests.helpers import epoch_log, run_cli
from tests.interop.test_learn_differential import _msgmap
from tests.interop.test_public_inbox import _our_over, _pi, _pi_env, _sample_messages
from tests.web.conftest import asgi_request

pytestmark = pytest.mark.peer


def test_convert_matches_public_inbox(tmp_path: Path, sample_mbox: Path) -> None:
    env = _pi_env(tmp_path, "pi")
    v1 = tmp_path / "v1.git"
    p = _pi(["public-inbox-init", "-V1", "v1", str(v1), "http://x/v1", "v1@example.com"], env)
    assert p.returncode == 0, p.stderr
    subprocess.run(["git", "config", "-f", env["PI_CONFIG"], "publicinboxmda.spamcheck", "none"], check=True)
    assert _pi(["public-inbox-index", str(v1)], env).returncode == 0  # v1 mda indexes only once this exists
    msgs = _sample_messages(sample_mbox, 12)
    for raw in msgs:
        p = _pi(["public-inbox-mda", "--no-precheck"], dict(env, ORIGINAL_RECIPIENT="v1@example.com"), raw)
        assert p.returncode in (0, 65), p.stderr
    p = _pi(["public-inbox-learn", "rm", "--all"], env, msgs[1])
    assert p.returncode == 0, p.stderr
    # both refuse to read it as it is
    p = run_cli("index", "v1", env=env)
    assert p.returncode == 67 and b"v1 inbox" in p.stderr and b"pubinbox convert" in p.stderr
    r = asgi_request(build_app(load(Path(env["PI_CONFIG"]))), "/v1/")
    assert r.status_code == 503 and b"pubinbox convert" in r.content
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    p = _pi(["public-inbox-convert", str(v1), str(theirs)], env)
    assert p.returncode == 0, p.stderr
    p = run_cli("convert", str(v1), str(ours), env=env)
    assert p.returncode == 0, p.stderr
    assert epoch_log(ours / "git" / "0.git") == epoch_log(theirs / "git" / "0.git")
    v1_mm = sqlite3.connect(v1 / "public-inbox" / "msgmap.sqlite3").execute("SELECT num, mid FROM msgmap").fetchall()
    assert _msgmap(ours) == _msgmap(theirs) == sorted(v1_mm)
    assert sorted(_our_over(ours)) == [n for n, _m in _msgmap(ours)]
    # the old inbox is untouched; converting into a non-empty directory is refused
    p = run_cli("convert", str(v1), str(ours), env=env)
    assert p.returncode != 0 and b"not empty" in p.stderr and b"Traceback" not in p.stderr
