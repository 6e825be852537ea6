"""pubinbox watch on IMAP folders of a real dovecot (Debian's dovecot-imapd,
started here on loopback): IDLE, a server restart (reconnect), a
connection cut in the middle of a FETCH, restarts of the watcher without
double imports."""

from __future__ import annotations

import imaplib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import PUBINBOX, make_msg, run_cli

pytestmark = pytest.mark.peer

WAIT = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Dovecot:
    def __init__(self) -> None:
        exe = shutil.which("dovecot") or "/usr/sbin/dovecot"
        if not os.path.exists(exe):
            pytest.fail("dovecot missing: install the Debian package dovecot-imapd (scripts/setup does)")
        self.exe = exe
        self.top = Path(tempfile.mkdtemp(prefix="pubinbox-dovecot-"))
        for d in ("run", "state", "mail", "home"):
            (self.top / d).mkdir()
            (self.top / d).chmod(0o777)
        self.top.chmod(0o755)
        self.port = _free_port()
        self.conf = self.top / "dovecot.conf"
        uid = "65534" if os.geteuid() == 0 else str(os.geteuid())
        self.conf.write_text(
            f"""base_dir = {self.top}/run
state_dir = {self.top}/state
log_path = {self.top}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{self.top}/mail/%u
passdb {{
  driver = static
  args = password=secret
}}
userdb {{
  driver = static
  args = uid={uid} gid={uid} home={self.top}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
"""
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([self.exe, "-F", "-c", str(self.conf)], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + WAIT
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert self.proc.poll() is None, (self.top / "dovecot.log").read_text(errors="replace")
                assert time.monotonic() < deadline, "dovecot did not start"
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=WAIT)
        self.proc = None

    def append(self, raw: bytes, folder: str = "INBOX", flags: str | None = None) -> None:
        m = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        m.login("list", "secret")
        if folder != "INBOX":
            m.create(folder)  # NO if it exists: fine
        typ, data = m.append(folder, flags, None, raw.replace(b"\n", b"\r\n"))
        assert typ == "OK", data
        m.logout()


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    d = Dovecot()
    d.start()
    try:
        yield d
    finally:
        d.stop()
        shutil.rmtree(d.top, ignore_errors=True)


class CuttingProxy:
    """127.0.0.1 TCP proxy; the first connection that carries more than
    *cut* bytes from the server is cut there (a server that dies mid-FETCH)."""

    def __init__(self, port: int, cut: int) -> None:
        self.target = port
        self.cut = cut
        self.cuts = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _addr = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, from_server: bool) -> None:
        sent = 0
        try:
            while data := src.recv(65536):
                if from_server and self.cuts == 0 and sent + len(data) > self.cut:
                    self.cuts += 1
                    dst.sendall(data[: self.cut - sent])
                    break
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def _setup(tmp_path: Path, port: int) -> tuple[dict[str, str], Path]:
    home = Path(os.environ["HOME"])
    (home / ".netrc").write_text("machine 127.0.0.1 login list password secret\n")
    (home / ".netrc").chmod(0o600)
    cfg = tmp_path / "config"
    env = {"PI_CONFIG": str(cfg), "PI_EMERGENCY": str(tmp_path / "em")}
    d = tmp_path / "a"
    p = run_cli(
        "init", "-L", "medium", "-c", f"watch=imap://list@127.0.0.1:{port}/INBOX", "a", str(d), "http://x/a",
        "a@example.com", env=env,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    subprocess.run(["git", "config", "-f", str(cfg), "imap.timeout", "10"], check=True)
    return env, d


def _count(d: Path) -> int:
    if not (d / "msgmap.sqlite3").exists():
        return 0
    return int(sqlite3.connect(d / "msgmap.sqlite3").execute("SELECT COUNT(*) FROM msgmap").fetchone()[0])


def _until(cond: object, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as f:
        return subprocess.Popen([*PUBINBOX, "watch"], env=dict(os.environ, **env), stdout=f, stderr=f)


def test_idle_reconnect_and_restart(tmp_path: Path, dovecot: Dovecot) -> None:
    env, d = _setup(tmp_path, dovecot.port)
    dovecot.append(make_msg(1, to="a@example.com"))  # there before the start
    log = tmp_path / "watch.log"
    proc = _start(env, log)
    try:
        _until(lambda: _count(d) == 1, "the first fetch")
        dovecot.append(make_msg(2, to="a@example.com"))  # IDLE says EXISTS
        _until(lambda: _count(d) == 2, "m2")
        dovecot.stop()  # the server goes away ...
        _until(lambda: "trying again" in log.read_text(), "the lost connection logged")
        dovecot.start()  # ... and comes back
        dovecot.append(make_msg(3, to="a@example.com"))
        _until(lambda: _count(d) == 3, "m3 after the reconnect")
        assert "connected again" in log.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=WAIT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    dovecot.append(make_msg(4, to="a@example.com"))  # while the watcher is down
    p = run_cli("watch", "--once", env=env)
    assert p.returncode == 0, p.stderr
    assert b"added 1, duplicates 0" in p.stderr and _count(d) == 4
    text = log.read_text()
    assert text.count("trying again") == 1 and "Traceback" not in text


def test_connection_cut_mid_fetch(tmp_path: Path, dovecot: Dovecot) -> None:
    big = make_msg(1, to="a@example.com", body=("0123456789abcdef" * 64 + "\n") * 2000)  # ~2 MB
    dovecot.append(big)
    dovecot.append(make_msg(2, to="a@example.com"))
    proxy = CuttingProxy(dovecot.port, cut=600_000)
    env, d = _setup(tmp_path, proxy.port)
    log = tmp_path / "watch.log"
    proc = _start(env, log)
    try:
        _until(lambda: _count(d) == 2, "both messages after the cut")
        assert proxy.cuts == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=WAIT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "trying again" in log.read_text() and "Traceback" not in log.read_text()
    assert b"added 0, duplicates 0" in run_cli("watch", "--once", env=env).stderr


def test_imap_watchspam(tmp_path: Path, dovecot: Dovecot) -> None:
    """publicinboxwatch.watchspam = imap://...: what is there with \\Seen is
    removed from every inbox (a d commit "spam"); unread spam is left."""
    env, d = _setup(tmp_path, dovecot.port)
    for n in (1, 2, 3):
        dovecot.append(make_msg(n, to="a@example.com"))
    subprocess.run(
        [
            "git",
            "config",
            "-f",
            env["PI_CONFIG"],
            "publicinboxwatch.watchspam",
            f"imap://list@127.0.0.1:{dovecot.port}/Spam",
        ],
        check=True,
    )
    p = run_cli("watch", "--once", env=env)
    assert p.returncode == 0, p.stderr
    assert _count(d) == 3
    dovecot.append(make_msg(2, to="a@example.com"), folder="Spam", flags="(\\Seen)")
    dovecot.append(make_msg(3, to="a@example.com"), folder="Spam")  # not confirmed (unread): kept
    p = run_cli("watch", "--once", env=env)
    assert p.returncode == 0, p.stderr
    assert _count(d) == 2 and b"removed 1" in p.stderr
    subjects = subprocess.run(
        ["git", f"--git-dir={d / 'git' / '0.git'}", "log", "--format=%s", "-1"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert subjects.strip() == "spam"
