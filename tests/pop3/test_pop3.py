"""``pubinbox serve --pop3`` with Python's poplib and raw sockets.

Mailboxes ``UUID@NEWSGROUP``; every message retrieved equal to the stored
one; RFC 1939's one-line ``LIST n`` / ``UIDL n`` (public-inbox 1.9 answers
them multi-line, which puts poplib and fetchmail out of step); deletions
remembered per UUID at QUIT only; one session per mailbox.
"""

from __future__ import annotations

import poplib
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pubinbox.config import Env, load
from pubinbox.inbox import Inbox
from tests.nntp.conftest import GROUP, SampleGroup
from tests.nntp.servers import Server, pubinbox_serve


@pytest.fixture(scope="module")
def server(sample_group: SampleGroup) -> Iterator[Server]:
    with pubinbox_serve(sample_group.config, "pop3") as s:
        yield s


def _login(server: Server, user: str) -> poplib.POP3:
    p = poplib.POP3("127.0.0.1", server.port, timeout=30)
    try:
        p.user(user)
        p.pass_("anonymous")
    except BaseException:
        p.close()
        raise
    return p


def _count(server: Server, user: str) -> tuple[int, int]:
    p = _login(server, user)
    try:
        return p.stat()
    finally:
        p.quit()


def _login_when_free(server: Server, user: str) -> poplib.POP3:
    """Log in once the server has seen the previous session's connection
    drop (it keeps the mailbox until then)."""
    for _ in range(100):
        try:
            return _login(server, user)
        except poplib.error_proto as e:
            if b"IN-USE" not in e.args[0]:
                raise
            time.sleep(0.05)
    raise AssertionError("the mailbox stayed in use")


def _user() -> str:
    return f"{uuid.uuid4()}@{GROUP}"


def _raws(g: SampleGroup) -> dict[int, tuple[str, bytes]]:
    cfg = load(Env.from_os().config_path(str(g.config))).inbox("test")
    with Inbox.open(cfg) as box:
        return {r.num: (r.blob, box.raw(r)) for r in box.over.iter_all()}


def test_poplib_retrieves_every_message(server: Server, sample_group: SampleGroup) -> None:
    raws = _raws(sample_group)
    p = _login(server, _user())
    try:
        count, size = p.stat()
        assert count == 295
        sizes = {int(n): int(s) for n, s in (ln.split() for ln in p.list()[1])}
        assert sum(sizes.values()) == size
        # RFC 1939 §5: one line, and the session stays in step
        assert p.list(7) == f"+OK 7 {sizes[7]}".encode()
        assert p.uidl(7) == f"+OK 7 {raws[7][0]}".encode()
        assert p.noop() == b"+OK"
        uidls = dict(ln.split() for ln in p.uidl()[1])
        assert {int(k): v.decode() for k, v in uidls.items()} == {n: b for n, (b, _r) in raws.items()}
        for n, (_blob, raw) in raws.items():
            _resp, lines, octets = p.retr(n)
            want = raw.replace(b"\r\n", b"\n").split(b"\n")
            if want[-1] == b"":
                want.pop()
            assert lines == want, n
            assert octets - 2 * len(lines) <= sizes[n]  # poplib counts CRLF per line
        _resp, lines, _octets = p.top(3, 2)
        head = raws[3][1].split(b"\n\n", 1)
        assert lines == head[0].split(b"\n") + [b""] + head[1].split(b"\n")[:2]
    finally:
        p.quit()


def test_deletions_are_remembered_per_uuid(server: Server) -> None:
    user = _user()
    p = _login(server, user)
    assert p.dele(1).startswith(b"+OK")
    assert p.dele(2).startswith(b"+OK")
    with pytest.raises(poplib.error_proto, match="deleted"):
        p.retr(1)
    assert p.stat()[0] == 293
    assert p.rset().startswith(b"+OK")
    assert p.stat()[0] == 295
    p.dele(5)
    p.quit()
    p = _login(server, user)
    assert p.stat()[0] == 294
    # a dropped connection deletes nothing (only QUIT enters the UPDATE state)
    p.dele(1)
    p.file.close()
    p.sock.close()
    p = _login_when_free(server, user)
    assert p.stat()[0] == 294
    p.quit()
    # another UUID sees everything; dashes and case do not matter
    assert _count(server, _user())[0] == 295
    other = user.split("@")[0].replace("-", "").upper() + "@" + GROUP
    q = _login(server, other)
    assert q.stat()[0] == 294
    q.quit()


