"""Real NNTP servers on 127.0.0.1 for tests, and a tiny exact-bytes client.

``pubinbox_nntp(config)`` runs ``pubinbox serve --nntp`` (its own session,
SIGTERM/SIGKILL to that process group only); ``public_inbox_nntpd(config)``
runs Debian's ``public-inbox-nntpd -W0`` on the same config (the inboxes
must have been indexed with ``public-inbox-index``).  Both are ready when a
connection gets the ``201`` greeting.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.live import PUBINBOX_BIN, _stop, free_port

MULTI = {b"100", b"101", b"215", b"220", b"221", b"222", b"224", b"225", b"230", b"231", b"282"}


@dataclass
class Server:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def stderr(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _wait(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0, greeting: bytes = b"201") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited {proc.returncode}:\n{log.read_text(errors='replace')}", pytrace=False)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if s.recv(100).startswith(greeting):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    pytest.fail(f"server not ready on {port}:\n{log.read_text(errors='replace')}", pytrace=False)


@contextlib.contextmanager
def _run(cmd: list[str], port: int, env: dict[str, str], log: Path, greeting: bytes = b"201") -> Iterator[Server]:
    with open(log, "wb") as errf:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=errf, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    try:
        _wait(port, proc, log, greeting=greeting)
        yield Server(port, proc, log)
    finally:
        _stop(proc)


@contextlib.contextmanager
def pubinbox_nntp(config: Path, *extra: str, port: int | None = None) -> Iterator[Server]:
    """``pubinbox serve --nntp 127.0.0.1:PORT`` (*extra*: more options)."""
    port = port or free_port()
    env = dict(os.environ, PI_CONFIG=str(config))
    cmd = [str(PUBINBOX_BIN), "--config", str(config), "serve", "--nntp", f"127.0.0.1:{port}", *extra]
    with _run(cmd, port, env, config.parent / f"pubinbox-nntp.{port}.log") as s:
        yield s


@contextlib.contextmanager
def pubinbox_serve(config: Path, proto: str, *extra: str, port: int | None = None) -> Iterator[Server]:
    """``pubinbox serve --PROTO 127.0.0.1:PORT`` (nntp, imap or pop3), ready when
    it greets."""
    port = port or free_port()
    env = dict(os.environ, PI_CONFIG=str(config))
    cmd = [str(PUBINBOX_BIN), "--config", str(config), "serve", f"--{proto}", f"127.0.0.1:{port}", *extra]
    greeting = {"nntp": b"201", "pop3": b"+OK", "imap": b"* OK"}[proto]
    with _run(cmd, port, env, config.parent / f"pubinbox-{proto}.{port}.log", greeting) as s:
        yield s


@contextlib.contextmanager
def public_inbox_nntpd(config: Path) -> Iterator[Server]:
    port = free_port()
    env = dict(os.environ, PI_CONFIG=str(config))
    cmd = ["public-inbox-nntpd", "-W0", "-l", f"nntp://127.0.0.1:{port}"]
    with _run(cmd, port, env, config.parent / f"pi-nntpd.{port}.log") as s:
        yield s


class Client:
    """Sends commands, returns the exact bytes of each reply."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.f = self.sock.makefile("rb")
        self.greeting = self.f.readline()

    def cmd(self, line: str | bytes, multi: bool | None = None) -> bytes:
        """The reply to *line*: its status line, and the data block up to
        and including ``.\\r\\n`` when the status says one follows."""
        raw = line.encode() if isinstance(line, str) else line
        self.sock.sendall(raw + b"\r\n")
        return self.reply(multi, raw.split(b" ", 1)[0].upper())

    def reply(self, multi: bool | None = None, verb: bytes = b"") -> bytes:
        first = self.f.readline()
        code = first[:3]
        if multi is None:
            multi = code in MULTI or (code == b"211" and verb == b"LISTGROUP")
        out = [first]
        if multi:
            while True:
                ln = self.f.readline()
                if not ln:
                    raise EOFError(b"".join(out)[-200:])
                out.append(ln)
                if ln == b".\r\n":
                    break
        return b"".join(out)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
