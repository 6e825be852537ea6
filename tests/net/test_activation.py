"""Socket activation: ``pubinbox serve`` takes listening sockets from systemd.

The sockets are made here (bound and listening on 127.0.0.1, and a Unix
socket), put at descriptors 3, 4, ... by a small launcher that sets
``LISTEN_FDS``/``LISTEN_PID``/``LISTEN_FDNAMES`` for its own pid and execs
``pubinbox serve`` (what systemd does); one test uses systemd's own
``systemd-socket-activate``.  The protocol of each socket comes from its name,
else from a ``--PROTO`` option with its address, else from a well-known
port, else HTTP (net/activation.py).
"""

from __future__ import annotations

import contextlib
import http.client
import imaplib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from pubinbox.net.activation import classify, inherited
from pubinbox.net.listeners import Listener, ListenerError
from tests.live import PUBINBOX_BIN, _stop, free_port, isolated_environ
from tests.nntp.conftest import GROUP, SampleGroup, make_group

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import nntplib

# puts the descriptors of argv[1] (comma-separated) at 3, 4, ... and execs argv[2:]
LAUNCHER = """
import fcntl, os, sys
src = [int(x) for x in sys.argv[1].split(",")]
high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 200) for fd in src]
for fd in src:
    os.close(fd)
for i, h in enumerate(high):
    os.dup2(h, 3 + i)
    os.close(h)
os.environ["LISTEN_FDS"] = str(len(high))
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[2], sys.argv[2:])
"""


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SampleGroup]:
    tmp = tmp_path_factory.mktemp("activation")
    with isolated_environ(tmp / "home") as env:
        yield make_group(tmp, env)


def _listening(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(64)
    return s


def _port(s: socket.socket) -> int:
    return int(s.getsockname()[1])


def _wait_greeting(port: int, greeting: bytes, proc: subprocess.Popen[bytes], log: Path) -> bytes:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"serve exited {proc.returncode}:\n{log.read_text(errors='replace')}", pytrace=False)
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            got = c.recv(200)
            if got.startswith(greeting):
                return got
        time.sleep(0.05)
    pytest.fail(f"no {greeting!r} on {port}:\n{log.read_text(errors='replace')}", pytrace=False)


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(30)
        s.connect(self.path)
        self.sock = s


def _get(conn: http.client.HTTPConnection, path: str) -> tuple[int, str]:
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


