"""The LMTP receiver on a real socket (its event loop in a thread, as in a
serve worker), driven by Python's smtplib.LMTP and by raw protocol lines:
one reply per recipient from the mda's outcomes, bounds, garbage."""

from __future__ import annotations

import asyncio
import fcntl
import smtplib
import socket
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pubinbox.config import Config, load
from pubinbox.lmtp.server import MAX_RCPT, start
from pubinbox.net.lineio import Hub
from tests.helpers import make_msg, run_cli


@dataclass
class Cfg:
    """What the LMTP server reads of the archive: its config."""

    config: Config


class Server:
    def __init__(self, config: Config) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def main() -> None:
            self.server = await start(Cfg(config), self.sock, Hub())  # type: ignore[arg-type]
            ready.set()
            await self.server.serve_forever()

        self.thread = threading.Thread(target=lambda: self._run(main()), daemon=True)
        self.thread.start()
        assert ready.wait(30)

    def _run(self, coro: object) -> None:
        try:
            self.loop.run_until_complete(coro)  # type: ignore[arg-type]
        except asyncio.CancelledError:
            pass
        finally:
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
            self.loop.close()

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.server.close)
        self.thread.join(10)


class Conv:
    """A raw LMTP conversation."""

    def __init__(self, port: int) -> None:
        self.s = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.f = self.s.makefile("rb")
        assert self.reply()[0].startswith(b"220")

    def close(self) -> None:
        self.f.close()
        self.s.close()

    def line(self) -> bytes:
        return self.f.readline()

    def reply(self) -> list[bytes]:
        out = [self.line()]
        while out[-1][3:4] == b"-":
            out.append(self.line())
        return out

    def cmd(self, text: bytes) -> list[bytes]:
        self.s.sendall(text + b"\r\n")
        return self.reply()

    def data(self, raw: bytes, n: int) -> list[bytes]:
        assert self.cmd(b"DATA")[0].startswith(b"354")
        body = b"\r\n".join((b"." + ln if ln.startswith(b".") else ln) for ln in raw.split(b"\n"))
        self.s.sendall(body + b"\r\n.\r\n")
        return [self.line() for _ in range(n)]


def _setup(tmp_path: Path, *extra: tuple[str, str]) -> tuple[Config, dict[str, str]]:
    cfg = tmp_path / "config"
    env = {"PI_CONFIG": str(cfg), "PI_EMERGENCY": str(tmp_path / "em")}
    for name in ("a", "b"):
        run_cli(
            "init", "-L", "medium", name, str(tmp_path / name), f"http://x/{name}", f"{name}@x.org", env=env, check=True
        )
    for k, v in (("publicinboxmda.spamcheck", "none"), *extra):
        subprocess.run(["git", "config", "-f", str(cfg), k, v], check=True)
    return load(cfg), env


@pytest.fixture
def lmtp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Server, Path]]:
    monkeypatch.setenv("PI_EMERGENCY", str(tmp_path / "em"))
    conf, _env = _setup(tmp_path, ("pubinbox.locktimeout", "1"), ("pubinbox.lmtpmaxsize", "200000"))
    srv = Server(conf)
    try:
        yield srv, tmp_path
    finally:
        srv.close()


def _nums(d: Path) -> int:
    return int(sqlite3.connect(d / "msgmap.sqlite3").execute("SELECT COUNT(*) FROM msgmap").fetchone()[0])


def test_smtplib_lmtp_delivers(lmtp: tuple[Server, Path]) -> None:
    srv, tmp = lmtp
    with smtplib.LMTP("127.0.0.1", srv.port) as c:
        refused = c.sendmail("sender@x.org", ["a@x.org"], make_msg(1, to="a@x.org"))
        assert refused == {}
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            c.sendmail("sender@x.org", ["nobody@x.org"], make_msg(2, to="a@x.org"))
        assert e.value.recipients["nobody@x.org"][0] == 550
    assert _nums(tmp / "a") == 1 and _nums(tmp / "b") == 0


