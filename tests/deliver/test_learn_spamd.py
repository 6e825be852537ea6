"""learn spam/ham train a real SpamAssassin (Debian's spamd, started here on
loopback with --allow-tell and its own Bayes database); mda's spam check
through the same spamd keeps GTUBE out of the archive."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import epoch_log, make_msg, run_cli

pytestmark = pytest.mark.peer

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def spamd() -> Iterator[tuple[Path, Path]]:
    """(a bin dir whose ``spamc`` talks to this spamd, the Bayes db path)."""
    exe, spamc = shutil.which("spamd") or "/usr/sbin/spamd", shutil.which("spamc")
    if not os.path.exists(exe) or spamc is None:
        pytest.fail("spamd/spamc missing: install the Debian packages spamd and spamc (scripts/setup does)")
    top = Path(tempfile.mkdtemp(prefix="pubinbox-spamd-"))  # spamd's user must reach it
    site, bayes, bindir = top / "site", top / "bayes", top / "bin"
    for d in (site, bayes, bindir):
        d.mkdir()
    for pre in Path("/etc/spamassassin").glob("*.pre"):
        shutil.copy(pre, site)
    (site / "local.cf").write_text(f"use_bayes 1\nbayes_path {bayes}/bayes\nbayes_file_mode 0777\n")
    port = _free_port()
    (bindir / "spamc").write_text(f'#!/bin/sh\nexec {spamc} -p {port} "$@"\n')
    (bindir / "spamc").chmod(0o755)
    for p in (top, site, bayes):
        p.chmod(0o777)
    args = [exe, "-L", "--allow-tell", "-i", "127.0.0.1", "-A", "127.0.0.1", "-p", str(port), "-x"]
    args += ["--siteconfigpath", str(site), "--helper-home-dir", str(top), "-s", str(top / "spamd.log")]
    if os.geteuid() == 0:
        args += ["-u", "nobody"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=top)
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([spamc, "-p", str(port), "-K"], capture_output=True, check=False).returncode != 0:
            assert proc.poll() is None, (top / "spamd.log").read_text(errors="replace")
            assert time.monotonic() < deadline, "spamd did not start"
            time.sleep(0.2)
        yield bindir, bayes / "bayes"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(top, ignore_errors=True)


def _bayes_counts(db: Path) -> tuple[int, int]:
    out = subprocess.run(
        ["sa-learn", "--dbpath", str(db), "--dump", "magic"], capture_output=True, text=True, check=True
    ).stdout
    counts = {line.split()[-1]: int(line.split()[2]) for line in out.splitlines() if "non-token data: n" in line}
    return counts["nspam"], counts["nham"]


def test_learn_trains_spamd_and_mda_checks_with_it(tmp_path: Path, spamd: tuple[Path, Path]) -> None:
    bindir, bayes = spamd
    cfg = tmp_path / "config"
    env = {"PI_CONFIG": str(cfg), "PI_EMERGENCY": str(tmp_path / "em"), "PATH": f"{bindir}:{os.environ['PATH']}"}
    d = tmp_path / "a"
    p = run_cli("init", "a", str(d), "http://x/a", "a@example.com", env=env)
    assert p.returncode == 0, p.stderr
    # spamcheck is spamc by default: mda asks spamd, GTUBE stays out
    gtube = make_msg(9, to="a@example.com", body=f"{GTUBE}\n")
    p = run_cli("mda", stdin=gtube, env=dict(env, ORIGINAL_RECIPIENT="a@example.com"))
    assert p.returncode == 0, p.stderr
    assert not (d / "git" / "0.git" / "refs" / "heads" / "master").exists() or epoch_log(d / "git" / "0.git") == []
    assert list((tmp_path / "em" / "new").iterdir())
    ham = make_msg(1, to="a@example.com", body="a perfectly ordinary patch review\n")
    p = run_cli("mda", stdin=ham, env=dict(env, ORIGINAL_RECIPIENT="a@example.com"))
    assert p.returncode == 0, p.stderr
    assert len(epoch_log(d / "git" / "0.git")) == 1
    # learn spam: removed, and spamd's Bayes database counts one spam
    p = run_cli("learn", "spam", stdin=ham, env=env)
    assert p.returncode == 0, p.stderr
    assert b"a: removed #1" in p.stdout
    assert _bayes_counts(bayes) == (1, 0)
    # learn ham: back in, and counted as ham now
    p = run_cli("learn", "ham", stdin=ham, env=env)
    assert p.returncode == 0, p.stderr
    assert _bayes_counts(bayes) == (0, 1)
    # spamcheck=none: no training at all
    subprocess.run(["git", "config", "-f", str(cfg), "publicinboxmda.spamcheck", "none"], check=True)
    other = make_msg(2, to="a@example.com", body="another one\n")
    p = run_cli("learn", "ham", stdin=other, env=env)
    assert p.returncode == 0, p.stderr
    assert _bayes_counts(bayes) == (0, 1)