def _workers(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (d / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid and b"pubinbox.web.worker" in (d / "cmdline").read_bytes():
                out.append(int(d.name))
    return out


@contextlib.contextmanager
def _activated(group: SampleGroup, socks: list[socket.socket], names: str | None, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:  # fmt: skip
    log = group.config.parent / f"activated.{os.getpid()}.{time.monotonic_ns()}.log"
    env = dict(os.environ, PI_CONFIG=str(group.config))
    env.pop("LISTEN_FDNAMES", None)
    if names is not None:
        env["LISTEN_FDNAMES"] = names
    fds = [s.fileno() for s in socks]
    cmd = [sys.executable, "-c", LAUNCHER, ",".join(map(str, fds)), str(PUBINBOX_BIN), "serve", *args]
    with open(log, "wb") as errf:
        proc = subprocess.Popen(cmd, env=env, pass_fds=fds, stdin=subprocess.DEVNULL, stdout=errf,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    for s in socks:
        s.close()  # the server holds them now
    try:
        yield proc, log
    finally:
        _stop(proc)


def test_inherited_sockets_serve_every_protocol(group: SampleGroup, tmp_path: Path) -> None:
    nntp, imap, web = _listening(), _listening(), _listening()
    unix_path = str(tmp_path / "http.sock")
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(unix_path)
    unix.listen(16)
    ports = {"nntp": _port(nntp), "imap": _port(imap), "http": _port(web)}
    # nntp by name; imap by the --imap option with its address; the TCP and
    # the Unix one unnamed: HTTP; --nntp given too, on an address not inherited
    extra_nntp = free_port()
    with _activated(group, [nntp, imap, web, unix], "nntp:unknown::http",
                    "--imap", f"127.0.0.1:{ports['imap']}", "--nntp", f"127.0.0.1:{extra_nntp}") as (proc, log):  # fmt: skip
        assert _wait_greeting(ports["nntp"], b"201", proc, log)
        _wait_greeting(extra_nntp, b"201", proc, log)  # bound by serve itself
        assert _wait_greeting(ports["imap"], b"* OK", proc, log)
        text = log.read_text()
        assert f"nntp://127.0.0.1:{ports['nntp']} (inherited)" in text
        assert f"imap://127.0.0.1:{ports['imap']} (inherited)" in text
        assert f"http://{unix_path} (inherited)" in text
        assert text.count("127.0.0.1:" + str(ports["imap"])) == 1  # not bound a second time
        with nntplib.NNTP("127.0.0.1", ports["nntp"], timeout=30) as n:
            assert n.group(GROUP)[1] == 295
        with imaplib.IMAP4("127.0.0.1", ports["imap"], timeout=30) as im:
            im.login("anonymous", "x")
            assert im.select(f"{GROUP}.0", readonly=True) == ("OK", [b"295"])
        status, raw = _get(
            http.client.HTTPConnection("127.0.0.1", ports["http"], timeout=30), "/test/_/text/mirror/raw"
        )
        assert status == 200
        # the inherited listeners are advertised like bound ones
        assert f"nntp://127.0.0.1:{ports['nntp']}/{GROUP}" in raw
        assert f"imap://;AUTH=ANONYMOUS@127.0.0.1:{ports['imap']}/{GROUP}" in raw
        status, page = _get(UnixHTTP(unix_path), "/test/")
        assert status == 200 and "mirroring instructions" in page
        # the workers do not see LISTEN_* (they must not take the sockets again)
        workers = _workers(proc.pid)
        assert workers
        for w in workers:
            env = Path(f"/proc/{w}/environ").read_bytes().split(b"\0")
            assert not [e for e in env if e.startswith(b"LISTEN_")]
        # SIGHUP: new workers serve the same inherited sockets
        os.kill(proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 60
        while set(_workers(proc.pid)) & set(workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not set(_workers(proc.pid)) & set(workers), "old workers not retired after SIGHUP"
        with nntplib.NNTP("127.0.0.1", ports["nntp"], timeout=30) as n:
            assert n.group(GROUP)[1] == 295


def test_systemd_socket_activate(group: SampleGroup) -> None:
    """systemd's own launcher, a named NNTP socket and an unnamed one of
    `--http`'s address (``systemd-socket-activate`` execs serve on the
    first connection)."""
    tool = shutil.which("systemd-socket-activate")
    if tool is None:
        pytest.skip("systemd-socket-activate is not installed (Debian package systemd)")
    np, hp = free_port(), free_port()
    log = group.config.parent / f"ssa.{np}.log"
    env = dict(os.environ, PI_CONFIG=str(group.config))
    cmd = [tool, "-l", f"127.0.0.1:{np}", "-l", f"127.0.0.1:{hp}", "--fdname=nntp:unknown",
           "-E", "PATH", "-E", "HOME", str(PUBINBOX_BIN), "--config", str(group.config),
           "serve", "--http", f"127.0.0.1:{hp}"]  # fmt: skip
    with open(log, "wb") as errf:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=errf, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while b"Listening on" not in log.read_bytes() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        with nntplib.NNTP("127.0.0.1", np, timeout=60) as n:  # this connection starts serve
            assert n.group(GROUP)[1] == 295
        status, _page = _get(http.client.HTTPConnection("127.0.0.1", hp, timeout=30), "/test/_/text/help/")
        assert status == 200
        assert "(inherited)" in log.read_text()
    finally:
        _stop(proc)


def test_not_a_listening_socket(group: SampleGroup) -> None:
    """A descriptor that is not a listening stream socket stops serve with
    the reason; so does an implicit-TLS socket without --cert."""
    bound = socket.socket()
    bound.bind(("127.0.0.1", 0))  # never listen()
    with _activated(group, [bound], None) as (proc, log):
        assert proc.wait(60) != 0
        assert "inherited descriptor 3 is not a listening TCP or Unix stream socket" in log.read_text()
    with _activated(group, [_listening()], "nntps") as (proc, log):
        assert proc.wait(60) != 0
        assert "implicit TLS listeners need --cert" in log.read_text()


# -- the rules, on real sockets ------------------------------------------------------------


def test_inherited_environment() -> None:
    pid = os.getpid()
    env = {"LISTEN_FDS": "3", "LISTEN_PID": str(pid), "LISTEN_FDNAMES": "nntp:unknown", "HOME": "/x"}
    assert inherited(env, pid) == [(3, "nntp"), (4, ""), (5, "")]
    assert env == {"HOME": "/x"}  # taken away for the workers
    env = {"LISTEN_FDS": "2", "LISTEN_PID": str(pid + 1)}
    assert inherited(env, pid) == [] and env == {}  # meant for another process
    assert inherited({}, pid) == []
    for bad in ("0", "x", "99999"):
        with pytest.raises(ListenerError):
            inherited({"LISTEN_FDS": bad, "LISTEN_PID": str(pid)}, pid)


def test_classify() -> None:
    with _listening() as s, _listening("0.0.0.0") as any_addr:
        p = _port(s)
        assert classify(s, "imaps", []) == ("imaps", None)
        assert classify(s, "pubinbox-pop3s.socket", []) == ("pop3s", None)  # systemd's default name
        assert classify(s, "pubinbox-nntp@1.socket", []) == ("nntp", None)
        opt = Listener("nntp", "127.0.0.1", p, tls=True)
        assert classify(s, "", [Listener("imap", "127.0.0.1", p + 1), opt]) == ("nntps", opt)
        wild = Listener("pop3", "0.0.0.0", p)
        assert classify(s, "", [wild]) == ("pop3", wild)  # an option on every address matches
        q = _port(any_addr)
        assert classify(any_addr, "", [Listener("imap", "127.0.0.1", q)])[0] == "imap"
        assert classify(s, "", []) == ("http", None)
        assert classify(s, "frob", []) == ("http", None)
    try:
        well_known = _listening("127.0.0.9", 119)
    except OSError as e:
        pytest.skip(f"cannot bind 127.0.0.9:119 here: {e}")
    with well_known:
        assert classify(well_known, "", []) == ("nntp", None)
