"""pubinbox watch on newsgroups (``watch = nntp://HOST:PORT/GROUP``): a
running watcher follows ``pubinbox serve --nntp`` on loopback (new
articles, a server that is down at first and comes back, the last article
number kept per source so a restart imports nothing twice, SIGTERM), a
watchspam newsgroup, and Debian's public-inbox-nntpd as the server."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deliver.test_watch import WAIT, Setup, _count, _until
from tests.helpers import epoch_log, make_msg, run_cli
from tests.live import free_port
from tests.nntp.servers import pubinbox_nntp, pubinbox_serve, public_inbox_nntpd


class Origin:
    """The archive the newsgroup comes from (its own config)."""

    def __init__(self, tmp: Path) -> None:
        self.cfg = tmp / "origin-config"
        self.dir = tmp / "origin"
        self.env = dict(os.environ, PI_CONFIG=str(self.cfg), PI_EMERGENCY=str(tmp / "origin-em"))
        run_cli(
            "init", "-L", "basic", "--ng", "test.origin", "origin", str(self.dir), "http://x/origin",
            "origin@example.com", env=self.env, check=True,
        )  # fmt: skip

    def add(self, *nums: int, to: str = "a@example.com") -> None:
        mbox = b"".join(b"From x@y Thu Jan  1 00:00:00 1970\n" + make_msg(n, to=to) + b"\n" for n in nums)
        run_cli("import", "origin", stdin=mbox, env=self.env, check=True)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    s = Setup(tmp_path)
    try:
        yield s
    finally:
        for p in s.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def _mark(s: Setup, url: str) -> int:
    """The last article number the watcher recorded for *url* (0: none yet)."""
    path = s.tmp / "pubinbox-watch.sqlite3"
    if not path.exists():
        return 0
    db = sqlite3.connect(path)
    try:
        row = db.execute("SELECT num FROM marks WHERE source = ?", (url,)).fetchone()
    except sqlite3.OperationalError:  # the watcher has not made its tables yet
        row = None
    finally:
        db.close()
    return int(row[0]) if row else 0


def test_watch_follows_a_newsgroup(setup: Setup) -> None:
    origin = Origin(setup.tmp)
    origin.add(*range(1, 6))
    port = free_port()
    url = f"nntp://127.0.0.1:{port}/test.origin"
    d = setup.inbox("a", "-c", f"watch={url}")
    setup.config("nntp.pollInterval", "0.5")
    # the server is not up yet: logged once, tried again with a growing delay
    proc = setup.start()
    _until(lambda: "127.0.0.1" in setup.log(), "the connection failure logged")
    with pubinbox_nntp(origin.cfg, port=port):
        _until(lambda: _count(d) == 5, "the group's articles")
        origin.add(6, 7)
        _until(lambda: _count(d) == 7, "new articles")
        assert setup.stop(proc) == 0
        assert _mark(setup, url) == 7
        assert setup.log().count("trying again") == 1
        # while the watcher is down, two more; the restart takes those only
        origin.add(8, 9)
        p = run_cli("watch", "--once", env=setup.env, timeout=WAIT)
        assert p.returncode == 0, p.stderr
    assert _count(d) == 9 and _mark(setup, url) == 9
    assert len(epoch_log(d / "git" / "0.git")) == 9  # nothing twice
    body = subprocess.run(
        ["git", f"--git-dir={d / 'git' / '0.git'}", "show", "HEAD:m"], capture_output=True, check=True
    ).stdout
    assert b"Message-ID: <m9@example.com>" in body


def test_watchspam_newsgroup(setup: Setup) -> None:
    origin = Origin(setup.tmp)
    origin.add(1, 2)
    port = free_port()
    d = setup.inbox("a")
    run_cli("import", "a", stdin=make_msg(1, to="a@example.com"), env=setup.env, check=True)
    assert _count(d) == 1
    setup.config("publicinboxwatch.watchspam", f"nntp://127.0.0.1:{port}/test.origin")
    with pubinbox_nntp(origin.cfg, port=port):
        p = run_cli("watch", "--once", env=setup.env, timeout=WAIT)
    assert p.returncode == 0, p.stderr
    assert _count(d) == 0  # m1 was in the spam group: removed
    assert (
        b"spam"
        in subprocess.run(
            ["git", f"--git-dir={d / 'git' / '0.git'}", "log", "-1", "--format=%s"], capture_output=True, check=True
        ).stdout
    )


def test_sigterm_stores_the_batch_in_hand(setup: Setup) -> None:
    origin = Origin(setup.tmp)
    origin.add(*range(1, 301))
    port = free_port()
    url = f"nntp://127.0.0.1:{port}/test.origin"
    d = setup.inbox("a", "-c", f"watch={url}")
    with pubinbox_nntp(origin.cfg, port=port):
        proc = setup.start()
        _until(lambda: _mark(setup, url) > 0 or "article" in setup.log(), "the first batch")
        proc.send_signal(signal.SIGTERM)  # in the middle of the group, most likely mid-batch
        assert proc.wait(timeout=WAIT) == 0
        stored, mark = _count(d), _mark(setup, url)
        # whatever was read is stored and counted: the mark is exactly what git has
        assert stored == mark == len(epoch_log(d / "git" / "0.git"))
        p = run_cli("watch", "--once", env=setup.env, timeout=WAIT)
        assert p.returncode == 0, p.stderr
    assert _count(d) == 300 and len(epoch_log(d / "git" / "0.git")) == 300


@pytest.mark.peer
def test_watch_from_public_inbox_nntpd(setup: Setup) -> None:
    origin = Origin(setup.tmp)
    origin.add(*range(1, 11))
    p = subprocess.run(["public-inbox-index", str(origin.dir)], env=origin.env, capture_output=True, check=False)
    assert p.returncode == 0, p.stderr
    with public_inbox_nntpd(origin.cfg) as srv:
        url = f"nntp://127.0.0.1:{srv.port}/test.origin"
        d = setup.inbox("a", "-c", f"watch={url}")
        p = run_cli("watch", "--once", env=setup.env, timeout=WAIT)
        assert p.returncode == 0, p.stderr
        assert _count(d) == 10 and _mark(setup, url) == 10
        p = run_cli("watch", "--once", env=setup.env, timeout=WAIT)
        assert p.returncode == 0, p.stderr
    assert _count(d) == 10 and len(epoch_log(d / "git" / "0.git")) == 10
    # the article as public-inbox-nntpd sent it, headers it adds included, is what was stored
    first = subprocess.run(
        ["git", f"--git-dir={d / 'git' / '0.git'}", "show", f"{epoch_log(d / 'git' / '0.git')[0]}:m"],
        capture_output=True,
        check=True,
    ).stdout
    assert b"Message-ID: <m1@example.com>" in first


def test_watch_over_tls(setup: Setup, tmp_path: Path) -> None:
    """nntps:// (TLS from the first byte) and nntp:// upgraded by STARTTLS
    when the server offers it; a certificate the watcher cannot verify is a
    logged failure, never an import over an unverified connection."""
    crt, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True,
    )  # fmt: skip
    origin = Origin(setup.tmp)
    origin.add(1, 2, 3)
    plain, tls = free_port(), free_port()
    a = setup.inbox("a", "-c", f"watch=nntps://127.0.0.1:{tls}/test.origin")
    b = setup.inbox("b", "-c", f"watch=nntp://127.0.0.1:{plain}/test.origin")
    extra = ("--nntp", f"nntps://127.0.0.1:{tls}", "--cert", str(crt), "--key", str(key))
    with pubinbox_serve(origin.cfg, "nntp", *extra, port=plain):
        p = run_cli("watch", "--once", env=setup.env, timeout=WAIT)  # the certificate is nobody's CA here
        assert p.returncode == 0 and b"certificate verify failed" in p.stderr, p.stderr
        assert _count(a) == 0 and _count(b) == 0
        p = run_cli("watch", "--once", env=dict(setup.env, SSL_CERT_FILE=str(crt)), timeout=WAIT)
        assert p.returncode == 0, p.stderr
    assert _count(a) == 3 and _count(b) == 3


def test_hostile_nntp_server(setup: Setup) -> None:
    """A server that answers an ARTICLE with an endless line, then garbage:
    one warning, no traceback, nothing stored, the mark not moved."""
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _addr = srv.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(10)
                f = conn.makefile("rb")
                conn.sendall(b"200 hostile\r\n")
                for line in f:
                    cmd = line.strip().upper()
                    if cmd.startswith(b"GROUP"):
                        conn.sendall(b"211 2 1 2 test.origin\r\n")
                    elif cmd == b"ARTICLE 1":
                        conn.sendall(b"220 1 <x@y>\r\n" + b"A" * (3 << 20))  # no end of line, ever
                    elif cmd.startswith(b"ARTICLE"):
                        conn.sendall(b"\x00\xffgarbage\r\n")
                    elif cmd == b"QUIT":
                        break
                    else:
                        conn.sendall(b"500 what?\r\n")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    url = f"nntp://127.0.0.1:{port}/test.origin"
    d = setup.inbox("a", "-c", f"watch={url}")
    try:
        p = run_cli("watch", "--once", env=setup.env, timeout=WAIT)
    finally:
        stop.set()
        t.join(10)
        srv.close()
    assert p.returncode == 0, p.stderr
    assert b"longer than" in p.stderr and b"Traceback" not in p.stderr
    assert _count(d) == 0 and _mark(setup, url) == 0