def test_one_reply_per_recipient(lmtp: tuple[Server, Path]) -> None:
    srv, tmp = lmtp
    c = Conv(srv.port)
    assert c.cmd(b"LHLO client.example")[-1].startswith(b"250")
    assert c.cmd(b"MAIL FROM:<s@x.org>")[0].startswith(b"250")
    assert c.cmd(b"RCPT TO:<a@x.org>")[0].startswith(b"250")
    assert c.cmd(b"RCPT TO:<nope@x.org>")[0].startswith(b"550")
    assert c.cmd(b"RCPT TO:<b@x.org>")[0].startswith(b"250")
    replies = c.data(make_msg(1, to="a@x.org, b@x.org"), 2)
    assert [r[:3] for r in replies] == [b"250", b"250"]
    assert b"<a@x.org>" in replies[0] and b"<b@x.org>" in replies[1]
    assert _nums(tmp / "a") == 1 and _nums(tmp / "b") == 1
    # the same message again: a duplicate is still 250 (kept in the emergency Maildir)
    c.cmd(b"MAIL FROM:<s@x.org>")
    c.cmd(b"RCPT TO:<a@x.org>")
    r = c.data(make_msg(1, to="a@x.org, b@x.org"), 1)
    assert r[0].startswith(b"250") and b"CONFLICT" in r[0]
    # HTML: refused by the inbox filter
    html = make_msg(3, to="a@x.org").replace(b"\n\n", b"\nContent-Type: text/html\n\n", 1)
    c.cmd(b"MAIL FROM:<s@x.org>")
    c.cmd(b"RCPT TO:<a@x.org>")
    assert c.data(html, 1)[0].startswith(b"554")
    # the inbox is locked longer than pubinbox.lockTimeout: try again later
    with open(tmp / "b" / "inbox.lock", "rb+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        c.cmd(b"MAIL FROM:<s@x.org>")
        c.cmd(b"RCPT TO:<a@x.org>")
        c.cmd(b"RCPT TO:<b@x.org>")
        r = c.data(make_msg(4, to="a@x.org, b@x.org"), 2)
    assert r[0].startswith(b"250") and r[1].startswith(b"451")
    assert c.cmd(b"QUIT")[0].startswith(b"221")
    c.close()


def test_bounds_and_garbage(lmtp: tuple[Server, Path]) -> None:
    srv, tmp = lmtp
    c = Conv(srv.port)
    assert c.cmd(b"\x00\xff garbage \x01")[0][:1] == b"5"
    assert c.cmd(b"EHLO x")[0].startswith(b"500")  # LMTP wants LHLO
    assert c.cmd(b"DATA")[0][:1] == b"5"  # out of order
    c.cmd(b"LHLO client.example")
    c.cmd(b"MAIL FROM:<s@x.org>")
    codes = [c.cmd(b"RCPT TO:<a@x.org>")[0][:3] for _ in range(100)]
    assert codes[:MAX_RCPT] == [b"250"] * MAX_RCPT and set(codes[MAX_RCPT:]) == {b"452"}
    c.cmd(b"RSET")
    c.cmd(b"MAIL FROM:<s@x.org>")
    c.cmd(b"RCPT TO:<a@x.org>")
    big = make_msg(5, to="a@x.org", body=("x" * 900 + "\n") * 300)
    assert c.data(big, 1)[0].startswith(b"552")
    assert c.cmd(b"NOOP")[0].startswith(b"250")  # still usable
    # a line longer than RFC 5321's 1000 octets (a patch): taken as it is
    c.cmd(b"MAIL FROM:<s@x.org>")
    c.cmd(b"RCPT TO:<a@x.org>")
    assert c.data(make_msg(7, to="a@x.org", body="y" * 5000 + "\n"), 1)[0].startswith(b"250")
    c.cmd(b"MAIL FROM:<s@x.org>")
    assert c.cmd(b"RCPT TO:<" + b"z" * 3000 + b"@x.org>")[0][:1] == b"5"  # commands stay short
    assert _nums(tmp / "a") == 1  # the long-line one
    # a client that never sends DATA: the server keeps going for others
    idle = Conv(srv.port)
    idle.cmd(b"LHLO idle")
    idle.cmd(b"MAIL FROM:<s@x.org>")
    idle.cmd(b"RCPT TO:<a@x.org>")
    with smtplib.LMTP("127.0.0.1", srv.port) as other:
        assert other.sendmail("s@x.org", ["a@x.org"], make_msg(6, to="a@x.org")) == {}
    assert _nums(tmp / "a") == 2
    idle.close()
    c.close()


def test_idle_timeout_closes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PI_EMERGENCY", str(tmp_path / "em"))
    conf, _env = _setup(tmp_path, ("pubinbox.lmtptimeout", "1"))
    srv = Server(conf)
    try:
        c = Conv(srv.port)
        c.cmd(b"LHLO client.example")
        c.cmd(b"MAIL FROM:<s@x.org>")
        line = c.line()  # nothing sent: the server gives up
        assert line == b"" or line.startswith(b"421")
        c.close()
    finally:
        srv.close()