def test_capa_expire_0_deletes_retrieved(server: Server) -> None:
    user = _user()
    p = _login(server, user)
    caps = p.capa()
    assert "UIDL" in caps and caps["EXPIRE"] == ["0"] and "USER" in caps and "TOP" in caps
    p.retr(1)
    p.retr(2)
    p.quit()
    p = _login(server, user)
    assert p.stat()[0] == 293
    p.quit()


def test_one_session_per_mailbox(server: Server) -> None:
    user = _user()
    p = _login(server, user)
    with pytest.raises(poplib.error_proto, match="IN-USE"):
        _login(server, user)
    p.quit()
    _login(server, user).quit()


def test_slices(server: Server) -> None:
    u = str(uuid.uuid4())
    assert _count(server, f"{u}@{GROUP}.0")[0] == 295
    # a slice past the newest does not exist (public-inbox-pop3d says so too)
    with pytest.raises(poplib.error_proto, match=rf"{GROUP}\.1 does not exist \({GROUP}\.0 does\)"):
        _login(server, f"{u}@{GROUP}.1")


def test_errors(server: Server) -> None:
    s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    f = s.makefile("rb")
    assert f.readline().startswith(b"+OK pubinbox POP3 server ready <")

    def cmd(line: bytes) -> bytes:
        s.sendall(line + b"\r\n")
        return f.readline()

    assert cmd(b"STAT").startswith(b"-ERR STAT not allowed")
    assert cmd(b"PASS anonymous") == b"-ERR USER first\r\n"
    assert cmd(b"USER nobody@" + GROUP.encode()).startswith(b"+OK")
    assert cmd(b"PASS anonymous") == b"-ERR [AUTH] no UUID@ in mailbox name\r\n"
    assert cmd(f"USER {uuid.uuid4()}@nope".encode()).startswith(b"+OK")
    assert cmd(b"PASS anonymous") == b"-ERR [AUTH] nope does not exist\r\n"
    assert cmd(f"USER {uuid.uuid4()}@{GROUP}".encode()).startswith(b"+OK")
    assert cmd(b"PASS secret") == b"-ERR [AUTH] password is not `anonymous'\r\n"
    assert cmd(b"X" * 300) == b"-ERR line too long\r\n"
    assert cmd(b"FROB") == b"-ERR unknown command\r\n"
    assert cmd(f"USER {uuid.uuid4()}@{GROUP}".encode()).startswith(b"+OK")
    assert cmd(b"PASS anonymous").startswith(b"+OK 295 messages (")
    for bad in (b"LIST 0", b"LIST 296", b"LIST x", b"LIST 1 2", b"RETR 99999999999", b"TOP 1", b"TOP 1 x", b"UIDL -1"):
        assert cmd(bad).startswith(b"-ERR "), bad
    assert cmd(b"DELE 3") == b"+OK message 3 deleted\r\n"
    assert cmd(b"DELE 3") == b"-ERR message 3 is deleted\r\n"
    assert cmd(b"LIST 3") == b"-ERR message 3 is deleted\r\n"
    assert cmd(b"USER x").startswith(b"-ERR USER not allowed")
    assert cmd(b"STLS") == b"-ERR STLS not allowed in the TRANSACTION state\r\n"
    assert cmd(b"QUIT") == b"+OK pubinbox POP3 server signing off\r\n"
    assert f.read() == b""
    s.close()


def test_apop(server: Server) -> None:
    p = poplib.POP3("127.0.0.1", server.port, timeout=30)
    assert p.apop(_user(), "anonymous").startswith(b"+OK 295 messages")
    p.quit()
    p = poplib.POP3("127.0.0.1", server.port, timeout=30)
    with pytest.raises(poplib.error_proto, match="digest"):
        p.apop(_user(), "wrong")
    p.close()


def test_unusable_state_dir_stops_serve(sample_group: SampleGroup, tmp_path: Path) -> None:
    """A pop3state that cannot be created: the worker cannot serve POP3,
    and serve stops with the reason instead of replacing workers forever."""
    import shutil

    from tests.live import PUBINBOX_BIN, free_port

    config = tmp_path / "config"
    shutil.copy(sample_group.config, config)
    blocker = tmp_path / "file"
    blocker.write_text("")
    subprocess.run(["git", "config", "-f", str(config), "publicinbox.pop3state", str(blocker / "state")], check=True)
    cmd = [str(PUBINBOX_BIN), "--config", str(config), "serve", "--pop3", f"127.0.0.1:{free_port()}"]
    p = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert p.returncode != 0
    assert b"cannot serve pop3" in p.stderr, p.stderr
