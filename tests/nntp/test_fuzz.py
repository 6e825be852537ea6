"""Hostile input for the NNTP server: fuzzed parsers and sessions, many connections.

* the argument parsers raise nothing but ``Syntax`` (a 501) on any input;
* a live session answers every fuzzed line with one well-formed reply (or
  closes after its error budget) and keeps serving;
* 1,000 open connections cost the worker a bounded amount of memory and
  each still answers.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pubinbox.nntp.commands import Syntax, is_msgid, parse_datetime, parse_range, split_command, wildmat
from tests.nntp.conftest import GROUP, SampleGroup
from tests.nntp.servers import Client, Server, pubinbox_nntp

VERBS = ["ARTICLE", "HEAD", "BODY", "STAT", "GROUP", "LISTGROUP", "OVER", "XOVER", "HDR", "XHDR", "XROVER", "LIST",
         "NEWNEWS", "NEWGROUPS", "NEXT", "LAST", "XPATH", "XGTITLE", "DATE", "HELP", "MODE", "CAPABILITIES", "POST",
         "IHAVE", "SLAVE", "AUTHINFO", "FOO"]  # fmt: skip
ARGS = st.one_of(
    st.sampled_from(
        [
            GROUP,
            "1",
            "1-",
            "0",
            "5-2",
            "295-",
            "1-99999",
            "<a@b>",
            "<>",
            "*",
            "ACTIVE",
            "OVERVIEW.FMT",
            "subject",
            ":bytes",
            "20000101",
            "000000",
            "GMT",
            "!*",
            "[a-",
            "-",
            "18446744073709551616",
        ]
    ),
    st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF), max_size=30),
)


@given(st.binary(max_size=600))
def test_split_command_any_bytes(line: bytes) -> None:
    verb, args = split_command(line)
    assert verb == verb.upper() and all(args)


@given(st.text(max_size=40))
def test_parsers_raise_only_syntax(s: str) -> None:
    for fn in (parse_range, wildmat, lambda x: parse_datetime(x, x), lambda x: parse_datetime(x[:8], "000000", x)):
        try:
            fn(s)
        except Syntax:
            pass
    assert is_msgid(s) in (True, False)


@given(st.integers(0, 2**63 - 1), st.integers(0, 2**63 - 1))
def test_ranges_round_trip(a: int, b: int) -> None:
    assert parse_range(f"{a}-{b}") == (a, b)
    assert parse_range(f"{a}-") == (a, None)
    assert parse_range(str(a)) == (a, a)


@pytest.fixture(scope="module")
def server(sample_group: SampleGroup) -> Iterator[Server]:
    with pubinbox_nntp(sample_group.config) as s:
        yield s


_STATUS = re.compile(rb"\A[1-5][0-9][0-9] [^\r\n]*\r\n")


class _Session:
    def __init__(self, port: int) -> None:
        self.port = port
        self.c = Client(port, timeout=20)

    def send(self, line: bytes) -> None:
        try:
            reply = self.c.cmd(line)
        except (EOFError, OSError):
            reply = b""
        if not reply:  # closed after the error budget: a new connection
            self.c.close()
            self.c = Client(self.port, timeout=20)
            return
        assert _STATUS.match(reply), (line, reply[:200])
        assert not reply.startswith(b"403"), (line, reply)  # no internal fault


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_session(server: Server, data: st.DataObject) -> None:
    s = _Session(server.port)
    try:
        for _ in range(data.draw(st.integers(1, 8))):
            verb = data.draw(st.one_of(st.sampled_from(VERBS), st.text(min_size=1, max_size=12)))
            args = data.draw(st.lists(ARGS, max_size=4))
            line = " ".join([verb, *args]).encode("utf-8", "surrogateescape")
            if b"\n" in line or b"\r" in line or len(line) > 500:
                continue
            s.send(line)
        s.send(b"DATE")
    finally:
        s.c.close()


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1]) * 1024
    return 0


def _worker(pid: int) -> int:
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"pubinbox.web.worker" in cmd:
            return int(d.name)
    raise AssertionError("no worker")


def test_thousand_connections_bounded_memory(server: Server) -> None:
    worker = _worker(server.proc.pid)
    with Client(server.port) as c:  # warm: handles open, one overview read
        c.cmd(f"GROUP {GROUP}")
        c.cmd("OVER 1-")
    before = _rss(worker)
    socks = []
    try:
        for _ in range(1000):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            socks.append(s)
        for s in socks:
            assert s.recv(200).startswith(b"201 ")
        for s in socks[::50]:
            s.sendall(b"DATE\r\n")
            assert s.recv(200).startswith(b"111 ")
        after = _rss(worker)
        growth = after - before
        print(f"1,000 idle NNTP connections: worker RSS {before >> 20} -> {after >> 20} MiB (+{growth >> 10} KiB)")
        # measured ~5 MiB: a few KiB per connection (asyncio transport, stream,
        # session); 32 MiB is far above that and far below unbounded buffers
        assert growth < 32 << 20
    finally:
        for s in socks:
            s.close()
    assert os.path.exists(f"/proc/{worker}")  # the same worker: nothing crashed
